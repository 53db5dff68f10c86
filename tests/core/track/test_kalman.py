"""The constant-velocity box filter."""

import numpy as np
import pytest

from core.track.kalman import CHI2_95_4DOF, BoxKalman


def box_at(x: float, y: float, w: float = 40, h: float = 100) -> np.ndarray:
    return np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2])


def test_starts_at_the_first_box_with_zero_velocity():
    kf = BoxKalman(box_at(100, 200))
    assert np.allclose(kf.box, box_at(100, 200))
    assert np.allclose(kf.velocity, 0)


def test_learns_constant_velocity_and_predicts_ahead():
    kf = BoxKalman(box_at(0, 200))
    for t in range(1, 30):
        kf.predict()
        kf.update(box_at(5 * t, 200))
    assert kf.velocity[0] == pytest.approx(5, abs=0.3)
    kf.predict()
    assert np.allclose(kf.box, box_at(150, 200), atol=2)


def test_noise_scales_with_height():
    small, large = BoxKalman(box_at(0, 0, 20, 50)), BoxKalman(box_at(0, 0, 80, 200))
    small.predict(), large.predict()
    assert large.kf.P[0, 0] / small.kf.P[0, 0] == pytest.approx(16, rel=1e-6)  # (200 / 50) ** 2


def test_mahalanobis_gate_rejects_far_boxes():
    kf = BoxKalman(box_at(100, 100))
    for _ in range(10):
        kf.predict()
        kf.update(box_at(100, 100))
    kf.predict()
    distances = kf.mahalanobis(np.stack([box_at(102, 100), box_at(160, 100), box_at(100, 100, 80, 100)]))
    assert distances[0] < CHI2_95_4DOF < distances[1]
    assert distances[2] > CHI2_95_4DOF  # same place, twice as wide: a different shape


def test_height_never_goes_negative():
    kf = BoxKalman(box_at(0, 0, 10, 20))
    for h in (15, 10, 5, 2):
        kf.predict()
        kf.update(box_at(0, 0, h / 2, h))
    for _ in range(20):
        kf.predict()
    assert kf.height > 0
