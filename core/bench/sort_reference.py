"""SORT (Bewley et al. 2016) as in abewley/sort, the baseline `core.bench.mot` compares against.

Kept deliberately close to the reference code (state [u, v, s, r, u', v', s'] with s = area and
r = aspect, its noise matrices, max_age 1, min_hits 3, IoU 0.3, outputs the filter estimate) so
that its scores reproduce the published SORT figures under our evaluation.
"""

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from core.boxes import iou_matrix


def _to_z(box: np.ndarray) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([[box[0] + w / 2], [box[1] + h / 2], [w * h], [w / h]])


def _to_box(x: np.ndarray) -> np.ndarray:
    w = np.sqrt(x[2, 0] * x[3, 0])
    h = x[2, 0] / w
    return np.array([x[0, 0] - w / 2, x[1, 0] - h / 2, x[0, 0] + w / 2, x[1, 0] + h / 2])


class _SortTrack:
    def __init__(self, box: np.ndarray, track_id: int):
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.F = np.eye(7)
        kf.F[0, 4] = kf.F[1, 5] = kf.F[2, 6] = 1
        kf.H = np.eye(4, 7)
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0  # unobserved velocities: high uncertainty
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4] = _to_z(box)
        self.kf = kf
        self.id = track_id
        self.time_since_update = 0
        self.hit_streak = 0

    def predict(self) -> np.ndarray:
        if self.kf.x[6, 0] + self.kf.x[2, 0] <= 0:
            self.kf.x[6, 0] = 0.0
        self.kf.predict()
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        return _to_box(self.kf.x)

    def update(self, box: np.ndarray) -> None:
        self.time_since_update = 0
        self.hit_streak += 1
        self.kf.update(_to_z(box))


class Sort:
    """`update(boxes (N, 4) xyxy) -> (M, 5) [x1, y1, x2, y2, id]`, one call per frame, ids from 1."""

    def __init__(self, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3):
        self.max_age, self.min_hits, self.iou_threshold = max_age, min_hits, iou_threshold
        self.tracks: list[_SortTrack] = []
        self.frame_count = 0
        self._next_id = 1

    def update(self, boxes: np.ndarray) -> np.ndarray:
        self.frame_count += 1
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        predicted = np.array([t.predict() for t in self.tracks]).reshape(-1, 4)
        ok = np.isfinite(predicted).all(1)
        self.tracks = [t for t, keep in zip(self.tracks, ok, strict=True) if keep]
        predicted = predicted[ok]

        matches, unmatched = self._associate(boxes, predicted)
        for d, t in matches:
            self.tracks[t].update(boxes[d])
        for d in unmatched:
            self.tracks.append(_SortTrack(boxes[d], self._next_id))
            self._next_id += 1

        out = []
        for track in list(self.tracks):
            if track.time_since_update < 1 and (
                track.hit_streak >= self.min_hits or self.frame_count <= self.min_hits
            ):
                out.append([*_to_box(track.kf.x), track.id])
        self.tracks = [t for t in self.tracks if t.time_since_update <= self.max_age]
        return np.array(out).reshape(-1, 5)

    def _associate(self, boxes: np.ndarray, predicted: np.ndarray) -> tuple[list[tuple[int, int]], list[int]]:
        if len(predicted) == 0 or len(boxes) == 0:
            return [], list(range(len(boxes)))
        iou = iou_matrix(boxes, predicted)
        above = (iou > self.iou_threshold).astype(np.int32)
        if above.sum(1).max() == 1 and above.sum(0).max() == 1:
            pairs = np.stack(np.nonzero(above), axis=1)
        else:
            pairs = np.stack(linear_sum_assignment(-iou), axis=1)
        matches = [(int(d), int(t)) for d, t in pairs if iou[d, t] >= self.iou_threshold]
        matched = {d for d, _ in matches}
        return matches, [d for d in range(len(boxes)) if d not in matched]
