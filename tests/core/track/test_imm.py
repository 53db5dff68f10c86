"""The two-model (steady walker, manoeuvring person) box filter: filterpy's IMMEstimator as reference,
mode probabilities that follow what the person does, and switching that holds at any frame rate."""

import numpy as np
import pytest

from core.track.imm import BoxIMM, FilterPyBoxIMM, steady_share, switch_matrix


def box_at(x: float, y: float, w: float = 40, h: float = 100) -> np.ndarray:
    return np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2])


def _walk(seed: int) -> list[tuple[float, np.ndarray | None]]:
    """(time step, observed box or None for a missed frame): a walker who swerves now and then."""
    rng = np.random.default_rng(seed)
    steps, centre, height, velocity = [], np.array([200.0, 300.0]), 150.0, np.array([80.0, 0.0])
    for k in range(60):
        dt = float(rng.choice([0.02, 0.04, 0.1, 0.5]))
        if k % 20 == 10:
            velocity = rng.normal(0, 120, 2)
        centre = centre + velocity * dt
        height *= 1 + rng.normal(0, 0.01)
        box = box_at(*centre, 0.4 * height, height) + rng.normal(0, 2, 4)
        steps.append((dt, None if k and rng.random() < 0.2 else box))
    return steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_batched_imm_follows_filterpy_imm_step_by_step(seed):
    steps = _walk(seed)
    ours, reference = BoxIMM(steps[0][1]), FilterPyBoxIMM(steps[0][1])
    for dt, box in steps[1:]:
        BoxIMM.predict_all([ours], dt)
        FilterPyBoxIMM.predict_all([reference], dt)
        assert np.allclose(ours.mu, reference.mu, rtol=1e-9, atol=1e-12)
        assert np.allclose(ours.x, reference.x, rtol=1e-9, atol=1e-9)
        assert np.allclose(ours.P, reference.P, rtol=1e-9, atol=1e-9)
        if box is not None:
            BoxIMM.update_all([ours], box[None])
            FilterPyBoxIMM.update_all([reference], box[None])
        assert np.allclose(ours.mu, reference.mu, rtol=1e-7, atol=1e-12)
        assert np.allclose(ours.xs, reference.xs, rtol=1e-9, atol=1e-9)
        assert np.allclose(ours.x, reference.x, rtol=1e-9, atol=1e-9)
        assert np.allclose(ours.P, reference.P, rtol=1e-9, atol=1e-9)


def test_stepping_many_tracks_at_once_equals_stepping_each_alone():
    walks = [_walk(seed) for seed in range(4)]
    together = [BoxIMM(walk[0][1]) for walk in walks]
    alone = [BoxIMM(walk[0][1]) for walk in walks]
    for step in range(1, 40):
        dt = 0.04 * (1 + step % 3)
        BoxIMM.predict_all(together, dt)
        for f in alone:
            f.predict(dt)
        boxes = np.stack([walk[step][1] if walk[step][1] is not None else walk[0][1] for walk in walks])
        BoxIMM.update_all(together, boxes)
        for f, box in zip(alone, boxes, strict=True):
            f.update(box)
    for a, b in zip(together, alone, strict=True):
        assert np.allclose(a.x, b.x, rtol=1e-12) and np.allclose(a.mu, b.mu, rtol=1e-12)


def test_a_steady_walker_is_steady_and_a_sudden_turn_is_a_manoeuvre():
    imm, t = BoxIMM(box_at(0, 300)), 0.0
    long_run = steady_share(imm.noise[4], imm.noise[5])[1]
    for _ in range(50):  # 2 s straight at 1 body height per second, 25 fps
        t += 0.04
        imm.predict(0.04)
        imm.update(box_at(100 * t, 300))
    assert imm.manoeuvring < 0.7 * long_run
    turned = 0.0
    for k in range(1, 8):  # turns a right angle at once: within 0.3 s the manoeuvre model leads
        imm.predict(0.04)
        imm.update(box_at(100 * t, 300 + 100 * 0.04 * k))
        turned = max(turned, imm.manoeuvring)
    assert turned > 0.8


def test_switching_is_the_same_at_any_frame_rate_and_tends_to_the_long_run_share():
    one_step = switch_matrix(0.2, 5.0, 1.0)
    five_steps = np.linalg.matrix_power(switch_matrix(0.04, 5.0, 1.0), 5)
    assert np.allclose(one_step, five_steps) and np.allclose(one_step.sum(axis=1), 1.0)
    assert np.allclose(steady_share(5.0, 1.0) @ switch_matrix(123.0, 5.0, 1.0), steady_share(5.0, 1.0))
    assert np.allclose(switch_matrix(1e3, 5.0, 1.0), [steady_share(5.0, 1.0)] * 2)


def test_a_lost_track_leans_towards_the_manoeuvre_as_the_seconds_pass():
    imm = BoxIMM(box_at(0, 300))
    for k in range(1, 40):
        imm.predict(0.04)
        imm.update(box_at(4 * k, 300))
    before = imm.manoeuvring
    imm.predict(2.0)
    assert before < imm.manoeuvring <= steady_share(imm.noise[4], imm.noise[5])[1] + 1e-9


def test_the_numpy_imm_and_the_offline_pass_need_no_filterpy():
    """A bare GPU machine has no filterpy: only the filterpy engines may import it."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['filterpy'] = None\n"
        "import numpy as np\n"
        "from core.records import Detection\n"
        "from core.track import Tracker, TrackerConfig\n"
        "from core.track.offline import Journal, offline_tracks\n"
        "config, journal = TrackerConfig(motion='imm'), Journal()\n"
        "tracker = Tracker(config, journal)\n"
        "for k in range(10):\n"
        "    tracker.update([Detection(np.array([10.0 + k, 10, 50 + k, 110]), 0.9)], timestamp=k / 25)\n"
        "print(len(offline_tracks(journal, config).tracks))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr
