"""The constant-velocity box filter, in seconds."""

import numpy as np
import pytest

from core.track.kalman import CHI2_95_4DOF, BoxKalman, FilterPyBoxKalman

DT = 0.04  # 25 fps


def box_at(x: float, y: float, w: float = 40, h: float = 100) -> np.ndarray:
    return np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2])


def test_starts_at_the_first_box_with_zero_velocity():
    kf = BoxKalman(box_at(100, 200))
    assert np.allclose(kf.box, box_at(100, 200))
    assert np.allclose(kf.velocity, 0)


def test_learns_constant_velocity_in_pixels_per_second_and_predicts_ahead():
    kf = BoxKalman(box_at(0, 200))
    for t in range(1, 30):
        kf.predict(DT)
        kf.update(box_at(125 * t * DT, 200))
    assert kf.velocity[0] == pytest.approx(125, abs=8)
    kf.predict(DT)
    assert np.allclose(kf.box, box_at(125 * 30 * DT, 200), atol=2)


def test_constant_velocity_seen_at_irregular_times_is_predicted_within_a_pixel_across_gaps():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.choice([0.02, 0.04, 0.1, 0.3], size=40))  # 50 fps bursts to 3 fps gaps
    velocity = np.array([60.0, -20.0])  # pixels per second

    def truth(t: float) -> np.ndarray:
        h = 120 + 4 * t  # walking closer: the height grows, the aspect stays
        return box_at(300 + velocity[0] * t, 400 + velocity[1] * t, 0.4 * h, h)

    kf = BoxKalman(truth(0.0))
    last = 0.0
    for t in times:
        kf.predict(t - last)
        kf.update(truth(t))
        last = t
    for gap in (0.05, 0.5, 1.5):
        ahead = BoxKalman(truth(0.0))
        ahead.restore(kf.snapshot())
        ahead.predict(gap)
        assert np.abs(ahead.box - truth(last + gap)).max() < 1.0


def test_one_prediction_across_a_gap_equals_the_frame_by_frame_predictions():
    kf = BoxKalman(box_at(0, 200))
    for t in range(1, 10):
        kf.predict(DT)
        kf.update(box_at(5 * t, 200))
    once, stepped = BoxKalman(box_at(0, 0)), BoxKalman(box_at(0, 0))
    once.restore(kf.snapshot())
    stepped.restore(kf.snapshot())
    once.predict(10 * DT)
    for _ in range(10):
        stepped.predict(DT)
    assert np.allclose(once.x, stepped.x)
    # The noise is proportional to the height, re-read each step; at a constant height both agree.
    assert np.allclose(once.P, stepped.P, rtol=1e-3)


def test_uncertainty_and_gate_widen_with_the_time_lost():
    kf = BoxKalman(box_at(100, 100))
    for _ in range(10):
        kf.predict(DT)
        kf.update(box_at(100, 100))
    short, long = BoxKalman(box_at(0, 0)), BoxKalman(box_at(0, 0))
    short.restore(kf.snapshot())
    long.restore(kf.snapshot())
    short.predict(0.1)
    long.predict(2.0)
    far = box_at(160, 100)
    assert short.mahalanobis(far[None])[0] > CHI2_95_4DOF > long.mahalanobis(far[None])[0]


def test_noise_scales_with_height():
    small, large = BoxKalman(box_at(0, 0, 20, 50)), BoxKalman(box_at(0, 0, 80, 200))
    small.predict(DT), large.predict(DT)
    assert large.P[0, 0] / small.P[0, 0] == pytest.approx(16, rel=1e-6)  # (200 / 50) ** 2


def test_mahalanobis_gate_rejects_far_boxes():
    kf = BoxKalman(box_at(100, 100))
    for _ in range(10):
        kf.predict(DT)
        kf.update(box_at(100, 100))
    kf.predict(DT)
    distances = kf.mahalanobis(np.stack([box_at(102, 100), box_at(160, 100), box_at(100, 100, 80, 100)]))
    assert distances[0] < CHI2_95_4DOF < distances[1]
    assert distances[2] > CHI2_95_4DOF  # same place, twice as wide: a different shape


def test_height_never_goes_negative():
    kf = BoxKalman(box_at(0, 0, 10, 20))
    for h in (15, 10, 5, 2):
        kf.predict(DT)
        kf.update(box_at(0, 0, h / 2, h))
    for _ in range(20):
        kf.predict(DT)
    kf.predict(10.0)
    assert kf.height > 0


def _walk(seed: int) -> list[tuple[float, np.ndarray | None]]:
    """(time step, observed box or None for a missed frame) of one person walking irregularly."""
    rng = np.random.default_rng(seed)
    steps, centre, height = [], np.array([200.0, 300.0]), 150.0
    for _ in range(60):
        dt = float(rng.choice([0.02, 0.04, 0.1, 0.5]))
        centre = centre + rng.normal(0, 40, 2) * dt + [80 * dt, 0]
        height *= 1 + rng.normal(0, 0.01)
        box = box_at(*centre, 0.4 * height, height) + rng.normal(0, 2, 4)
        steps.append((dt, None if rng.random() < 0.2 else box))
    return steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_batched_filter_follows_filterpy_step_by_step(seed):
    steps = _walk(seed)
    ours, reference = BoxKalman(steps[0][1]), FilterPyBoxKalman(steps[0][1])
    for dt, box in steps[1:]:
        ours.predict(dt)
        reference.predict(dt)
        assert np.allclose(ours.P, reference.kf.P, rtol=1e-9, atol=1e-9)
        if box is not None:
            ours.update(box)
            reference.update(box)
        assert np.allclose(ours.x, reference.kf.x[:, 0], rtol=1e-9, atol=1e-9)
        assert np.allclose(ours.P, reference.kf.P, rtol=1e-9, atol=1e-9)
        assert np.allclose(
            ours.mahalanobis(box_at(210, 300)[None]), reference.mahalanobis(box_at(210, 300)[None])
        )


def test_stepping_many_filters_at_once_equals_stepping_each_alone():
    walks = [_walk(seed) for seed in range(5)]
    together = [BoxKalman(walk[0][1]) for walk in walks]
    alone = [BoxKalman(walk[0][1]) for walk in walks]
    for step in range(1, 40):
        dt = 0.04 * (1 + step % 3)
        BoxKalman.predict_all(together, dt)
        for f in alone:
            f.predict(dt)
        boxes = np.stack([walk[step][1] if walk[step][1] is not None else walk[0][1] for walk in walks])
        BoxKalman.update_all(together, boxes)
        for f, box in zip(alone, boxes, strict=True):
            f.update(box)
    for a, b in zip(together, alone, strict=True):
        assert np.allclose(a.x, b.x, rtol=1e-12) and np.allclose(a.P, b.P, rtol=1e-12)


def test_filters_of_different_noise_settings_are_not_stepped_together():
    with pytest.raises(ValueError, match="share"):
        BoxKalman.predict_all([BoxKalman(box_at(0, 0)), BoxKalman(box_at(0, 0), velocity_noise=1.0)], DT)
