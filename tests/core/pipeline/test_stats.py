"""Live statistics: bounded latency windows with percentiles, the one FPS definition, per-source snapshots."""

import threading

import numpy as np
import pytest

from core.pipeline.stats import FPS_FRAMES, STAGES, FpsMeter, LatencyWindow, StatsCollector


def test_latency_window_percentiles_follow_numpy_over_the_last_values_only():
    window = LatencyWindow(size=100)
    assert window.p50 is None and window.p95 is None
    for value in range(1000):  # only the last 100 (900 … 999) remain
        window.add(value / 1000)
    assert len(window) == 100
    expected = np.arange(900, 1000) / 1000
    assert window.p50 == pytest.approx(np.percentile(expected, 50))
    assert window.p95 == pytest.approx(np.percentile(expected, 95))
    assert window.p50 < window.p95


def test_latency_window_rejects_an_empty_size():
    with pytest.raises(ValueError):
        LatencyWindow(size=0)


class FakeClock:
    """Wall time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fps_is_frames_shown_per_second_over_the_last_frames_and_forgets_the_old_rate():
    clock = FakeClock()
    meter = FpsMeter(frames=FPS_FRAMES, clock=clock)
    assert meter.fps() == 0.0
    for _ in range(60):  # 30 fps
        clock.now += 1 / 30
        meter.tick()
    assert meter.fps() == pytest.approx(30.0, rel=1e-6)
    for _ in range(FPS_FRAMES):  # then 10 fps: after FPS_FRAMES frames the 30 fps part is forgotten
        clock.now += 1 / 10
        meter.tick()
    assert meter.fps() == pytest.approx(10.0, rel=1e-6)


def test_fps_stays_steady_when_frames_come_in_bursts():
    """A batch of 4 frames every 0.4 s is 10 frames/s, whenever one looks (a 2 s window read 100+)."""
    clock = FakeClock()
    meter = FpsMeter(clock=clock)
    readings = []
    for _ in range(40):
        clock.now += 0.2
        for _ in range(4):
            meter.tick()
        readings.append(meter.fps())
        clock.now += 0.2  # looked at between two bursts too
        readings.append(meter.fps())
    steady = readings[20:]
    assert min(steady) > 9.0 and max(steady) < 11.0, (min(steady), max(steady))


def test_fps_falls_to_zero_when_no_frame_arrives():
    clock = FakeClock()
    meter = FpsMeter(clock=clock)
    for _ in range(FPS_FRAMES):
        clock.now += 0.1
        meter.tick()
    assert meter.fps() == pytest.approx(10.0)
    clock.now += 0.1  # waiting for the next frame is not a slowdown
    assert meter.fps() == pytest.approx(10.0)
    clock.now += 0.5  # but a frame that is late lowers the rate at once ...
    late = meter.fps()
    assert late < 10.0
    clock.now += 0.5
    assert 0 < meter.fps() < late
    clock.now += 5.0  # ... and nothing for a while reads 0, never the last value frozen
    assert meter.fps() == 0.0
    meter.tick()
    assert meter.fps() > 0  # a new frame brings it back


def test_every_reader_sees_the_same_fps_at_the_same_moment():
    """The snapshot (panel, overlay, summary) and fps() (burned-in overlay, JSONL) are one number."""
    clock = FakeClock()
    stats = StatsCollector("cam", clock=clock)
    for _ in range(50):
        clock.now += 0.05
        stats.frame_done(people=1, track_ids=[1])
    assert stats.snapshot().fps == stats.fps() == pytest.approx(20.0)
    clock.now += 10.0
    assert stats.snapshot().fps == stats.fps() == 0.0


def test_collector_snapshot_has_every_stage_people_tracks_and_fps():
    stats = StatsCollector("cam")
    for stage in STAGES:
        stats.add_latency(stage, 0.010)
    stats.add_latency("pose", 0.030)
    for frame in range(10):
        ids = [1, 2] if frame < 5 else [2, 3]
        stats.frame_done(people=2 if frame % 2 else 4, track_ids=ids, now=frame * 0.1)
    snap = stats.snapshot()
    assert snap.source == "cam" and snap.frames == 10
    assert snap.people == pytest.approx(3.0) and snap.people_last == 2
    assert snap.tracks == 3  # IDs 1, 2, 3
    assert snap.mean_fps == pytest.approx(10.0)
    assert set(snap.stages) == {*STAGES, "total"}
    assert snap.stages["capture"].p50_ms == pytest.approx(10.0)
    assert snap.stages["pose"].p95_ms > snap.stages["pose"].p50_ms
    assert snap.stages["total"].p50_ms is None  # no sample yet: unknown, not zero
    ten = pytest.approx(10.0)
    assert snap.to_dict()["stages"]["detect"] == {"p50_ms": ten, "p95_ms": ten}


def test_distinct_track_count_stays_exact_while_old_ids_are_forgotten():
    stats = StatsCollector("cam")
    stats.forget_after = 50
    for frame in range(3000):  # a new person every 100 frames, each visible for 100 frames
        stats.frame_done(people=1, track_ids=[frame // 100], now=frame / 30)
    assert stats.snapshot().tracks == 30
    assert len(stats._last_seen) <= 2  # memory stays bounded on a camera that runs for days
    stats.forget_ids()  # a new tracker restarts its IDs: they count as new people
    stats.frame_done(people=1, track_ids=[0], now=101.0)
    assert stats.snapshot().tracks == 31


def test_collector_is_safe_to_read_while_stages_write():
    stats = StatsCollector("cam")
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            stats.add_latency("pose", 0.001 * (i % 7))
            stats.frame_done(people=1, track_ids=[i % 5])
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        snaps = [stats.snapshot() for _ in range(200)]
    finally:
        stop.set()
        thread.join()
    frames = [s.frames for s in snaps]
    assert frames == sorted(frames) and frames[-1] > 0
