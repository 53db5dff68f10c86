"""Person detectors behind one interface: `detector(frame_bgr, frame_index) -> list[Detection]`.

`create_detector(spec)` builds one from a short spec string:

- "hog": OpenCV's built-in HOG + linear SVM people detector. Needs no weights; weak but always there.
- "torchvision:NAME[:WEIGHTS_PATH]": fasterrcnn_resnet50_fpn_v2, retinanet_resnet50_fpn_v2,
  fcos_resnet50_fpn or ssdlite320_mobilenet_v3_large with COCO weights from WEIGHTS_PATH or, when no
  path is given, the file torchvision itself would have cached in the torch hub folder. Never downloads.
- "onnx:PATH": a YOLO-family ONNX export (YOLOv8/v11 style output, person = class 0) on onnxruntime.
- "file:PATH": precomputed detections, a COCO results JSON or a MOTChallenge det.txt.

Every detector returns persons only, boxes xyxy in the pixels of the frame it was given.
`IntervalDetector` runs a detector every N frames and derives boxes from poses in between.
"""

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from core.boxes import clip_boxes, nms, xywh_to_xyxy
from core.errors import UserError
from core.records import Detection, Pose, Track


class Detector(Protocol):
    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int) -> list[Detection]: ...


def to_detections(boxes: np.ndarray, scores: np.ndarray) -> list[Detection]:
    """One Detection per xyxy box (a float64 copy) and score; boxes without positive area are dropped."""
    return [
        Detection(box=np.array(b, dtype=np.float64), score=float(s))
        for b, s in zip(boxes, scores, strict=True)
        if b[2] > b[0] and b[3] > b[1]
    ]


class HogDetector:
    """OpenCV's default people detector (Dalal & Triggs), tuned for speed on 540p-1080p video.

    Frames are downscaled so the longer side is at most `max_side` (640: HOG's 64×128 window then
    still fits people down to ~1/4 of the frame height, and street.mp4's first frame takes ~80 ms with
    its four people found); winStride 4 and scale step 1.1 balance recall against time (stride 8 or
    scale 1.2 halve the time but miss people). Overlapping windows go through NMS at IoU 0.4. The SVM
    margin becomes a score in (0, 1) by a logistic function (margin 0 -> 0.5, margin 2 -> 0.88), and
    boxes shrink by 10 % in width and 5 % in height because HOG windows include a border around the body.
    """

    def __init__(
        self,
        max_side: int = 640,
        win_stride: int = 4,
        scale: float = 1.1,
        hit_threshold: float = 0.0,
        nms_iou: float = 0.4,
    ):
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.max_side, self.win_stride, self.scale = max_side, win_stride, scale
        self.hit_threshold, self.nms_iou = hit_threshold, nms_iou

    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int = 0) -> list[Detection]:
        frame = check_frame(frame_bgr)
        height, width = frame.shape[:2]
        factor = min(1.0, self.max_side / max(height, width))
        image = (
            cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            if factor < 1
            else frame
        )
        rects, weights = self.hog.detectMultiScale(
            image,
            hitThreshold=self.hit_threshold,
            winStride=(self.win_stride, self.win_stride),
            padding=(8, 8),
            scale=self.scale,
        )
        if len(rects) == 0:
            return []
        boxes = xywh_to_xyxy(np.asarray(rects, dtype=np.float64)) / factor
        scores = 1.0 / (1.0 + np.exp(-np.ravel(weights).astype(np.float64)))
        keep = nms(boxes, scores, self.nms_iou)
        boxes, scores = boxes[keep], scores[keep]
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = boxes + np.stack([0.1 * w, 0.05 * h, -0.1 * w, -0.05 * h], axis=1)
        return to_detections(clip_boxes(boxes, width, height), scores)


