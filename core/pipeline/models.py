"""What the pipeline computes, apart from how it is scheduled: the heavy parts built from its
configuration (model, estimator, detector), and one frame's detect → pose → track → draw step.

`sequential_step` is that step done in the caller's thread; the threaded `core.pipeline.threaded.Pipeline`
runs the same functions on stage threads, and the benchmark compares the two.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from core.detect import DetectionSchedule, create_detector
from core.pipeline.config import DETECTOR_FIELDS, MODEL_FIELDS, TRACKER_FIELDS, PipelineConfig
from core.video.drawing import DEFAULT_STYLE, DrawStyle, annotate

log = logging.getLogger(__name__)


@dataclass
class Models:
    """The heavy parts built from a config: kept apart so a batch job loads the model once."""

    estimator: Any  # core.pose.estimator.PoseEstimator
    detector: Callable  # detector(frame_bgr, frame_index) -> list[Detection]
    trained: bool
    config: PipelineConfig


def build_model(config: PipelineConfig):
    """(model, trained, decoder): the checkpoint's model (a file or a registry name, whose entry
    sets input size and decoder), or an untrained one when no checkpoint is given."""
    from core.model import build_model as build_network

    if config.checkpoint is not None:
        from core.model import load_checkpoint

        loaded = load_checkpoint(config.checkpoint, config.input_size)  # size: official/mmpose files only
        return loaded.model, True, loaded.decode
    # Seeded: the same untrained weights every run, so a TensorRT engine built for them is reused.
    model = build_network(width=config.width, preset=config.preset, input_size=config.input_size, seed=0)
    return model, False, "argmax"


def build_estimator(config: PipelineConfig):
    from core.pose.estimator import PoseEstimator

    model, trained, decode = build_model(config)
    if not trained:
        log.info("no checkpoint: untrained weights (the command line has said so, outputs carry it)")
    return PoseEstimator(
        model,
        backend=config.backend,
        device=config.device,
        precision=config.precision,
        flip=config.flip,
        decode=decode,
        batch_size=config.batch_size,
        trained=trained,
    )


def build_detector(config: PipelineConfig) -> Callable:
    return create_detector(config.detector, device=config.device)


def build_models(config: PipelineConfig) -> Models:
    detector = build_detector(config)  # first: a bad detector spec fails before a model loads
    estimator = build_estimator(config)
    # Import the remaining stages now, not inside the first frame's latency.
    for module in ("core.video.drawing", "core.track.tracker"):
        importlib.import_module(module)

    return Models(estimator, detector, bool(estimator.trained), config)


def rebuild_models(models: Models, config: PipelineConfig) -> tuple[Models, bool]:
    """An models for `config` that rebuilds only what changed; (models, trackers must restart)."""
    old = models.config
    changed = {f.name for f in fields(PipelineConfig) if getattr(config, f.name) != getattr(old, f.name)}
    estimator, detector, trained = models.estimator, models.detector, models.trained
    if changed & MODEL_FIELDS:
        estimator = build_estimator(config)
        trained = bool(estimator.trained)
    if changed & DETECTOR_FIELDS:
        detector = build_detector(config)
    return Models(estimator, detector, trained, config), bool(changed & TRACKER_FIELDS)


def new_tracker(config: PipelineConfig, journal=None):
    """A tracker with the config's settings; `journal` keeps its matches for the offline pass."""
    from core.track.tracker import Tracker, TrackerConfig

    return Tracker(config.tracker if config.tracker is not None else TrackerConfig(), journal)


def sequential_step(
    models: Models,
    slot_state: dict,
    frame,
    tracker,
    timings: dict[str, float] | None = None,
    style: DrawStyle = DEFAULT_STYLE,
) -> tuple[list, list, np.ndarray | None]:
    """Detect, pose, track and draw (in `style`) one frame in the caller's thread: the reference the
    threaded pipeline is compared with (same functions, no overlap). `slot_state` carries the interval
    state; `timings` (stage -> seconds) accumulates where the time went."""
    clock = _Clock(timings)
    schedule = slot_state.get("schedule")
    if schedule is None or schedule.every != models.config.interval:
        schedule = slot_state["schedule"] = DetectionSchedule(models.config.interval)
    detections = models.detector(frame.image, frame.index) if schedule.due() else None
    boxes, scores = frame_boxes(
        schedule,
        detections,
        slot_state.get("poses", []),
        frame.image,
        lambda: models.detector(frame.image, frame.index),
    )
    clock.lap("detect")
    poses = models.estimator.estimate_batch([frame.image], [boxes], [scores])[0] if len(boxes) else []
    slot_state["poses"] = poses
    clock.lap("pose")
    tracks = tracker.update(poses, timestamp=frame.time)
    clock.lap("track")
    annotated = annotate(frame.image, tracks, models.trained, style=style) if models.config.draw else None
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


def frame_boxes(
    schedule: DetectionSchedule,
    detections: list | None,
    previous_poses: list,
    image: np.ndarray,
    detect: Callable[[], list],
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, scores) to estimate poses in, by the source's detection schedule (core.detect.interval)."""
    size = (image.shape[1], image.shape[0])
    return detections_to_arrays(schedule.boxes(detections, previous_poses, size, detect))
