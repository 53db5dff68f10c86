"""The one rule for running a detector every N frames: in between, each person's box comes from
their pose on the previous frame, and when that leaves nobody to follow the detector runs at once.

`DetectionSchedule` is the rule; the threaded pipeline asks it `due()` in its detect stage and
`boxes(...)` in its pose stage. `IntervalDetector` wraps a detector with the same schedule for
callers that see one frame at a time (the sequential step, scripts).
"""

from collections.abc import Callable, Sequence

import numpy as np

from core.boxes import clip_boxes
from core.detect.base import Detector
from core.errors import UserError
from core.records import Detection, Pose, Track


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


class DetectionSchedule:
    """Which frames of one source run the detector: frames 0, N, 2N, … of those the source delivers,
    plus any frame whose previous poses leave no box to follow (a scene that empties out recovers at
    once). The cadence counts frames only, so a threaded pipeline, whose detect stage runs ahead of
    its pose stage, picks exactly the frames a sequential loop picks."""

    def __init__(self, every: int = 1, threshold: float = 0.3, padding: float = 0.15):
        if every < 1:
            raise UserError(f"detection interval must be >= 1 frame, got {every}")
        self.every, self.threshold, self.padding = every, threshold, padding
        self._frames = 0

    def due(self) -> bool:
        """Count one frame; True when the cadence says this frame runs the detector."""
        due = self._frames % self.every == 0
        self._frames += 1
        return due

    def boxes(
        self,
        detections: list[Detection] | None,
        previous: Sequence[Pose | Track],
        image_size: tuple[int, int] | None,
        detect: Callable[[], list[Detection]],
    ) -> list[Detection]:
        """The frame's detections, or (None: not a detection frame) boxes from the previous poses;
        when those leave nobody, `detect()` runs now."""
        if detections is not None:
            return list(detections)
        carried = boxes_from_poses(previous, self.threshold, self.padding, image_size=image_size)
        return carried if carried else list(detect())


class IntervalDetector:
    """`detector` on the frames `DetectionSchedule` picks; call `observe(poses)` after each frame."""

    def __init__(self, detector: Detector, every: int = 1, threshold: float = 0.3, padding: float = 0.15):
        self.detector = detector
        self.schedule = DetectionSchedule(every, threshold, padding)
        self._poses: Sequence[Pose | Track] = []
        self._image_size: tuple[int, int] | None = None

    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int) -> list[Detection]:
        detections = self.detector(frame_bgr, frame_index) if self.schedule.due() else None
        size = self._image_size
        if frame_bgr is not None:
            size = (frame_bgr.shape[1], frame_bgr.shape[0])
        return self.schedule.boxes(
            detections, self._poses, size, lambda: self.detector(frame_bgr, frame_index)
        )

    def observe(self, poses: Sequence[Pose | Track], image_size: tuple[int, int] | None = None) -> None:
        self._poses, self._image_size = list(poses), image_size
