"""Constant-velocity Kalman filter of one person box, on filterpy's `KalmanFilter`.

State (8): centre x, centre y, aspect a = w / h, height h, and their velocities per frame; the
measurement is (x, y, a, h). This is DeepSORT's parametrisation (also ByteTrack's), chosen because:

- a person's aspect ratio barely changes while the height does as they walk towards the camera;
  SORT's (x, y, area, aspect) couples the two and lets a noisy area estimate swing the width.
- noise is proportional to the box height (standard deviations of 1/20 h for positions and
  1/160 h per frame for velocities; 0.01 for the aspect), so a person far away (small box, small
  pixel motion) and one close by (large box, large motion) are filtered alike. Fixed pixel noise,
  as in SORT, is too loose for small boxes and too tight for large ones.

Process noise Q and measurement noise R are recomputed from the current height before each step.
"""

import numpy as np
from filterpy.kalman import KalmanFilter

from core.boxes import xyah_to_xyxy, xyxy_to_xyah

# DeepSORT's weights: position std = 1/20 of the height, velocity std = 1/160 of the height per frame.
POSITION_WEIGHT = 1.0 / 20.0
VELOCITY_WEIGHT = 1.0 / 160.0
ASPECT_STD = 1e-2
ASPECT_VELOCITY_STD = 1e-5
ASPECT_MEASUREMENT_STD = 1e-1

# Squared Mahalanobis distance below which 95 % of true measurements fall (chi-square, 4 dof).
CHI2_95_4DOF = 9.4877


class BoxKalman:
    """One track's filter. `box` is the current xyxy estimate; `predict()` advances one frame."""

    def __init__(
        self,
        box: np.ndarray,
        position_weight: float = POSITION_WEIGHT,
        velocity_weight: float = VELOCITY_WEIGHT,
        process_weight: float | None = None,
    ):
        self.position_weight = position_weight
        self.velocity_weight = velocity_weight
        self.process_weight = position_weight if process_weight is None else process_weight
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F = np.eye(8)
        kf.F[:4, 4:] = np.eye(4)
        kf.H = np.eye(4, 8)
        z = xyxy_to_xyah(box)[0]
        kf.x = np.r_[z, np.zeros(4)][:, None]
        h = z[3]
        std = np.array(
            [
                2 * position_weight * h,
                2 * position_weight * h,
                ASPECT_STD,
                2 * position_weight * h,
                10 * velocity_weight * h,
                10 * velocity_weight * h,
                ASPECT_VELOCITY_STD,
                10 * velocity_weight * h,
            ]
        )
        kf.P = np.diag(std**2)
        kf.Q = np.diag(
            np.array([0, 0, ASPECT_STD, 0, 0, 0, ASPECT_VELOCITY_STD, 0]) ** 2
        )  # rest set per step
        self.kf = kf

    @property
    def box(self) -> np.ndarray:
        x, y, a, h = self.kf.x[:4, 0]
        w = a * h
        return np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2])

    @property
    def height(self) -> float:
        return float(self.kf.x[3, 0])

    @property
    def velocity(self) -> np.ndarray:
        """(vx, vy, va, vh) per frame."""
        return self.kf.x[4:, 0].copy()

    def predict(self) -> None:
        h = max(self.height, 1.0)
        p, v = self.process_weight * h, self.velocity_weight * h
        q = self.kf.Q
        q[0, 0] = q[1, 1] = q[3, 3] = p * p
        q[4, 4] = q[5, 5] = q[7, 7] = v * v
        if self.kf.x[3, 0] + self.kf.x[7, 0] <= 1.0:  # never shrink the height below a pixel
            self.kf.x[7, 0] = 0.0
        self.kf.predict()

    def update(self, box: np.ndarray) -> None:
        x1, y1, x2, y2 = box
        h = y2 - y1
        self.kf.update(
            np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h]), R=self._measurement_noise()
        )

    def _measurement_noise(self) -> np.ndarray:
        r = self.kf.R
        r[0, 0] = r[1, 1] = r[3, 3] = (self.position_weight * max(self.height, 1.0)) ** 2
        r[2, 2] = ASPECT_MEASUREMENT_STD**2
        return r

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        return self.kf.x.copy(), self.kf.P.copy()

    def restore(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.kf.x, self.kf.P = state[0].copy(), state[1].copy()

    def mahalanobis(self, boxes: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances of xyxy boxes to the predicted measurement (4 dof)."""
        z = xyxy_to_xyah(boxes)
        projected = self.kf.H @ self.kf.x
        covariance = self.kf.H @ self.kf.P @ self.kf.H.T + self._measurement_noise()
        diff = z - projected[:, 0]
        return np.einsum("ni,ij,nj->n", diff, np.linalg.inv(covariance), diff)


def box_estimates(filters: list[BoxKalman]) -> np.ndarray:
    """(N, 4) xyxy boxes of many filters at once."""
    if not filters:
        return np.zeros((0, 4))
    return xyah_to_xyxy(np.array([f.kf.x[:4, 0] for f in filters]))
