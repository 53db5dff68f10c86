"""What every person detector shares: the call signature, the frame check and the conversion of raw
boxes to `Detection` records. A leaf: the implementations import it, it imports none of them."""

from typing import Any, Protocol

import numpy as np

from core.errors import UserError
from core.records import Detection


class Detector(Protocol):
    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int) -> list[Detection]: ...


class DetectorKind(Protocol):
    """A detector class that a spec string names (core.detect.specs.DETECTORS): `SPEC` is how its spec
    reads (the help text), `from_spec` builds one from what follows `KIND:`. `options` are keyword
    arguments of its constructor (score_threshold); what is not given keeps the constructor's default."""

    SPEC: str

    @classmethod
    def from_spec(cls, rest: str, device: str = "auto", **options: Any) -> Detector: ...


def to_detections(boxes: np.ndarray, scores: np.ndarray) -> list[Detection]:
    """One Detection per xyxy box (a float64 copy) and score; boxes without positive area are dropped."""
    return [
        Detection(box=np.array(b, dtype=np.float64), score=float(s))
        for b, s in zip(boxes, scores, strict=True)
        if b[2] > b[0] and b[3] > b[1]
    ]


def check_frame(frame: np.ndarray | None) -> np.ndarray:
    if frame is None or not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = None if frame is None else getattr(frame, "shape", type(frame).__name__)
        raise UserError(f"detector needs a BGR frame of shape (H, W, 3), got {shape}")
    if frame.dtype != np.uint8:
        raise UserError(f"detector needs a uint8 frame, got {frame.dtype}")
    return frame
