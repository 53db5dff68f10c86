"""Person detectors behind one interface: `detector(frame_bgr, frame_index) -> list[Detection]`.

`create_detector(spec)` builds one from a short spec string:

- "hog": OpenCV's built-in HOG + linear SVM people detector. Needs no weights; weak but always there.
- "torchvision:NAME[:WEIGHTS_PATH]": fasterrcnn_resnet50_fpn_v2, retinanet_resnet50_fpn_v2,
  fcos_resnet50_fpn or ssdlite320_mobilenet_v3_large with COCO weights from WEIGHTS_PATH or, when no
  path is given, the file torchvision itself would have cached in the torch hub folder. Never downloads.
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

__all__ = [
    "DETECTOR_HELP",
    "DetectionSchedule",
    "Detector",
    "HogDetector",
    "IntervalDetector",
    "boxes_from_poses",
    "check_frame",
    "create_detector",
    "to_detections",
]


def create_detector(spec: str, score_threshold: float | None = None, device: str = "auto") -> Detector:
    """A detector from its spec (see the module docstring); UserError for an unknown or broken spec."""
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
    raise UserError(f"unknown detector {spec!r}; use hog, torchvision:NAME[:WEIGHTS], onnx:PATH or file:PATH")


DETECTOR_HELP = "hog | torchvision:NAME[:WEIGHTS] | onnx:PATH | file:PATH (COCO results JSON or MOT det.txt)"
