"""Interacting multiple models (IMM, Blom & Bar-Shalom 1988): a steady walker and a manoeuvring person,
mixed per track and per moment by how well each explains the boxes seen.

One global velocity noise cannot fit every scene: a steady walker's (0.05 body heights/s per √s)
carries a person through occlusions and dropped frames on a static camera, but loses people whose
boxes swerve because they stop or turn, or because the camera moves. The IMM runs both constant-velocity
models of core.track.kalman for every track, the same state and measurement, differing only in the
velocity noise (`velocity_noise` and `manoeuvre_noise`). Each step:

1. mixing: each model starts from a blend of both models' estimates, weighted by the probability
   that the person switched model since the last step (a two-state Markov chain in continuous time:
   a steady walker starts manoeuvring at rate 1 / steady_time, a manoeuvre ends at rate
   1 / manoeuvre_time; over dt seconds the switch probabilities follow exactly, so the mixing is the
   same at any frame rate);
2. each model predicts across dt with its own process noise;
3. on an observation each model updates, and the model probabilities are reweighed by each model's
   likelihood of the box (the Gaussian of its innovation).

The track's estimate (its box, the gate, the relinking velocity) is the probability-weighted mean and
covariance of the two. A track walking steadily keeps the steady model's tight prediction; one whose
box jumps switches to the manoeuvring model within a frame or two, and back once it walks straight.

`BoxIMM` steps all tracks of a frame in a few numpy calls (both models of every track at once);
`FilterPyBoxIMM` runs filterpy's `IMMEstimator` per track as the reference (the tests hold them to
1e-9). filterpy's estimator takes a fixed transition matrix and mixes with the probabilities of the
last update; here the matrix follows each step's dt and the probabilities are predicted on every step,
so a lost track's estimate moves towards the manoeuvring model as the seconds pass (the reference sets
`M`, recomputes the mixing weights and carries `cbar` forward around filterpy's `predict`).
"""

import functools
import math

import numpy as np

from core.boxes import xyxy_to_xyah
from core.track.kalman import (
    POSITION_NOISE,
    POSITION_WEIGHT,
    VELOCITY_NOISE,
    BoxKalman,
    _measurement_noise,
    _step_matrices,
    predict_states,
    update_states,
)

# Velocity noise of a person who changes pace or heading, or whose box the camera moves, box heights/s
# per √s: three times the steady walker's; within a second the velocity drifts by ~0.15 h/s (~25 cm/s),
# a turn of 90° at a slow walk over two seconds. (The manoeuvre table of `python -m core.bench.mot` checks
# that sharper stops and turns keep their id.)
MANOEUVRE_NOISE = 0.15
# Mean seconds a person walks steadily before a manoeuvre, and mean seconds a manoeuvre lasts.
STEADY_TIME = 2.0
MANOEUVRE_TIME = 1.0


@functools.lru_cache(maxsize=8)
def switch_matrix(dt: float, steady_time: float, manoeuvre_time: float) -> np.ndarray:
    """(2, 2) probabilities of going from model i (0 steady, 1 manoeuvring) to model j within dt
    seconds: the continuous-time two-state chain with rates 1 / steady_time and 1 / manoeuvre_time
    (read-only: every track of a frame shares it)."""
    start, stop = 1.0 / steady_time, 1.0 / manoeuvre_time
    total = start + stop
    decay = 1.0 - math.exp(-total * max(float(dt), 0.0))
    go, back = start / total * decay, stop / total * decay
    matrix = np.array([[1.0 - go, go], [back, 1.0 - back]])
    matrix.flags.writeable = False
    return matrix


def steady_share(steady_time: float, manoeuvre_time: float) -> np.ndarray:
    """The chain's long-run model probabilities: where a new track starts."""
    return np.array([steady_time, manoeuvre_time]) / (steady_time + manoeuvre_time)


