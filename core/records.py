"""Records passed between stages: what a detector finds, what the pose model adds, what the tracker keeps."""

from dataclasses import dataclass, field
from enum import StrEnum

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


class TrackState(StrEnum):
    """Where a track stands in the tracker's life cycle (core.track.tracker). A str, so outputs that
    write it (JSON) read as before: "confirmed", not "TrackState.CONFIRMED"."""

    TENTATIVE = "tentative"  # matched fewer than min_hits frames in a row; no id yet
    CONFIRMED = "confirmed"  # has an id and was matched in its last frame
    LOST = "lost"  # confirmed, then missed; kept for max_age seconds to be matched again
    MERGED = "merged"  # a lost track whose id a new track took (relinked); removed after the frame


@dataclass
class Track:
    """A tracked person at one frame. `keypoints` is None when the tracker ran on boxes alone."""

    id: int
    box: np.ndarray
    score: float
    keypoints: np.ndarray | None = None
    state: TrackState = TrackState.CONFIRMED
    age: float = 0.0  # seconds since the track's first observation
    hits: int = 0  # frames with a matched observation
    time_since_update: float = 0.0  # seconds since its last observation (0: matched in this frame)
    extra: dict = field(default_factory=dict)
