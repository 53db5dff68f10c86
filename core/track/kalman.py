"""Constant-velocity Kalman filter of one person box in continuous time, on filterpy's `KalmanFilter`.

State (8): centre x, centre y, aspect a = w / h, height h, and their velocities per second; the
measurement is (x, y, a, h). This is DeepSORT's parametrisation (also ByteTrack's), chosen because:

- a person's aspect ratio barely changes while the height does as they walk towards the camera;
  SORT's (x, y, area, aspect) couples the two and lets a noisy area estimate swing the width.
- noise is proportional to the box height, so a person far away (small box, small pixel motion) and
  one close by (large box, large motion) are filtered alike. Fixed pixel noise, as in SORT, is too
  loose for small boxes and too tight for large ones.

Time: `predict(dt)` moves the state by dt seconds, F = [[I, dt·I], [0, I]], and adds the process noise
of a continuous-time model integrated over dt: white-noise acceleration of spectral density σv² (so
Q = σv² [[dt³/3, dt²/2], [dt²/2, dt]] per coordinate) plus a position random walk of density σp²
(σp² dt: body sway and limbs moving the box centre). Both are exact for any dt, so one prediction
across a gap equals the frame-by-frame predictions across it: a dropped frame costs its measurement,
nothing else, and the Mahalanobis gate of a lost track widens with the seconds it has been lost.

Process noise Q and measurement noise R are recomputed from the current height before each step.
"""

import functools

import numpy as np
from filterpy.kalman import KalmanFilter

from core.boxes import xyah_to_xyxy, xyxy_to_xyah

# Measurement noise (DeepSORT's): a detected box's centre and height are off by 1/20 of the height.
POSITION_WEIGHT = 1.0 / 20.0
# Position random walk, box heights per √s: the box centre wanders ~h/20 (8 cm) a second off a straight
# line as the body sways and the limbs swing (DeepSORT's h/100 per frame at 25 fps is the same figure).
POSITION_NOISE = 1.0 / 20.0
# White-noise acceleration, box heights per second per √s: within a second a walker's velocity changes
# by about 0.3 body heights per second (~0.5 m/s: slowing, speeding up, veering; a full stop or a
# turn takes a few seconds). DeepSORT's h/160 per frame at 25 fps would be 0.8; 0.2-0.45 score alike.
VELOCITY_NOISE = 0.3
# Velocity unknown at a track's birth: up to about one body height per second (1.7 m/s, a brisk walk).
INITIAL_SPEED = 1.0
ASPECT_STD = 1e-2  # initial aspect uncertainty
ASPECT_NOISE = 5e-2  # aspect random walk per √s
ASPECT_VELOCITY_STD = 1e-3  # initial aspect velocity uncertainty, per second
ASPECT_VELOCITY_NOISE = 1e-3  # aspect acceleration per √s
ASPECT_MEASUREMENT_STD = 1e-1

# Squared Mahalanobis distance below which 95 % of true measurements fall (chi-square, 4 dof).
CHI2_95_4DOF = 9.4877


class BoxKalman:
    """One track's filter. `box` is the current xyxy estimate; `predict(dt)` advances dt seconds."""

    def __init__(
        self,
        box: np.ndarray,
        position_weight: float = POSITION_WEIGHT,
        velocity_noise: float = VELOCITY_NOISE,
        position_noise: float = POSITION_NOISE,
    ):
        self.position_weight = position_weight
        self.velocity_noise = velocity_noise
        self.position_noise = position_noise
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F = np.eye(8)
        kf.H = np.eye(4, 8)
        kf.Q = np.zeros((8, 8))  # this filter's own: predict() writes it in place
        z = xyxy_to_xyah(box)[0]
        kf.x = np.r_[z, np.zeros(4)][:, None]
        h = z[3]
        p, v = 2 * position_weight * h, INITIAL_SPEED * h
        kf.P = np.diag(np.array([p, p, ASPECT_STD, p, v, v, ASPECT_VELOCITY_STD, v]) ** 2)
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
        """(vx, vy, va, vh) per second."""
        return self.kf.x[4:, 0].copy()

    def predict(self, dt: float) -> None:
        """Advance the estimate by dt >= 0 seconds."""
        dt = max(float(dt), 0.0)
        h = max(self.height, 1.0)
        transition, scaled, aspect = _step_matrices(dt, self.position_noise, self.velocity_noise)
        self.kf.F = transition
        np.multiply(scaled, h * h, out=self.kf.Q)
        self.kf.Q += aspect
        if self.kf.x[3, 0] + self.kf.x[7, 0] * dt <= 1.0:  # never shrink the height below a pixel
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


def process_noise(dt: float, height: float, position_noise: float, velocity_noise: float) -> np.ndarray:
    """Q of dt seconds for a box `height` pixels tall: position random walk (box heights per √s) plus
    white-noise acceleration (box heights per second per √s) for x, y and h; the aspect's own figures."""
    _, scaled, aspect = _step_matrices(dt, position_noise, velocity_noise)
    return height * height * scaled + aspect


@functools.lru_cache(maxsize=8)
def _step_matrices(
    dt: float, position_noise: float, velocity_noise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, Q of x, y, h per squared pixel of height, Q of the aspect) for a step of dt seconds, read-only;
    every track of a frame steps the same dt, so a frame computes them once."""
    transition = np.eye(8)
    transition[_POSITIONS, _VELOCITIES] = dt
    walk = np.array([position_noise, position_noise, 0.0, position_noise]) ** 2
    acceleration = np.array([velocity_noise, velocity_noise, 0.0, velocity_noise]) ** 2
    scaled = _integrated(dt, walk, acceleration)
    aspect = _integrated(
        dt, np.array([0, 0, ASPECT_NOISE**2, 0]), np.array([0, 0, ASPECT_VELOCITY_NOISE**2, 0])
    )
    for matrix in (transition, scaled, aspect):
        matrix.flags.writeable = False
    return transition, scaled, aspect


def _integrated(dt: float, walk: np.ndarray, acceleration: np.ndarray) -> np.ndarray:
    q = np.zeros((8, 8))
    q[_POSITIONS, _POSITIONS] = walk * dt + acceleration * dt**3 / 3
    q[_POSITIONS, _VELOCITIES] = q[_VELOCITIES, _POSITIONS] = acceleration * dt**2 / 2
    q[_VELOCITIES, _VELOCITIES] = acceleration * dt
    return q


_POSITIONS, _VELOCITIES = np.arange(4), np.arange(4, 8)


def box_estimates(filters: list[BoxKalman]) -> np.ndarray:
    """(N, 4) xyxy boxes of many filters at once."""
    if not filters:
        return np.zeros((0, 4))
    return xyah_to_xyxy(np.array([f.kf.x[:4, 0] for f in filters]))