def check_frame(frame: np.ndarray | None) -> np.ndarray:
    if frame is None or not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = None if frame is None else getattr(frame, "shape", type(frame).__name__)
        raise UserError(f"detector needs a BGR frame of shape (H, W, 3), got {shape}")
    if frame.dtype != np.uint8:
        raise UserError(f"detector needs a uint8 frame, got {frame.dtype}")
    return frame


def boxes_from_poses(
    poses: Sequence[Pose | Track],
    threshold: float = 0.3,
    padding: float = 0.15,
    min_keypoints: int = 3,
    image_size: tuple[int, int] | None = None,
) -> list[Detection]:
    """Person boxes for the next frame from this frame's poses.

    The box spans the keypoints scoring above `threshold` and grows by `padding` × its size on every
    side (keypoints stop at the ankles and eyes, the body does not). Poses with fewer than
    `min_keypoints` such joints are dropped: their box would be a guess. The score is the mean score of
    the joints used. `image_size` (w, h) clips the boxes to the frame.
    """
    out = []
    for pose in poses:
        if pose.keypoints is None:
            continue
        kp = np.asarray(pose.keypoints, dtype=np.float64)
        good = kp[kp[:, 2] > threshold]
        if len(good) < max(min_keypoints, 2):
            continue
        x1, y1 = good[:, :2].min(0)
        x2, y2 = good[:, :2].max(0)
        w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        box = np.array([x1 - padding * w, y1 - padding * h, x2 + padding * w, y2 + padding * h])
        if image_size is not None:
            box = clip_boxes(box, *image_size)[0]
        if box[2] > box[0] and box[3] > box[1]:
            out.append(Detection(box=box, score=float(good[:, 2].mean())))
    return out


class IntervalDetector:
    """Run `detector` every `every` frames; in between, boxes come from the previous frame's poses.

    Call `observe(poses)` after estimating poses on each frame. Detection also runs whenever the last
    frame left no usable pose (everyone lost), so a scene that empties out recovers at once.
    """

    def __init__(self, detector: Detector, every: int = 1, threshold: float = 0.3, padding: float = 0.15):
        if every < 1:
            raise UserError(f"detection interval must be >= 1 frame, got {every}")
        self.detector, self.every = detector, every
        self.threshold, self.padding = threshold, padding
        self._since_detection: int | None = None
        self._pose_boxes: list[Detection] = []
        self.last_was_detection = False

    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int) -> list[Detection]:
        due = self._since_detection is None or self._since_detection + 1 >= self.every
        if due or not self._pose_boxes:
            self._since_detection = 0
            self.last_was_detection = True
            return self.detector(frame_bgr, frame_index)
        self._since_detection += 1
        self.last_was_detection = False
        return list(self._pose_boxes)

    def observe(self, poses: Sequence[Pose | Track], image_size: tuple[int, int] | None = None) -> None:
        self._pose_boxes = boxes_from_poses(poses, self.threshold, self.padding, image_size=image_size)


def create_detector(spec: str, score_threshold: float | None = None, device: str = "auto") -> Detector:
    """A detector from its spec (see the module docstring); UserError for an unknown or broken spec."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "hog":
        return HogDetector()
    if kind == "torchvision":
        from core.detectors_torch import TorchvisionDetector

        name, _, weights = rest.partition(":")
        return TorchvisionDetector(
            name, weights or None, 0.5 if score_threshold is None else score_threshold, device
        )
    if kind == "onnx":
        from core.detectors_onnx import YoloOnnxDetector

        return YoloOnnxDetector(rest, 0.25 if score_threshold is None else score_threshold)
    if kind == "file":
        from core.detectors_file import FileDetector

        return FileDetector(rest, -np.inf if score_threshold is None else score_threshold)
    raise UserError(f"unknown detector {spec!r}; use hog, torchvision:NAME[:WEIGHTS], onnx:PATH or file:PATH")


DETECTOR_HELP = "hog | torchvision:NAME[:WEIGHTS] | onnx:PATH | file:PATH (COCO results JSON or MOT det.txt)"