class BoxIMM(BoxKalman):
    """One track's two-model filter: per-model states `xs` (2, 8) and covariances `Ps` (2, 8, 8), model
    probabilities `mu` (2,), and their mixture `x`, `P` (what the tracker reads, as BoxKalman's)."""

    def __init__(
        self,
        box: np.ndarray,
        position_weight: float = POSITION_WEIGHT,
        velocity_noise: float = VELOCITY_NOISE,
        position_noise: float = POSITION_NOISE,
        manoeuvre_noise: float = MANOEUVRE_NOISE,
        steady_time: float = STEADY_TIME,
        manoeuvre_time: float = MANOEUVRE_TIME,
    ):
        super().__init__(box, position_weight, velocity_noise, position_noise)
        self.noise = (
            float(position_weight),
            float(velocity_noise),
            float(position_noise),
            float(manoeuvre_noise),
            float(steady_time),
            float(manoeuvre_time),
        )
        self.xs = np.stack([self.x, self.x])
        self.Ps = np.stack([self.P, self.P])
        self.mu = steady_share(steady_time, manoeuvre_time)

    @property
    def P(self) -> np.ndarray:
        """The mixture's covariance, computed when read (the gate of a lost track reads it; most
        tracks' never is)."""
        if self._P is None:
            spread = self.xs - self.x
            self._P = np.einsum("j,jxy->xy", self.mu, self.Ps) + (spread.T * self.mu) @ spread
        return self._P

    @P.setter
    def P(self, value: np.ndarray) -> None:
        self._P = value

    @property
    def manoeuvring(self) -> float:
        """Probability that the track follows the manoeuvring model now."""
        return float(self.mu[1])

    @classmethod
    def predict_all(cls, filters: list["BoxKalman"], dt: float) -> None:
        if not filters:
            return
        _, steady, position_noise, manoeuvre, steady_time, manoeuvre_time = _shared(filters)
        xs, covariances, mu = _stack(filters)
        switch = switch_matrix(dt, steady_time, manoeuvre_time)
        predicted = mu @ switch  # (N, 2) model probabilities after dt
        # weights[n, j, i]: probability that a track in model j now was in model i before.
        weights = switch.T[None] * mu[:, None, :] / predicted[:, :, None]
        mixed = weights @ xs  # (N, to, 8)
        spread = xs[:, None, :, :] - mixed[:, :, None, :]  # (N, to, from, 8)
        count = len(filters)
        mixed_cov = (weights @ covariances.reshape(count, 2, 64)).reshape(count, 2, 8, 8) + (
            spread.transpose(0, 1, 3, 2) * weights[:, :, None, :]
        ) @ spread
        heights = np.repeat((mu * xs[:, :, 3]).sum(axis=1), 2)  # the mixture's, for both models
        x, covariance = predict_states(
            mixed.reshape(-1, 8),
            mixed_cov.reshape(-1, 8, 8),
            dt,
            (steady, manoeuvre),
            position_noise,
            heights,
        )
        _unstack(filters, x.reshape(count, 2, 8), covariance.reshape(count, 2, 8, 8), predicted)

    @classmethod
    def update_all(cls, filters: list["BoxKalman"], boxes: np.ndarray) -> None:
        if not filters:
            return
        xs, covariances, mu = _stack(filters)
        count = len(filters)
        heights = np.repeat((mu * xs[:, :, 3]).sum(axis=1), 2)  # the mixture's predicted height
        z = np.repeat(xyxy_to_xyah(boxes), 2, axis=0)
        x, covariance, residual, inverse = update_states(
            xs.reshape(-1, 8), covariances.reshape(-1, 8, 8), z, filters[0].noise[0], heights
        )
        # Log-likelihood of the box under each model (Gaussian innovation, 4 dof), normalised in logs.
        distance = ((residual[:, None, :] @ inverse)[:, 0] * residual).sum(axis=1)
        log_likelihood = (0.5 * (np.linalg.slogdet(inverse)[1] - distance)).reshape(count, 2)
        weights = mu * np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
        _unstack(
            filters,
            x.reshape(count, 2, 8),
            covariance.reshape(count, 2, 8, 8),
            weights / weights.sum(axis=1, keepdims=True),
        )

    def snapshot(self) -> tuple:
        """(x, models' states, covariances, probabilities); the covariance follows from them. Shared,
        not copied, as BoxKalman's: no step writes into them."""
        return self.x, self.xs, self.Ps, self.mu

    def restore(self, state: tuple) -> None:
        self.x, self.xs, self.Ps, self.mu = (part.copy() for part in state)
        self._P = None


