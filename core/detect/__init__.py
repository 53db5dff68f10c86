"""Person detectors behind one interface: `detector(frame_bgr, frame_index) -> list[Detection]`.

`create_detector(spec)` builds one from a short spec string (specs.py: the table of kinds); every
detector returns persons only, boxes xyxy in the pixels of the frame it was given.
`DetectionSchedule` (interval.py) decides on which frames a detector runs; poses carry the boxes in between.
"""

from core.detect.base import Detector, DetectorKind, check_frame, to_detections
from core.detect.hog import HogDetector
from core.detect.interval import DetectionSchedule, IntervalDetector, boxes_from_poses
from core.detect.specs import DETECTOR_HELP, DETECTORS, create_detector, default_detector

__all__ = [
    "DETECTORS",
    "DETECTOR_HELP",
    "DetectionSchedule",
    "Detector",
    "DetectorKind",
    "HogDetector",
    "IntervalDetector",
    "boxes_from_poses",
    "check_frame",
    "create_detector",
    "default_detector",
    "to_detections",
]
