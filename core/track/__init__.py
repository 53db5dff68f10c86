"""Identities across frames: the Kalman + Hungarian `Tracker` and its parts (box filter, costs,
keypoint smoothing), and MOTChallenge files and metrics to measure it with."""

from core.track.config import TrackerConfig
from core.track.metrics import MotCounts, evaluate_sequence, format_table
from core.track.motchallenge import (
    MotTable,
    detections_by_frame,
    load_detections,
    load_ground_truth,
    load_results,
    sequence_file,
    sequence_frame_rate,
    write_results,
)
from core.track.tracker import Tracker

__all__ = [
    "MotCounts",
    "MotTable",
    "Tracker",
    "TrackerConfig",
    "detections_by_frame",
    "evaluate_sequence",
    "format_table",
    "load_detections",
    "load_ground_truth",
    "load_results",
    "sequence_file",
    "sequence_frame_rate",
    "write_results",
]
