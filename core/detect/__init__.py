"""Person detectors behind one interface: `detector(frame_bgr, frame_index) -> list[Detection]`.

`create_detector(spec)` builds one from a short spec string:

- a registry name (core.zoo: yolox-s, yolox-m, yolox-tiny, yolox-nano, fasterrcnn-mobilenet,
  fasterrcnn-resnet50): downloaded into the cache on first use, verified on every load.
- "hog": OpenCV's built-in HOG + linear SVM people detector. Needs no weights; weak but always there.
- "torchvision:NAME[:WEIGHTS_PATH]": fasterrcnn_resnet50_fpn_v2, retinanet_resnet50_fpn_v2,
  fcos_resnet50_fpn, ssdlite320_mobilenet_v3_large or fasterrcnn_mobilenet_v3_large_fpn with COCO
  weights from WEIGHTS_PATH or, when no path is given, the file torchvision itself would have cached
  in the torch hub folder. Never downloads (the registry names above do, on first use).
- "onnx:PATH": a YOLO-family ONNX export (YOLOv8/v11 style output, person = class 0) on onnxruntime.
- "file:PATH": precomputed detections, a COCO results JSON or a MOTChallenge det.txt.

Every detector returns persons only, boxes xyxy in the pixels of the frame it was given.
`DetectionSchedule` (interval.py) decides on which frames a detector runs; poses carry the boxes in between.
"""

import numpy as np

from core.detect import file, onnx, torchvision
from core.detect.base import Detector, check_frame, to_detections
from core.detect.hog import HogDetector
from core.detect.interval import DetectionSchedule, IntervalDetector, boxes_from_poses
from core.errors import UserError
from core.zoo import DETECTOR, ZooEntry, default_entry, fetch, lookup, names, tqdm_progress

__all__ = [
    "DETECTOR_HELP",
    "DetectionSchedule",
    "Detector",
    "HogDetector",
    "IntervalDetector",
    "boxes_from_poses",
    "check_frame",
    "create_detector",
    "default_detector",
    "to_detections",
]


def create_detector(
    spec: str, score_threshold: float | None = None, device: str = "auto", progress=None
) -> Detector:
    """A detector from its spec (see the module docstring); UserError for an unknown or broken spec.

    `progress(done, total)` follows a registry entry's first download (default: a tqdm bar)."""
    entry = lookup(spec, DETECTOR)
    if entry is not None:
        return _registry_detector(entry, score_threshold, device, progress)
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "hog":
        return HogDetector()
    if kind == "torchvision":
        name, _, weights = rest.partition(":")
        return torchvision.TorchvisionDetector(
            name, weights or None, 0.5 if score_threshold is None else score_threshold, device
        )
    if kind == "onnx":
        return onnx.YoloOnnxDetector(rest, 0.25 if score_threshold is None else score_threshold)
    if kind == "file":
        return file.FileDetector(rest, -np.inf if score_threshold is None else score_threshold)
    raise UserError(
        f"unknown detector {spec!r}; use hog, a model name ({', '.join(names(DETECTOR))}), "
        "torchvision:NAME[:WEIGHTS], onnx:PATH or file:PATH"
    )


def _registry_detector(entry: ZooEntry, score_threshold: float | None, device: str, progress) -> Detector:
    if progress is None:
        with tqdm_progress(entry) as bar:
            path = fetch(entry, bar)
    else:
        path = fetch(entry, progress)
    if entry.format == "torchvision":
        threshold = 0.5 if score_threshold is None else score_threshold
        return torchvision.TorchvisionDetector(entry.architecture, path, threshold, device)
    threshold = 0.3 if score_threshold is None else score_threshold
    return onnx.YoloxEnd2EndDetector(path, threshold, entry.input_size or (640, 640))


def default_detector() -> tuple[str, str]:
    """(the cached default CNN detector's name, or "hog"; the one line that says which and why)."""
    entry = default_entry(DETECTOR)
    if entry is not None:
        return entry.name, f"no --detector given: using the cached {entry.name} ({entry.describe()})"
    first = names(DETECTOR)[0]
    return "hog", (
        "no --detector given and no detector weights cached: using HOG (weak, loose boxes); "
        f"`python run.py weights get {first}` downloads a CNN detector (then it is used by default)"
    )


DETECTOR_HELP = (
    "a model name (see `run.py weights list`; default: the first cached one, else hog) | hog | "
    "torchvision:NAME[:WEIGHTS] | onnx:PATH | file:PATH (COCO results JSON or MOT det.txt)"
)
