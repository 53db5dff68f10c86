"""MOT sequences with public detections for the tracker bench: every folder under a data folder that
holds det.txt, gt.txt and a seqinfo.ini with its real frame rate; how one tracker replays a sequence
(all its frames or only some, stamped with their times); and the scores of several trackers side by
side, per sequence and over all of them."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.track import (
    MotCounts,
    MotTable,
    evaluate_sequence,
    load_detections,
    load_ground_truth,
    sequence_file,
    sequence_frame_rate,
)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mot15"  # beside the repository

# A tracker as the bench runs it: (detections, kept frame numbers in order, stamping rate) -> results.
# Frame n is stamped (n - 1) / rate seconds; only the kept frames are given to the tracker.
TrackerRun = Callable[[MotTable, np.ndarray, float], MotTable]


@dataclass(frozen=True)
class Sequence:
    """One sequence's public detections, ground truth and real frame rate."""

    name: str
    detections: MotTable
    gt: MotTable
    fps: float

    @property
    def num_frames(self) -> int:
        return max(self.detections.num_frames, self.gt.num_frames)


def load_sequences(data: Path, names: list[str] | None = None) -> list[Sequence]:
    """Every sequence folder under `data` (by name), or the named ones; UserError when `data` holds
    none, a named one is missing, or a sequence has no frame rate (the bench stamps real times)."""
    if not data.is_dir():
        raise UserError(f"MOT data folder not found: {data}")
    folders = {
        p.name: p for p in sorted(data.iterdir()) if p.is_dir() and sequence_file(p, "det") is not None
    }
    for name in names or []:
        if name not in folders:
            raise UserError(f"missing det.txt or gt.txt under {data / name}")
    if not folders:
        raise UserError(f"no sequence folder with det.txt under {data}")
    sequences = []
    for name in names or list(folders):
        folder = folders[name]
        gt_path = sequence_file(folder, "gt")
        if gt_path is None:
            raise UserError(f"missing det.txt or gt.txt under {folder}")
        fps = sequence_frame_rate(folder)
        if fps is None:
            raise UserError(f"{folder}: no frameRate in seqinfo.ini (the bench stamps frames with it)")
        detections = load_detections(sequence_file(folder, "det"))
        sequences.append(Sequence(name, detections, load_ground_truth(gt_path), fps))
    return sequences


def results_table(rows: list[tuple]) -> MotTable:
    """A tracker's (frame, id, x1, y1, x2, y2) rows as a MotTable the metrics can score."""
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return MotTable(
        array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2:6], np.ones(len(array))
    )


def select_frames(table: MotTable, kept: np.ndarray) -> MotTable:
    """The rows of the kept frames, renumbered 1..len(kept) so the evaluation sees consecutive frames."""
    rank = np.zeros(max(int(kept.max(initial=0)), table.num_frames) + 1, dtype=np.int64)
    rank[kept] = np.arange(1, len(kept) + 1)
    new = rank[table.frames]
    keep = new > 0
    return MotTable(new[keep], table.ids[keep], table.boxes[keep], table.scores[keep])


def score(run: TrackerRun, sequence: Sequence, kept: np.ndarray | None = None, fps: float | None = None):
    """Counts of `run` on the kept frames of `sequence` (all by default), stamped at `fps` (default the
    sequence's own rate); only the kept frames are scored."""
    if kept is None:
        kept = np.arange(1, sequence.num_frames + 1)
        return evaluate_sequence(sequence.gt, run(sequence.detections, kept, fps or sequence.fps))
    results = run(sequence.detections, kept, fps or sequence.fps)
    return evaluate_sequence(select_frames(sequence.gt, kept), select_frames(results, kept))


def accuracy(
    sequences: list[Sequence], runs: dict[str, TrackerRun]
) -> dict[str, list[tuple[str, MotCounts]]]:
    """{tracker: [(sequence, counts), ..., ("OVERALL", summed counts)]}, all frames, real rates."""
    tables: dict[str, list[tuple[str, MotCounts]]] = {}
    for name, run in runs.items():
        rows = [(sequence.name, score(run, sequence)) for sequence in sequences]
        rows.append(("OVERALL", sum((counts for _, counts in rows), MotCounts())))
        tables[name] = rows
    return tables


def format_comparison(tables: dict[str, list[tuple[str, MotCounts]]], rates: dict[str, float]) -> str:
    """One table: per sequence (with its frame rate) and overall, one line per tracker."""
    width = max(len(name) for name in tables)
    header = f"{'sequence':<15} {'fps':>4}  {'tracker':<{width}} {'MOTA':>6} {'IDF1':>6} {'IDSW':>5}"
    lines = [header, "-" * len(header)]
    sequences = [name for name, _ in next(iter(tables.values()))]
    for k, sequence in enumerate(sequences):
        for j, (tracker, rows) in enumerate(tables.items()):
            counts = rows[k][1]
            label = f"{sequence:<15} {rates.get(sequence, float('nan')):4.0f}" if j == 0 else " " * 20
            if sequence == "OVERALL" and j == 0:
                label = f"{'OVERALL':<15} {'':>4}"
            lines.append(
                f"{label}  {tracker:<{width}} {100 * counts.mota:6.1f} {100 * counts.idf1:6.1f} "
                f"{counts.idsw:5d}"
            )
    return "\n".join(lines)
