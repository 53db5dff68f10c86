"""What the pipeline computes, apart from how it is scheduled: its configuration, the heavy parts
built from it (model, estimator, detector), and one frame's detect → pose → track → draw step.

`sequential_step` is that step done in the caller's thread; the threaded `core.pipeline.Pipeline`
runs the same functions on stage threads, and the benchmark compares the two.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError

log = logging.getLogger("core.pipeline")

UNTRAINED_BANNER = "untrained weights: poses are meaningless"

# Fields of PipelineConfig whose change needs a new estimator / detector / trackers.
MODEL_FIELDS = frozenset({"checkpoint", "width", "preset", "input_size", "backend", "device", "precision",
                          "flip", "batch_size"})  # fmt: skip
DETECTOR_FIELDS = frozenset({"detector"})
TRACKER_FIELDS = frozenset({"tracker"})


@dataclass
class PipelineConfig:
    """Everything that decides what the pipeline computes; plain values, so the app can edit it."""

    checkpoint: Path | None = None  # None: an untrained model of width/preset (honest banner)
    width: int = 32
    preset: str = "baseline"
    input_size: tuple[int, int] = (192, 256)
    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    flip: bool = False  # flip test: about twice the pose cost for a little accuracy
    batch_size: int = 32  # crops per model call
    detector: str = "hog"  # core.detectors.create_detector spec
    interval: int = 1  # run the detector every N frames; in between, boxes come from the last poses
    tracker: Any = None  # core.tracker.TrackerConfig; None = its defaults
    draw: bool = True  # annotated frames (needed by the video sink and the app's view)
    queue_size: int = 4  # frames between two stages (fixed while running)
    max_batch_frames: int = 8  # frames whose crops may share one estimate_batch call

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise UserError(f"detection interval must be at least 1, got {self.interval}")
        if self.queue_size < 1 or self.max_batch_frames < 1 or self.batch_size < 1:
            raise UserError("queue size, batch size and frames per batch must be at least 1")


@dataclass
class Engine:
    """The heavy parts built from a config: kept apart so a batch job loads the model once."""

    estimator: Any  # core.estimator.PoseEstimator
    detector: Callable  # detector(frame_bgr, frame_index) -> list[Detection]
    trained: bool
    config: PipelineConfig


def build_model(config: PipelineConfig):
    """(model, trained): the checkpoint's model, or an untrained one when no checkpoint is given."""
    from core import model as model_module

    if config.checkpoint is not None:
        from core.checkpoint import load_model

        return load_model(config.checkpoint, config.input_size), True  # size: official/mmpose files only
    model = model_module.build_model(width=config.width, preset=config.preset, input_size=config.input_size)
    return model, False


def build_estimator(config: PipelineConfig):
    from core.estimator import PoseEstimator

    model, trained = build_model(config)
    if not trained:
        log.warning("no checkpoint given: the model has untrained weights, poses are meaningless")
    return PoseEstimator(model, backend=config.backend, device=config.device, precision=config.precision,
                         flip=config.flip, batch_size=config.batch_size, trained=trained)  # fmt: skip


def build_detector(config: PipelineConfig) -> Callable:
    from core.detectors import create_detector

    return create_detector(config.detector, device=config.device)


def build_engine(config: PipelineConfig) -> Engine:
    detector = build_detector(config)  # first: a bad detector spec fails before a model loads
    estimator = build_estimator(config)
    # Import the remaining stages now, not inside the first frame's latency.
    for module in ("core.drawing", "core.tracker"):
        importlib.import_module(module)

    return Engine(estimator, detector, bool(estimator.trained), config)


def rebuild_engine(engine: Engine, config: PipelineConfig) -> tuple[Engine, bool]:
    """An engine for `config` that rebuilds only what changed; (engine, trackers must restart)."""
    old = engine.config
    changed = {f.name for f in fields(PipelineConfig) if getattr(config, f.name) != getattr(old, f.name)}
    estimator, detector, trained = engine.estimator, engine.detector, engine.trained
    if changed & MODEL_FIELDS:
        estimator = build_estimator(config)
        trained = bool(estimator.trained)
    if changed & DETECTOR_FIELDS:
        detector = build_detector(config)
    return Engine(estimator, detector, trained, config), bool(changed & TRACKER_FIELDS)


def new_tracker(config: PipelineConfig):
    from core.tracker import Tracker, TrackerConfig

    return Tracker(config.tracker if config.tracker is not None else TrackerConfig())


def sequential_step(engine: Engine, slot_state: dict, frame, tracker,
                    timings: dict[str, float] | None = None) -> tuple[list, list, np.ndarray | None]:
    """Detect, pose, track and draw one frame in the caller's thread: the reference the threaded
    pipeline is compared with (same functions, no overlap). `slot_state` carries the interval state;
    `timings` (stage -> seconds) accumulates where the time went."""
    clock = _Clock(timings)
    config = engine.config
    count = slot_state.get("frames", 0)
    slot_state["frames"] = count + 1
    detections = engine.detector(frame.image, frame.index) if count % config.interval == 0 else None
    boxes, scores = frame_boxes(detections, slot_state.get("poses", []), frame.image,
                                lambda: engine.detector(frame.image, frame.index))  # fmt: skip
    clock.lap("detect")
    poses = engine.estimator.estimate_batch([frame.image], [boxes], [scores])[0] if len(boxes) else []
    slot_state["poses"] = poses
    clock.lap("pose")
    tracks = tracker.update(poses, timestamp=frame.time)
    clock.lap("track")
    annotated = annotate(frame.image, tracks, engine.trained) if config.draw else None
    clock.lap("draw")
    return poses, tracks, annotated


class _Clock:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings, self.last = timings, time.perf_counter()

    def lap(self, name: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + now - self.last
            self.last = now


def detections_to_arrays(detections: list) -> tuple[np.ndarray, np.ndarray]:
    if not detections:
        return np.zeros((0, 4), np.float64), np.zeros((0,), np.float64)
    boxes = np.stack([np.asarray(d.box, np.float64) for d in detections])
    return boxes, np.array([float(d.score) for d in detections])


def frame_boxes(detections: list | None, previous_poses: list, image: np.ndarray,
                detect: Callable[[], list]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(boxes, scores) to estimate poses in: the frame's detections or, on a frame without detection
    (None), boxes from the previous poses; when those leave nobody to follow, `detect()` runs now
    rather than at the next interval."""
    if detections is not None:
        return detections_to_arrays(detections)
    boxes, scores = boxes_from_previous(previous_poses, image)
    if not len(boxes):
        boxes, scores = detections_to_arrays(detect())
    return boxes, scores


def boxes_from_previous(poses: list, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes for a frame without detection: each previous pose's confident joints, padded."""
    from core.detectors import boxes_from_poses

    size = (image.shape[1], image.shape[0])
    return detections_to_arrays(boxes_from_poses(poses, image_size=size))


def annotate(image: np.ndarray, tracks: list, trained: bool, fps: float | None = None) -> np.ndarray:
    """A drawn copy of the frame (the frame itself stays clean for other consumers)."""
    from core import drawing

    annotated = image.copy()
    drawing.draw_tracks(annotated, tracks)
    banner = None if trained else UNTRAINED_BANNER
    if fps is not None or banner:
        drawing.draw_fps(annotated, fps, banner=banner)
    return annotated
