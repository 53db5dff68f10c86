"""Records passed between stages: what a detector finds, what the pose model adds, what the tracker keeps."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """A person box in image pixels, (x1, y1, x2, y2), with the detector's confidence."""

    box: np.ndarray
    score: float


@dataclass
class Pose:
    """A detection with 17 keypoints, each (x, y, score) in image pixels."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray


@dataclass
class Track:
    """A tracked person at one frame. `keypoints` is None when the tracker ran on boxes alone."""

    id: int
    box: np.ndarray
    score: float
    keypoints: np.ndarray | None = None
    state: str = "confirmed"  # tentative | confirmed | lost
    age: float = 0.0  # seconds since the track's first observation
    hits: int = 0  # frames with a matched observation
    time_since_update: float = 0.0  # seconds since its last observation (0: matched in this frame)
    extra: dict = field(default_factory=dict)