class FilterPyBoxIMM(BoxIMM):
    """The same model on one filterpy `IMMEstimator` of two `KalmanFilter`s per track, stepped one track
    at a time: the reference BoxIMM is held to (`TrackerConfig.kalman = "filterpy"`)."""

    def __init__(self, box: np.ndarray, *noise: float):
        """The same arguments as BoxIMM's; filterpy is imported here (the numpy engine runs without it)."""
        from filterpy.kalman import IMMEstimator, KalmanFilter

        start = BoxIMM(box, *noise)
        models = []
        for model in range(2):
            kf = KalmanFilter(dim_x=8, dim_z=4)
            kf.H = np.eye(4, 8)
            kf.x, kf.P = start.xs[model].reshape(8, 1).copy(), start.Ps[model].copy()
            models.append(kf)
        self.noise = start.noise
        self.imm = IMMEstimator(models, start.mu.copy(), switch_matrix(0.0, *start.noise[4:]))

    x = property(lambda self: self.imm.x[:, 0])
    P = property(lambda self: self.imm.P)
    xs = property(lambda self: np.stack([kf.x[:, 0] for kf in self.imm.filters]))
    Ps = property(lambda self: np.stack([kf.P for kf in self.imm.filters]))
    mu = property(lambda self: self.imm.mu)

    @classmethod
    def predict_all(cls, filters: list[BoxKalman], dt: float) -> None:
        dt = max(float(dt), 0.0)
        for f in filters:
            _, steady, position_noise, manoeuvre, steady_time, manoeuvre_time = f.noise
            height = max(f.height, 1.0)
            for kf, noise in zip(f.imm.filters, (steady, manoeuvre), strict=True):
                transition, scaled, aspect = _step_matrices(dt, noise, position_noise)
                kf.F, kf.Q = transition, height**2 * scaled + aspect
                if kf.x[3, 0] + kf.x[7, 0] * dt <= 1.0:  # never shrink below a pixel (before the mixing
                    kf.x[7, 0] = 0.0  # here, after it in the numpy engine: the same unless boxes vanish)
            f.imm.M = switch_matrix(dt, steady_time, manoeuvre_time)
            f.imm._compute_mixing_probabilities()  # with this step's M, from the current probabilities
            f.imm.predict()
            f.imm.mu = f.imm.cbar.copy()  # the probabilities predicted across dt
            f.imm._compute_state_estimate()

    @classmethod
    def update_all(cls, filters: list[BoxKalman], boxes: np.ndarray) -> None:
        for f, z in zip(filters, xyxy_to_xyah(boxes), strict=True):
            noise = _measurement_noise(f.x[3:4], f.noise[0])[0]
            for kf in f.imm.filters:
                kf.R = noise
            f.imm.update(z)

    def snapshot(self) -> tuple:
        return self.x.copy(), self.xs.copy(), self.Ps.copy(), self.mu.copy()

    def restore(self, state: tuple) -> None:
        _, xs, covariances, mu = state
        # filterpy's update weighs by `cbar` (the predicted probabilities), not `mu`: a restored
        # prediction (a re-update's replay starts from one) must bring both back.
        self.imm.mu, self.imm.cbar = mu.copy(), mu.copy()
        for kf, state_x, state_p in zip(self.imm.filters, xs, covariances, strict=True):
            kf.x, kf.P = state_x.reshape(8, 1).copy(), state_p.copy()
        self.imm._compute_state_estimate()


def _shared(filters: list[BoxKalman]) -> tuple[float, ...]:
    noise = filters[0].noise
    if any(f.noise != noise for f in filters):
        raise ValueError("filters stepped together must share their noise settings")
    return noise


def _stack(filters: list[BoxKalman]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([f.xs for f in filters]),
        np.array([f.Ps for f in filters]),
        np.array([f.mu for f in filters]),
    )


def _unstack(filters: list[BoxKalman], xs: np.ndarray, covariances: np.ndarray, mu: np.ndarray) -> None:
    """Store each filter's models and probabilities, and their mixture's mean as its x (its
    covariance P follows when read)."""
    x = (mu[:, None, :] @ xs)[:, 0]
    for f, *state in zip(filters, xs, covariances, mu, x, strict=True):
        f.xs, f.Ps, f.mu, f.x = state
        f._P = None
