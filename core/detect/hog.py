"""OpenCV's HOG people detector: no weights, always available, weak."""

import logging

import cv2
import numpy as np

from core.boxes import clip_boxes, nms, xywh_to_xyxy
from core.detect.base import check_frame, to_detections
from core.records import Detection

log = logging.getLogger(__name__)
# OpenCV's detectMultiScale segfaults (4.x) on images shorter than its 64×128 window plus padding, and
# asserts on narrower ones: frames are scaled up to at least the window's size before the call.
WINDOW = (64, 128)
# A frame that would need more than this magnification (or grow past 8× max_side) is too thin for HOG.
MAX_UPSCALE = 16.0


class HogDetector:
    """OpenCV's default people detector (Dalal & Triggs), tuned for speed on 540p-1080p video.

    Frames are downscaled so the longer side is at most `max_side` (640: HOG's 64×128 window then
    still fits people down to ~1/4 of the frame height, and street.mp4's first frame takes ~80 ms with
    its four people found); winStride 4 and scale step 1.1 balance recall against time (stride 8 or
    scale 1.2 halve the time but miss people). Overlapping windows go through NMS at IoU 0.4. The SVM
    margin becomes a score in (0, 1) by a logistic function (margin 0 -> 0.5, margin 2 -> 0.88), and
    boxes shrink by 10 % in width and 5 % in height because HOG windows include a border around the body.
    """

    SPEC = "hog"

    @classmethod
    def from_spec(cls, rest: str = "", device: str = "auto", **options) -> "HogDetector":
        """HOG runs on the CPU and scores by its SVM margin: the device and a score threshold do not apply."""
        return cls()

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
        self._warned = False

    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int = 0) -> list[Detection]:
        frame = check_frame(frame_bgr)
        height, width = frame.shape[:2]
        factor = hog_scale(width, height, self.max_side)
        if factor is None:
            if not self._warned:
                self._warned = True
                log.warning("frames of %dx%d are too thin for the HOG detector: no detections", width, height)
            return []
        size = (max(WINDOW[0], round(width * factor)), max(WINDOW[1], round(height * factor)))
        image = frame
        if size != (width, height):
            interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
            image = cv2.resize(frame, size, interpolation=interpolation)
        rects, weights = self.hog.detectMultiScale(
            image,
            hitThreshold=self.hit_threshold,
            winStride=(self.win_stride, self.win_stride),
            padding=(8, 8),
            scale=self.scale,
        )
        if len(rects) == 0:
            return []
        fx, fy = size[0] / width, size[1] / height
        boxes = xywh_to_xyxy(np.asarray(rects, dtype=np.float64)) / np.array([fx, fy, fx, fy])
        scores = 1.0 / (1.0 + np.exp(-np.ravel(weights).astype(np.float64)))
        keep = nms(boxes, scores, self.nms_iou)
        boxes, scores = boxes[keep], scores[keep]
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = boxes + np.stack([0.1 * w, 0.05 * h, -0.1 * w, -0.05 * h], axis=1)
        return to_detections(clip_boxes(boxes, width, height), scores)


def hog_scale(width: int, height: int, max_side: int = 640) -> float | None:
    """The factor a frame is resized by before HOG: down so the longer side is at most `max_side`,
    up so the window fits; None when the frame is too thin to scale up sensibly."""
    factor = min(1.0, max_side / max(height, width))
    needed = max(WINDOW[0] / (width * factor), WINDOW[1] / (height * factor))
    if needed > 1:
        factor *= needed
        if needed > MAX_UPSCALE or max(width, height) * factor > 8 * max_side:
            return None
    return factor
