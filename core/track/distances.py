"""Association costs between tracks and observations: IoU, OKS and their gated combination.

Costs are in [0, 1] (0 = identical); a gated-out pair gets `INFEASIBLE`, larger than any real cost,
so `linear_sum_assignment` never prefers it and the caller drops it afterwards.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.boxes import areas, iou_matrix
from core.keypoints import OKS_SIGMAS

INFEASIBLE = 1e5


def iou_cost(track_boxes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """1 - IoU, shape (tracks, observations)."""
    return 1.0 - iou_matrix(track_boxes, boxes)


def oks_matrix(
    track_keypoints: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray, min_score: float = 0.3
) -> np.ndarray:
    """COCO object keypoint similarity of every track pose to every observed pose.

    track_keypoints (T, J, 3), keypoints (O, J, 3) as (x, y, score); the scale s² is the area of the
    observation's box (COCO uses the segment area, about 0.53 × the box area for people; the box is
    what we have, and it makes OKS slightly more lenient). Joints count where both scores are at least
    `min_score`; a pair without any such joint gets NaN (unknown), never 0.
    """
    t = np.asarray(track_keypoints, dtype=np.float64)
    o = np.asarray(keypoints, dtype=np.float64)
    if len(t) == 0 or len(o) == 0:
        return np.zeros((len(t), len(o)))
    sigmas = OKS_SIGMAS[: t.shape[1]]
    d2 = ((t[:, None, :, :2] - o[None, :, :, :2]) ** 2).sum(-1)  # (T, O, J)
    scale = np.maximum(areas(boxes), 1.0)[None, :, None]
    similarity = np.exp(-d2 / (2.0 * scale * (2.0 * sigmas) ** 2))
    visible = (t[:, None, :, 2] >= min_score) & (o[None, :, :, 2] >= min_score)
    count = visible.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (similarity * visible).sum(-1) / count, np.nan)


def combined_cost(
    iou: np.ndarray,
    oks: np.ndarray | None = None,
    oks_weight: float = 0.5,
    min_iou: float = 0.3,
    min_oks: float = 0.5,
) -> np.ndarray:
    """1 - similarity with gating.

    Similarity is IoU alone, or (1 - w)·IoU + w·OKS where the OKS of a pair is known. A pair is feasible
    when its IoU reaches `min_iou`, or when its OKS is known and reaches `min_oks` (poses can link two
    boxes that overlap little, e.g. a person bending or a box cut by the frame edge).
    """
    similarity = iou.copy()
    feasible = iou >= min_iou
    if oks is not None and oks.size:
        known = np.isfinite(oks)
        oks0 = np.where(known, oks, 0.0)
        similarity = np.where(known, (1.0 - oks_weight) * iou + oks_weight * oks0, iou)
        feasible |= known & (oks0 >= min_oks)
    return np.where(feasible, 1.0 - similarity, INFEASIBLE)


def direction_cost(headings: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """Angle between each track's heading (T, 2) and each of its candidate moves (T, O, 2), as a fraction
    of a U-turn, (T, O): 0 straight on, 0.5 at a right angle, 1 back where it came from (OC-SORT's
    momentum term)."""
    norms = np.sqrt((moves**2).sum(axis=2) * (headings**2).sum(axis=1)[:, None])
    cosine = (moves * headings[:, None, :]).sum(axis=2) / np.maximum(norms, 1e-9)
    return np.arccos(np.clip(cosine, -1.0, 1.0)) / np.pi


def assign(
    cost: np.ndarray, unmatched: float | None = None
) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Minimum-cost matching without infeasible pairs: (pairs, unmatched rows, unmatched columns).

    With `unmatched`, leaving a row or a column unmatched costs that much (the matrix is extended with
    one dummy per row and per column, as lapjv's `extend_cost`), so a pair is taken only where it is
    worth more than leaving both sides alone: with costs 1 - similarity and `unmatched` 0.5 the
    matching maximises the total similarity. Without it the solver first matches as many pairs as it
    can, so a gated-out pair can push a good pair aside for two poor ones (a swap).
    """
    rows_n, cols_n = cost.shape
    if rows_n == 0 or cols_n == 0:
        return [], np.arange(rows_n), np.arange(cols_n)
    if unmatched is None:
        rows, cols = linear_sum_assignment(cost)
    else:
        extended = np.full((rows_n + cols_n, cols_n + rows_n), INFEASIBLE)
        extended[:rows_n, :cols_n] = cost
        extended[np.arange(rows_n), cols_n + np.arange(rows_n)] = unmatched
        extended[rows_n + np.arange(cols_n), np.arange(cols_n)] = unmatched
        extended[rows_n:, cols_n:] = 0.0
        rows, cols = linear_sum_assignment(extended)
        real = (rows < rows_n) & (cols < cols_n)
        rows, cols = rows[real], cols[real]
    keep = cost[rows, cols] < INFEASIBLE
    pairs = list(zip(rows[keep].tolist(), cols[keep].tolist(), strict=True))
    matched_rows = np.zeros(rows_n, bool)
    matched_cols = np.zeros(cols_n, bool)
    matched_rows[rows[keep]] = True
    matched_cols[cols[keep]] = True
    return pairs, np.flatnonzero(~matched_rows), np.flatnonzero(~matched_cols)
