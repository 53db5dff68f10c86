"""MOT15 TUD-Campus and TUD-Stadtmitte with their public detections: where they are, how trackers run
over them (our tracker, and SORT as abewley/sort has it), and the table of their results."""

from pathlib import Path

import numpy as np

from core.bench.sort_reference import Sort
from core.errors import UserError
from core.track import (
    MotCounts,
    MotTable,
    Tracker,
    TrackerConfig,
    detections_by_frame,
    evaluate_sequence,
    load_detections,
    load_ground_truth,
    sequence_file,
)

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mot15"  # beside the repository
TUD_FPS = 25.0


def load_sequences(data: Path) -> list[tuple[str, MotTable, MotTable]]:
    """(name, detections, ground truth) of each TUD sequence under `data`; UserError if one is missing."""
    sequences = []
    for name in SEQUENCES:
        det_path, gt_path = sequence_file(data / name, "det"), sequence_file(data / name, "gt")
        if det_path is None or gt_path is None:
            raise UserError(f"missing det.txt or gt.txt under {data / name}")
        sequences.append((name, load_detections(det_path), load_ground_truth(gt_path)))
    return sequences


def run_sort(detections: MotTable) -> MotTable:
    sort = Sort(max_age=1, min_hits=3, iou_threshold=0.3)
    rows = []
    for number, frame in detections.by_frame():
        for x1, y1, x2, y2, track_id in sort.update(frame.boxes):
            rows.append((number, track_id, x1, y1, x2, y2))
    return results_table(rows)


def run_ours(detections: MotTable, config: TrackerConfig | None = None) -> MotTable:
    tracker = Tracker(config or TrackerConfig())
    rows = []
    for number, frame in detections_by_frame(detections):
        for track in tracker.update(frame, timestamp=(number - 1) / TUD_FPS):
            rows.append((number, track.id, *track.box))
    return results_table(rows)


def results_table(rows: list[tuple]) -> MotTable:
    """A tracker's (frame, id, x1, y1, x2, y2) rows as a MotTable the metrics can score."""
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return MotTable(
        array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2:6], np.ones(len(array))
    )


def accuracy(data: Path, config: TrackerConfig | None = None) -> dict[str, list[tuple[str, MotCounts]]]:
    """{"SORT": rows, "ours": rows}, each a per-sequence list plus an OVERALL row of summed counts."""
    tables: dict[str, list[tuple[str, MotCounts]]] = {"SORT": [], "ours": []}
    for name, detections, gt in load_sequences(data):
        tables["SORT"].append((name, evaluate_sequence(gt, run_sort(detections))))
        tables["ours"].append((name, evaluate_sequence(gt, run_ours(detections, config))))
    for rows in tables.values():
        total = MotCounts()
        for _, counts in rows:
            total = total + counts
        rows.append(("OVERALL", total))
    return tables
