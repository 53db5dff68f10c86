"""A person detector from its spec string: a core.zoo name, or `KIND[:REST]` looked up in `DETECTORS`.

- a registry name (core.zoo: yolox-s, yolox-m, yolox-tiny, yolox-nano, fasterrcnn-mobilenet,
  fasterrcnn-resnet50): downloaded into the cache on first use, verified on every load, and loaded
  by the class its file format names in `ZOO_FORMATS`.
- "hog": OpenCV's built-in HOG + linear SVM people detector. Needs no weights; weak but always there.
- "torchvision:NAME[:WEIGHTS_PATH]": fasterrcnn_resnet50_fpn_v2, retinanet_resnet50_fpn_v2,
  fcos_resnet50_fpn, ssdlite320_mobilenet_v3_large or fasterrcnn_mobilenet_v3_large_fpn with COCO
  weights from WEIGHTS_PATH or, when no path is given, the file torchvision itself would have cached
  in the torch hub folder. Never downloads (the registry names above do, on first use).
- "onnx:PATH": a YOLO-family ONNX export (YOLOv8/v11 style output, person = class 0) on onnxruntime.
- "file:PATH": precomputed detections, a COCO results JSON or a MOTChallenge det.txt.

Adding a kind: a class with `SPEC` and `from_spec` (core.detect.base.DetectorKind) in its own
module, and one row in `DETECTORS`. Its help text is its `SPEC`; its default score threshold is its
constructor's, used whenever the caller gives none.
"""

from core.detect.base import Detector, DetectorKind
from core.detect.file import FileDetector
from core.detect.hog import HogDetector
from core.detect.onnx import YoloOnnxDetector, YoloxEnd2EndDetector
from core.detect.torchvision import TorchvisionDetector
from core.errors import UserError
from core.zoo import DETECTOR, ZooEntry, default_entry, fetch, lookup, names, tqdm_progress

# The spec's KIND (before the first ':') → the class that builds the detector from the rest.
DETECTORS: dict[str, type[DetectorKind]] = {
    "hog": HogDetector,
    "torchvision": TorchvisionDetector,
    "onnx": YoloOnnxDetector,
    "file": FileDetector,
}
# A core.zoo detector entry's file format → the class that loads the downloaded file (`from_zoo`).
ZOO_FORMATS = {"torchvision": TorchvisionDetector, "yolox-onnx-zip": YoloxEnd2EndDetector}

DETECTOR_HELP = " | ".join(
    ["a model name (see `run.py weights list`; default: the first cached one, else hog)"]
    + [kind.SPEC for kind in DETECTORS.values()]
)


def create_detector(
    spec: str, score_threshold: float | None = None, device: str = "auto", progress=None
) -> Detector:
    """A detector from its spec (see the module docstring); UserError for an unknown or broken spec.
    `score_threshold` None keeps the detector's own default.

    `progress(done, total)` follows a registry entry's first download (default: a tqdm bar)."""
    options = {} if score_threshold is None else {"score_threshold": score_threshold}
    entry = lookup(spec, DETECTOR)
    if entry is not None:
        return _registry_detector(entry, device, progress, options)
    kind, _, rest = spec.partition(":")
    detector = DETECTORS.get(kind.strip().lower())
    if detector is None:
        kinds = [f"a model name ({', '.join(names(DETECTOR))})", *(k.SPEC for k in DETECTORS.values())]
        raise UserError(f"unknown detector {spec!r}; use {', '.join(kinds)}")
    return detector.from_spec(rest, device, **options)


def _registry_detector(entry: ZooEntry, device: str, progress, options: dict) -> Detector:
    if progress is None:
        with tqdm_progress(entry) as bar:
            path = fetch(entry, bar)
    else:
        path = fetch(entry, progress)
    return ZOO_FORMATS[entry.format].from_zoo(entry, path, device, **options)


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
