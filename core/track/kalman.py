"""Constant-velocity Kalman filter of person boxes in continuous time, run for all tracks at once.

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

Two engines run the same equations (filterpy's `KalmanFilter.predict` and `update`):
`BoxKalman` steps every track of a frame in one numpy call (`predict_all`, `update_all`), because
filterpy's per-object calls cost ~30 µs a track, half the tracker's 1 ms budget at 20 people (norfair
ships its own optimised filter for the same reason); `FilterPyBoxKalman` keeps one filterpy
`KalmanFilter` per track, as the reference (`TrackerConfig.kalman = "filterpy"`). The tests hold the
two to 1e-9 of each other.
"""

import functools

import numpy as np

from core.boxes import xyah_to_xyxy, xyxy_to_xyah

# Measurement noise (DeepSORT's): a detected box's centre and height are off by 1/20 of the height.
POSITION_WEIGHT = 1.0 / 20.0
# Position random walk, box heights per √s: the box centre wanders ~h/20 (8 cm) a second off a straight
# line as the body sways and the limbs swing (DeepSORT's h/100 per frame at 25 fps is the same figure).
POSITION_NOISE = 1.0 / 20.0
# White-noise acceleration, box heights per second per √s: people walk at a steady pace and heading (stride
# to stride the speed varies by a few per cent), so within a second a walker's velocity drifts by ~0.05
# body heights per second (~9 cm/s); a deliberate stop or turn takes half a second or more and the
# measurements follow it. A stiffer model carries a person's velocity through an occlusion and across
# dropped frames. MOT15 TUD with frames dropped (`python -m core.bench.mot --phases`, also stamped at
# 10 and 50 fps) scores alike for 0.02-0.06 and worse above (0.1: -1.4 IDF1, 0.3: -1.8 at 25 fps and
# -4.5 at 10 fps); the cost is a run (1.5 heights/s) turning a corner at 10 fps, which 0.1-0.3 keep
# (the manoeuvre table of the same benchmark).
VELOCITY_NOISE = 0.05
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
    """One track's filter: state `x` (8,) and covariance `P` (8, 8). `predict_all` / `update_all` step
    many filters of one tracker (same noise settings) at once; `predict` / `update` step this one."""

    def __init__(
        self,
        box: np.ndarray,
        position_weight: float = POSITION_WEIGHT,
        velocity_noise: float = VELOCITY_NOISE,
        position_noise: float = POSITION_NOISE,
    ):
        self.noise = (float(position_weight), float(velocity_noise), float(position_noise))
        z = xyxy_to_xyah(box)[0]
        p, v = 2 * position_weight * z[3], INITIAL_SPEED * z[3]
        self.x = np.r_[z, np.zeros(4)]
        self.P = np.diag(np.array([p, p, ASPECT_STD, p, v, v, ASPECT_VELOCITY_STD, v]) ** 2)

    @property
    def box(self) -> np.ndarray:
        x, y, a, h = self.x[:4]
        w = a * h
        return np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2])

    @property
    def height(self) -> float:
        return float(self.x[3])

    @property
    def velocity(self) -> np.ndarray:
        """(vx, vy, va, vh) per second."""
        return self.x[4:].copy()

    def predict(self, dt: float) -> None:
        """Advance the estimate by dt >= 0 seconds."""
        type(self).predict_all([self], dt)

    def update(self, box: np.ndarray) -> None:
        """Correct the estimate with an observed xyxy box."""
        type(self).update_all([self], np.asarray(box, dtype=np.float64)[None])

    @classmethod
    def predict_all(cls, filters: list["BoxKalman"], dt: float) -> None:
        """Advance every filter by the same dt >= 0 seconds (one frame of a tracker)."""
        if not filters:
            return
        _, velocity_noise, position_noise = _shared_noise(filters)
        x, covariance = predict_states(
            np.array([f.x for f in filters]),
            np.array([f.P for f in filters]),
            dt,
            velocity_noise,
            position_noise,
        )
        for f, state, cov in zip(filters, x, covariance, strict=True):
            f.x, f.P = state, cov

    @classmethod
    def update_all(cls, filters: list["BoxKalman"], boxes: np.ndarray) -> None:
        """Correct filter i with xyxy box i."""
        if not filters:
            return
        x, covariance, _, _ = update_states(
            np.array([f.x for f in filters]),
            np.array([f.P for f in filters]),
            xyxy_to_xyah(boxes),
            _shared_noise(filters)[0],
        )
        for f, state, cov in zip(filters, x, covariance, strict=True):
            f.x, f.P = state, cov

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """The state to `restore` later. The numpy engines never write into a state array (each step
        makes new ones), so a snapshot shares the arrays instead of copying them."""
        return self.x, self.P

    def restore(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.x, self.P = state[0].copy(), state[1].copy()

    def mahalanobis(self, boxes: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances of xyxy boxes to the predicted measurement (4 dof)."""
        return mahalanobis_all([self], boxes)[0]


class FilterPyBoxKalman(BoxKalman):
    """The same model on one filterpy `KalmanFilter` per track, stepped one track at a time: the
    reference the batched engine is held to, selectable with `TrackerConfig.kalman = "filterpy"`."""

    def __init__(self, box: np.ndarray, *noise: float):
        """The same arguments as BoxKalman's; the filterpy filter holds the state they set. filterpy
        is imported here, not at the top: the default numpy engine runs without it (a bare GPU box)."""
        from filterpy.kalman import KalmanFilter

        self.kf = KalmanFilter(dim_x=8, dim_z=4)
        self.kf.H = np.eye(4, 8)
        super().__init__(box, *noise)

    @property
    def x(self) -> np.ndarray:
        return self.kf.x[:, 0]

    @x.setter
    def x(self, value: np.ndarray) -> None:
        self.kf.x = np.array(value, dtype=np.float64).reshape(8, 1)

    @property
    def P(self) -> np.ndarray:
        return self.kf.P

    @P.setter
    def P(self, value: np.ndarray) -> None:
        self.kf.P = np.array(value, dtype=np.float64)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x.copy(), self.P.copy()  # filterpy's arrays change in place

    @classmethod
    def predict_all(cls, filters: list[BoxKalman], dt: float) -> None:
        dt = max(float(dt), 0.0)
        for f in filters:
            _, velocity_noise, position_noise = f.noise
            transition, scaled, aspect = _step_matrices(dt, velocity_noise, position_noise)
            f.kf.F = transition
            f.kf.Q = max(f.height, 1.0) ** 2 * scaled + aspect
            if f.kf.x[3, 0] + f.kf.x[7, 0] * dt <= 1.0:
                f.kf.x[7, 0] = 0.0
            f.kf.predict()

    @classmethod
    def update_all(cls, filters: list[BoxKalman], boxes: np.ndarray) -> None:
        for f, z in zip(filters, xyxy_to_xyah(boxes), strict=True):
            f.kf.update(z, R=_measurement_noise(f.x[3:4], f.noise[0])[0])


def mahalanobis_all(filters: list[BoxKalman], boxes: np.ndarray) -> np.ndarray:
    """(filters, boxes) squared Mahalanobis distances of xyxy boxes to each filter's predicted
    measurement (4 dof)."""
    if not filters:
        return np.zeros((0, len(boxes)))
    x = np.array([f.x for f in filters])
    covariance = np.array([f.P[:4, :4] for f in filters]) + _measurement_noise(
        x[:, 3], _shared_noise(filters)[0]
    )
    diff = xyxy_to_xyah(boxes)[None] - x[:, None, :4]
    return ((diff @ np.linalg.inv(covariance)) * diff).sum(axis=2)


def predict_states(
    x: np.ndarray,
    covariance: np.ndarray,
    dt: float,
    velocity_noise: float | tuple[float, ...],
    position_noise: float,
    heights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """States (N, 8) and covariances (N, 8, 8) moved dt >= 0 seconds; the process noise scales with
    `heights` (N,) (default: each state's own height). Several velocity noises (M,) take turns: row i
    gets the (i mod M)-th (the models of an IMM, stacked track by track)."""
    dt = max(float(dt), 0.0)
    noises = velocity_noise if isinstance(velocity_noise, tuple) else (velocity_noise,)
    transition, scaled, aspect = _stacked_step_matrices(dt, noises, position_noise)
    heights = np.maximum(x[:, 3] if heights is None else heights, 1.0)
    x = x.copy()
    x[x[:, 3] + x[:, 7] * dt <= 1.0, 7] = 0.0  # never shrink the height below a pixel
    x = x @ transition.T
    noise = (heights**2).reshape(-1, len(noises))[:, :, None, None] * scaled  # (N / M, M, 8, 8)
    covariance = transition @ covariance @ transition.T + noise.reshape(-1, 8, 8) + aspect
    return x, covariance


def update_states(
    x: np.ndarray,
    covariance: np.ndarray,
    z: np.ndarray,
    position_weight: float,
    heights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(states, covariances, residuals (N, 4), inverse innovation covariances (N, 4, 4)) after
    correcting state i with measurement z[i] = (x, y, a, h); the measurement noise scales with `heights`
    (default: each state's predicted height). The covariance update is P - K H P, which equals
    filterpy's Joseph form for the optimal gain (the tests hold them to 1e-9) at a quarter of its
    matrix products."""
    noise = _measurement_noise(x[:, 3] if heights is None else heights, position_weight)
    residual = z - x[:, :4]
    inverse = np.linalg.inv(covariance[:, :4, :4] + noise)
    gain = covariance[:, :, :4] @ inverse  # (N, 8, 4)
    x = x + (gain @ residual[:, :, None])[:, :, 0]
    covariance = covariance - gain @ covariance[:, :4, :]  # H = [I 0]
    return x, covariance, residual, inverse


def _shared_noise(filters: list[BoxKalman]) -> tuple[float, float, float]:
    noise = filters[0].noise
    if any(f.noise != noise for f in filters):
        raise ValueError("filters stepped together must share their noise settings")
    return noise


def _measurement_noise(heights: np.ndarray, position_weight: float) -> np.ndarray:
    """R (N, 4, 4) for boxes of these (predicted) heights."""
    sigma = (position_weight * np.maximum(heights, 1.0)) ** 2
    noise = np.zeros((len(heights), 4, 4))
    noise[:, 0, 0] = noise[:, 1, 1] = noise[:, 3, 3] = sigma
    noise[:, 2, 2] = ASPECT_MEASUREMENT_STD**2
    return noise


@functools.lru_cache(maxsize=8)
def _step_matrices(
    dt: float, velocity_noise: float, position_noise: float
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


@functools.lru_cache(maxsize=8)
def _stacked_step_matrices(
    dt: float, velocity_noises: tuple[float, ...], position_noise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_step_matrices for several velocity noises: (F, their Q per squared pixel stacked (M, 8, 8), Q of
    the aspect), read-only and computed once a frame."""
    steps = [_step_matrices(dt, noise, position_noise) for noise in velocity_noises]
    scaled = np.stack([step[1] for step in steps])
    scaled.flags.writeable = False
    return steps[0][0], scaled, steps[0][2]


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
    return xyah_to_xyxy(np.array([f.x[:4] for f in filters]))
