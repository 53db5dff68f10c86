"""One-Euro filter: less jitter at rest, little lag on fast moves."""

import numpy as np
import pytest

from core.track.smoothing import OneEuroFilter

FPS = 30.0


def run(signal: np.ndarray, **kwargs) -> np.ndarray:
    smoother = OneEuroFilter(**kwargs)
    return np.array([smoother(x, t / FPS, scale=100.0) for t, x in enumerate(signal)])


def test_reduces_jitter_on_a_noisy_straight_line():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    truth = np.stack([100 + 0.5 * t, 200 + 0.2 * t], axis=1)  # slow walk (15 px/s), 100 px tall person
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    smoothed = run(noisy)
    raw_error = np.abs(noisy - truth)[30:].mean()
    smooth_error = np.abs(smoothed - truth)[30:].mean()
    assert smooth_error < 0.7 * raw_error
    jitter = lambda x: np.abs(np.diff(x, 2, axis=0)).mean()  # noqa: E731
    assert jitter(smoothed[30:]) < 0.3 * jitter(noisy[30:])


def test_follows_a_step_without_lag():
    signal = np.where(np.arange(60)[:, None] < 30, 0.0, 100.0) * np.ones((1, 2))  # a one-height jump
    smoothed = run(signal)
    assert np.allclose(smoothed[29], 0.0)
    assert (smoothed[31] > 90).all()  # within 2 frames (67 ms) it covers 90 % of the jump
    assert np.abs(smoothed[40:] - 100).max() < 2.0


def test_heavier_smoothing_lags_more():
    signal = np.where(np.arange(60)[:, None, None] < 30, 0.0, 100.0) * np.ones((1, 17, 2))
    fast = run(signal, beta=3.0)
    slow = run(signal, beta=0.0)  # a plain low-pass filter at min_cutoff
    assert (fast[31] > slow[31]).all()
    assert fast.shape == (60, 17, 2)


def test_first_value_and_shape_change_restart_the_filter():
    smoother = OneEuroFilter()
    assert np.array_equal(smoother(np.array([5.0, 6.0]), 0.0), [5.0, 6.0])
    assert np.array_equal(smoother(np.array([1.0, 2.0, 3.0]), 0.1), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)
