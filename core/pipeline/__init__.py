"""Frames through detect → pose → track → draw → sinks: the configuration, the models built from it,
the sequential step, the threaded `Pipeline` that overlaps the stages, its statistics, and the job
runner behind `run.py track` (many inputs, resume, shards)."""

from core.pipeline.config import BUILT_FIELDS, MODEL_FIELDS, PipelineConfig
from core.pipeline.jobs import list_inputs
from core.pipeline.models import (
    Models,
    build_models,
    new_tracker,
    rebuild_models,
    sequential_step,
)
from core.pipeline.stages import FrameResult
from core.pipeline.stats import STAGES, LatencyWindow, SourceStats
from core.pipeline.threaded import Pipeline

__all__ = [
    "BUILT_FIELDS",
    "MODEL_FIELDS",
    "STAGES",
    "FrameResult",
    "LatencyWindow",
    "Models",
    "Pipeline",
    "PipelineConfig",
    "SourceStats",
    "build_models",
    "list_inputs",
    "new_tracker",
    "rebuild_models",
    "sequential_step",
]
