"""CLEAR-MOT (MOTA, MOTP, ID switches, fragments, MT/ML) and identity (IDF1) metrics.

Why our own code: py-motmetrics 1.4.0 fails under numpy 2 (`np.asfarray`), and `trackeval` 1.3.0
installs `opencv-python`, which clashes with the `opencv-python-headless` we ship. This module follows
py-motmetrics' definitions exactly (on the TUD sequences, SORT's and our tracker's results get
identical counts from py-motmetrics 1.4.0 under numpy 1.26), so numbers compare with published ones:

- A ground-truth box and a hypothesis box may correspond when IoU >= 0.5.
- Per frame (Bernardin & Stiefelhagen 2008): first keep every correspondence (gt id -> hypothesis id)
  made before that is still valid in this frame; then match the rest by the Hungarian algorithm on
  1 - IoU. A match whose gt id was last matched to a different hypothesis id is an ID switch.
  Unmatched gt boxes are misses (FN), unmatched hypotheses false positives (FP).
- MOTA = 1 - (FN + FP + IDSW) / number of gt boxes; MOTP = mean IoU of matches (higher is better).
- Fragments: times a gt trajectory goes from tracked to missed and is tracked again later.
- MT / ML: gt trajectories matched in >= 80 % / < 20 % of the frames they appear in.
- IDF1 (Ristani et al. 2016): one global one-to-one assignment of gt ids to hypothesis ids maximising
  the number of frames where the pair overlaps at IoU >= 0.5 (IDTP); IDF1 = 2 IDTP / (#gt + #hyp).

Several sequences combine by adding their counts (so overall MOTA and IDF1 weight every box
equally, rather than averaging the per-sequence ratios).
"""

from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.boxes import iou_matrix
from core.errors import UserError
from core.track.motchallenge import MotTable


@dataclass
class MotCounts:
    """Summable counts of one or more sequences; the ratios are properties."""

    frames: int = 0
    gt: int = 0  # ground-truth boxes
    hyp: int = 0  # hypothesis (tracker) boxes
    tp: int = 0
    fp: int = 0
    fn: int = 0
    idsw: int = 0
    frag: int = 0
    idtp: int = 0
    gt_ids: int = 0
    mt: int = 0
    ml: int = 0
    iou_sum: float = 0.0

    def __add__(self, other: "MotCounts") -> "MotCounts":
        return MotCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def mota(self) -> float:
        return 1.0 - (self.fn + self.fp + self.idsw) / self.gt if self.gt else float("nan")

    @property
    def motp(self) -> float:
        return self.iou_sum / self.tp if self.tp else float("nan")

    @property
    def idfp(self) -> int:
        return self.hyp - self.idtp

    @property
    def idfn(self) -> int:
        return self.gt - self.idtp

    @property
    def idf1(self) -> float:
        total = self.gt + self.hyp
        return 2 * self.idtp / total if total else float("nan")

    @property
    def idp(self) -> float:
        return self.idtp / self.hyp if self.hyp else float("nan")

    @property
    def idr(self) -> float:
        return self.idtp / self.gt if self.gt else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / self.gt if self.gt else float("nan")

    @property
    def precision(self) -> float:
        return self.tp / self.hyp if self.hyp else float("nan")

    def as_dict(self) -> dict:
        values = asdict(self)
        for name in ("mota", "motp", "idf1", "idp", "idr", "recall", "precision", "idfp", "idfn"):
            values[name] = getattr(self, name)
        return values


def _check_unique_ids(ids: np.ndarray, what: str, frame: int) -> None:
    if len(np.unique(ids)) != len(ids):
        raise UserError(f"{what} has the same id twice in frame {frame}")


