"""How the window tells each source's health: tiles that say how fresh their picture is, a camera far
below its own rate pointed out once with what would help, the event log's numbers once a second."""

import json
from dataclasses import replace

import pytest

PyQt6 = pytest.importorskip("PyQt6")

from app.events import EventLog  # noqa: E402
from app.health_watch import WAITING_TEXT, HealthWatch, lighter_settings, tile_texts  # noqa: E402
from app.video_view import VideoView  # noqa: E402
from app.worker import SourceHealth  # noqa: E402
from core.pipeline import PipelineConfig  # noqa: E402
from core.pipeline.stats import SourceStats  # noqa: E402


def stats_at(fps: float, name: str = "cam") -> SourceStats:
    return SourceStats(name, 500, fps, fps, 1.0, 1, 3, 0)


def camera(rate: float = 25.0) -> SourceHealth:
    return SourceHealth(live=True, rate=rate, last_frame_age=0.1, state=None)


def test_a_tile_waits_for_its_first_frame_then_says_when_its_picture_gets_old(qapp):
    from PyQt6.QtGui import QImage

    view = VideoView("cam")
    now = view.created
    assert tile_texts(view, None, now + 0.2, False) == (WAITING_TEXT, "")
    assert tile_texts(view, None, now + 4.2, False) == (f"{WAITING_TEXT} (4 s)", "")
    view.set_image(QImage(8, 8, QImage.Format.Format_RGB888))
    shown = view.last_image_at
    stats = stats_at(120.0)
    assert tile_texts(view, stats, shown + 2.0, False) == ("", "")
    assert tile_texts(view, stats, shown + 7.4, False) == ("", "no new frame for 7 s")
    assert tile_texts(view, stats, shown + 7.4, True) == ("", "")  # paused or finished: expected
    slow = replace(stats_at(120.0), fps=0.25)
    assert tile_texts(view, slow, shown + 7.4, False) == ("", "")  # a frame every 4 s: not late yet


def test_a_camera_far_below_its_rate_is_pointed_out_once_after_ten_seconds_with_what_would_help():
    watch, config = HealthWatch(), PipelineConfig(width=48, preset="paper", input_size=(288, 384), flip=True)
    slow, health = {"cam": stats_at(5.0)}, {"cam": camera(25.0)}
    assert watch.slow_cameras(slow, health, 100.0, False, config) == []  # slow since now
    assert watch.slow_cameras(slow, health, 109.0, False, config) == []
    (message,) = watch.slow_cameras(slow, health, 110.0, False, config)
    assert message.startswith("cam: 5.0 FPS on screen of the camera's 25") and "flip test off" in message
    assert watch.slow_cameras(slow, health, 130.0, False, config) == []  # once per source
    watch.forget(["cam"])  # opened again: a new camera as far as the window is concerned
    assert watch.slow_cameras(slow, health, 131.0, False, config) == []
    assert len(watch.slow_cameras(slow, health, 141.0, False, config)) == 1


def test_a_camera_is_not_slow_while_paused_above_half_its_rate_or_when_it_is_a_file():
    watch, config = HealthWatch(), PipelineConfig()
    health = {"cam": camera(25.0)}
    for now in (0.0, 20.0):
        assert watch.slow_cameras({"cam": stats_at(5.0)}, health, now, True, config) == []
        assert watch.slow_cameras({"cam": stats_at(13.0)}, health, now, False, config) == []
        file = {"cam": replace(camera(25.0), live=False)}
        assert watch.slow_cameras({"cam": stats_at(5.0)}, file, now, False, config) == []
    # slowness must last: an interruption starts the ten seconds again
    assert watch.slow_cameras({"cam": stats_at(5.0)}, health, 30.0, False, config) == []
    assert watch.slow_cameras({"cam": stats_at(13.0)}, health, 35.0, False, config) == []
    assert watch.slow_cameras({"cam": stats_at(5.0)}, health, 41.0, False, config) == []


def test_lighter_settings_name_the_most_effective_changes_first():
    config = PipelineConfig(width=48, preset="paper", input_size=(288, 384), flip=True)
    assert lighter_settings(config) == "the flip test off, width W32, input 192x256"
    light = PipelineConfig(backend="onnxruntime", interval=3)
    assert lighter_settings(light) == "fewer sources in this window"


def test_the_event_log_gets_each_first_frame_once_and_the_numbers_once_a_second(qapp, tmp_path):
    from PyQt6.QtGui import QImage

    log_path = tmp_path / "events.jsonl"
    events, watch, view = EventLog(log_path), HealthWatch(), VideoView("cam")
    view.set_image(QImage(8, 8, QImage.Format.Format_RGB888))
    view.first_painted_at = view.created + 0.5  # painted (the offscreen view may not paint by itself)
    stats, health = {"cam": stats_at(20.0)}, {"cam": camera()}
    for now in (10.0, 10.4, 10.9, 11.0):
        watch.log(events, {"cam": view}, stats, health, now)
    events.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["first_frame", "stats", "stats"]
    assert lines[0]["after_s"] == 0.5 and lines[1]["sources"]["cam"]["fps"] == 20.0
