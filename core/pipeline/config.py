"""What the pipeline computes, as plain values the app can edit, and which of them need what rebuilt.
How results are drawn is not here: core.video.drawing.DrawStyle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.model.hrnet import DEFAULT_INPUT_SIZE

# Fields of PipelineConfig whose change needs a new estimator / detector / trackers.
MODEL_FIELDS = frozenset(
    {"checkpoint", "width", "preset", "input_size", "backend", "device", "precision", "flip", "batch_size"}
)
DETECTOR_FIELDS = frozenset({"detector"})
BUILT_FIELDS = MODEL_FIELDS | DETECTOR_FIELDS  # a change of these builds something (seconds to minutes)
TRACKER_FIELDS = frozenset({"tracker"})


@dataclass
class PipelineConfig:
    """Everything that decides what the pipeline computes; plain values, so the app can edit it."""

    checkpoint: Path | str | None = None  # a file or a core.zoo name; None: untrained (honest banner)
    width: int = 32
    preset: str = "baseline"
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    flip: bool = False  # flip test: about twice the pose cost for a little accuracy
    batch_size: int = 32  # crops per model call
    detector: str = "hog"  # core.detect.create_detector spec (a core.zoo name too)
    interval: int = 1  # run the detector every N frames; in between, boxes come from the last poses
    tracker: Any = None  # core.track.tracker.TrackerConfig; None = its defaults
    draw: bool = True  # annotated frames (needed by the video sink and the app's view; how: DrawStyle)
    queue_size: int = 4  # frames between two stages (fixed while running)
    max_batch_frames: int = 8  # frames whose crops may share one estimate_batch call

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise UserError(f"detection interval must be at least 1, got {self.interval}")
        if self.queue_size < 1 or self.max_batch_frames < 1 or self.batch_size < 1:
            raise UserError("queue size, batch size and frames per batch must be at least 1")