def evaluate_sequence(gt: MotTable, hyp: MotTable, iou_threshold: float = 0.5) -> MotCounts:
    """Counts for one sequence. Frames run from 1 to the last frame present in either file."""
    counts = MotCounts()
    num_frames = max(gt.num_frames, hyp.num_frames)
    gt_index = {int(i): k for k, i in enumerate(np.unique(gt.ids))}
    hyp_index = {int(i): k for k, i in enumerate(np.unique(hyp.ids))}
    overlap = np.zeros((len(gt_index), len(hyp_index)), dtype=np.int64)  # frames each pair may match
    present = np.zeros(len(gt_index), dtype=np.int64)
    tracked = np.zeros(len(gt_index), dtype=np.int64)
    history: dict[int, list[bool]] = {g: [] for g in gt_index}  # matched? per frame the gt id appears
    last_hyp: dict[int, int] = {}  # gt id -> hypothesis id of its latest match
    max_distance = 1.0 - iou_threshold  # py-motmetrics' rule: valid when 1 - IoU <= 1 - threshold

    for (frame, g), (_, h) in zip(gt.by_frame(num_frames), hyp.by_frame(num_frames), strict=True):
        _check_unique_ids(g.ids, "ground truth", frame)
        _check_unique_ids(h.ids, "results", frame)
        counts.frames += 1
        counts.gt += len(g)
        counts.hyp += len(h)
        distance = 1.0 - iou_matrix(g.boxes, h.boxes)
        valid = distance <= max_distance
        gi = np.array([gt_index[int(i)] for i in g.ids], dtype=np.int64)
        hi = np.array([hyp_index[int(i)] for i in h.ids], dtype=np.int64)
        rows, cols = np.nonzero(valid)
        np.add.at(overlap, (gi[rows], hi[cols]), 1)
        present[gi] += 1

        matches: list[tuple[int, int]] = []
        gt_free = np.ones(len(g), dtype=bool)
        hyp_free = np.ones(len(h), dtype=bool)
        column_of = {int(i): c for c, i in enumerate(h.ids)}
        for r, gid in enumerate(g.ids):  # 1. keep valid correspondences from earlier frames
            c = column_of.get(last_hyp.get(int(gid), -(2**62)))
            if c is not None and hyp_free[c] and valid[r, c]:
                matches.append((r, c))
                gt_free[r] = hyp_free[c] = False
        free_rows, free_cols = np.flatnonzero(gt_free), np.flatnonzero(hyp_free)
        if len(free_rows) and len(free_cols):  # 2. Hungarian on the rest
            sub = distance[np.ix_(free_rows, free_cols)]
            sub_valid = valid[np.ix_(free_rows, free_cols)]
            cost = np.where(sub_valid, sub, 1e6)
            for a, b in zip(*linear_sum_assignment(cost), strict=True):
                if sub_valid[a, b]:
                    r, c = free_rows[a], free_cols[b]
                    gid, hid = int(g.ids[r]), int(h.ids[c])
                    if gid in last_hyp and last_hyp[gid] != hid:
                        counts.idsw += 1
                    matches.append((r, c))
                    gt_free[r] = hyp_free[c] = False
        for r, c in matches:
            last_hyp[int(g.ids[r])] = int(h.ids[c])
            counts.iou_sum += 1.0 - distance[r, c]
        counts.tp += len(matches)
        counts.fn += int(gt_free.sum())
        counts.fp += int(hyp_free.sum())
        tracked[gi[~gt_free]] += 1
        for r, gid in enumerate(g.ids):
            history[int(gid)].append(not gt_free[r])

    for flags in history.values():
        counts.frag += _fragments(flags)
    ratio = tracked / np.maximum(present, 1)
    counts.gt_ids = len(gt_index)
    counts.mt = int((ratio >= 0.8).sum())
    counts.ml = int((ratio < 0.2).sum())
    if overlap.size:
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        counts.idtp = int(overlap[rows, cols].sum())
    return counts


def _fragments(flags: list[bool]) -> int:
    """Tracked -> missed transitions between the first and the last tracked frame."""
    hits = np.flatnonzero(flags)
    if len(hits) == 0:
        return 0
    span = np.asarray(flags[hits[0] : hits[-1] + 1], dtype=np.int8)
    return int((np.diff(span) == -1).sum())


def format_table(rows: list[tuple[str, MotCounts]]) -> str:
    """A fixed-width table, one row per (name, counts), percentages like MOTChallenge's."""
    header = (
        f"{'sequence':<18} {'MOTA':>6} {'IDF1':>6} {'MOTP':>6} {'IDSW':>5} {'FP':>5} {'FN':>5} "
        f"{'Frag':>5} {'MT':>4} {'ML':>4} {'GT':>6} {'Rcll':>6} {'Prcn':>6}"
    )
    lines = [header, "-" * len(header)]
    for name, c in rows:
        lines.append(
            f"{name:<18} {100 * c.mota:6.1f} {100 * c.idf1:6.1f} {100 * c.motp:6.1f} {c.idsw:5d} {c.fp:5d} "
            f"{c.fn:5d} {c.frag:5d} {c.mt:4d} {c.ml:4d} {c.gt:6d} "
            f"{100 * c.recall:6.1f} {100 * c.precision:6.1f}"
        )
    return "\n".join(lines)
