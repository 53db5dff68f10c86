"""The live experience: one FPS everywhere, statistics that follow the sources, stream state in the
window, a HUD of constant size, recordings as long as the wall time, and the smaller promises."""

import math
import resource
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

PyQt6 = pytest.importorskip("PyQt6")
from PyQt6.QtGui import QColor, QImage  # noqa: E402
from PyQt6.QtWidgets import QApplication, QPushButton  # noqa: E402

from app.main import missing_xcb_packages, require_display  # noqa: E402
from app.recorder import Recorder  # noqa: E402
from app.video_view import Tag, VideoView  # noqa: E402
from app.window import ERROR_COLORS, UNTRAINED_TEXT  # noqa: E402
from core.errors import UserError  # noqa: E402
from tests.support.qt import settle, wait_until  # noqa: E402


def only_view(window):
    assert len(window.views) == 1, window.views
    return next(iter(window.views.values()))


def test_panel_and_overlay_show_one_fps_that_falls_to_zero_when_frames_stop(make_window, checkpoint, street):
    window = make_window(checkpoint)
    window.open_sources([str(street)])
    assert wait_until(lambda: window.views and only_view(window).frames_shown >= 2)
    window.refresh_stats()
    view = only_view(window)
    assert view._fps is not None and f"{view._fps:.1f}" == window.stats_panel.fps.text()
    assert wait_until(lambda: "end of file" in window.status_text())
    # Nothing arrives any more: the FPS reads 0 (after 5 usual intervals, at least 2 s), not frozen.
    assert wait_until(lambda: window.stats_panel.fps.text() == "0.0", 30)
    assert view._fps == 0.0
    assert window.stats_panel.sources() == [f"{street} (finished)"]  # marked, not a dead entry


def test_statistics_follow_the_running_sources(make_window, checkpoint, street, long_video):
    window = make_window(checkpoint)
    window.open_sources([str(long_video)])
    assert wait_until(lambda: window.worker.frames_received >= 3)
    window.refresh_stats()
    assert window.stats_panel.sources() == [str(long_video)]
    window.open_sources([str(street)])  # replaces the running source, without Stop
    assert wait_until(lambda: list(window.views) == [str(street)] and window.views[str(street)].frames_shown)
    window.refresh_stats()
    assert window.stats_panel.sources() in ([str(street)], [f"{street} (finished)"])
    frames = int(window.stats_panel.values["frames"].text())
    assert 1 <= frames <= 5  # street's own numbers, not the long clip's
    window.stop()
    assert wait_until(lambda: window.status_text() == "stopped")  # Stop says so
    window.refresh_stats()
    assert window.stats_panel.sources() == [] and window.stats_panel.fps.text() == "–"


def test_capture_to_screen_latency_is_measured_per_painted_frame(make_window, checkpoint, long_video):
    window = make_window(checkpoint)
    window.open_sources([str(long_video)])
    assert wait_until(lambda: window.views and len(only_view(window).latency) >= 5, 60)
    window.refresh_stats()
    panel = window.stats_panel
    on_screen = panel.table.item(panel.ROWS.index(panel.SCREEN), 0).text()
    assert on_screen != "–" and 0 < float(on_screen) < 60_000
    assert only_view(window).latency.p50 * 1000 == pytest.approx(float(on_screen), abs=0.06)


def hud_height(view: VideoView) -> int:
    """Rows holding the FPS text's white pixels, in the view's own screen pixels."""
    grab = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rect = view.hud_fps_rect()
    pixels = np.frombuffer(grab.constBits().asstring(grab.sizeInBytes()), np.uint8)
    pixels = pixels.reshape(grab.height(), grab.bytesPerLine())[:, : grab.width() * 3]
    pixels = pixels.reshape(grab.height(), grab.width(), 3)
    region = pixels[rect.top() : rect.bottom(), rect.left() : rect.right()]
    rows = np.flatnonzero((region.min(axis=2) > 200).any(axis=1))
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def test_hud_text_keeps_its_size_at_any_view_size(qapp):
    """In a grid the old burned-in FPS shrank to ~7 px with the frame; screen-painted text does not."""
    frame = QImage(1920, 1080, QImage.Format.Format_RGB888)
    frame.fill(QColor(90, 90, 90))
    heights = {}
    for size in ((320, 180), (1280, 720)):
        view = VideoView()
        view.resize(*size)
        view.set_image(frame, tags=[Tag(100.0, 200.0, "7", (0, 200, 255))])
        view.set_fps(12.5)
        heights[size] = hud_height(view)
    assert heights[(320, 180)] >= 8 and abs(heights[(320, 180)] - heights[(1280, 720)]) <= 1, heights


def test_a_lost_stream_greys_its_last_frame_under_a_badge(qapp):
    frame = QImage(320, 180, QImage.Format.Format_RGB888)
    frame.fill(QColor(240, 240, 240))
    view = VideoView("rtsp://***@cam/live")
    view.resize(320, 180)
    view.set_image(frame)
    bright = view.grab().toImage().pixelColor(160, 150).lightness()
    view.set_badge("STREAM LOST", stale=True)
    assert view.grab().toImage().pixelColor(160, 150).lightness() < bright - 60


def test_recording_plays_as_long_as_it_was_recorded(tmp_path):
    """78 frames over 6 s of wall time (13 fps) from a 15 fps camera: 6 s of video, not 5.2 s."""
    import cv2

    from core.video.sources import Frame

    now = [0.0]
    recorder = Recorder(tmp_path, "trained", clock=lambda: now[0])
    image = np.zeros((90, 160, 3), np.uint8)
    for index in range(78):
        now[0] = index * 6.0 / 78
        recorder.write("cam", Frame(index, now[0], image, "cam", fps=13.0), [], image, 15.0)
    now[0] = 6.0
    recorder.close()
    capture = cv2.VideoCapture(str(next(tmp_path.glob("cam-*.mp4"))))
    frames, rate = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
    assert rate == pytest.approx(15.0) and frames / rate == pytest.approx(6.0, abs=1 / 15)
    lines = next(tmp_path.glob("cam-*.jsonl")).read_text().splitlines()
    assert len(lines) == 79  # the header and every frame, each with its own time and FPS
    assert '"fps":13.0' in lines[-1]


def test_keypoint_threshold_follows_the_display_control(make_window, checkpoint):
    window = make_window(checkpoint)
    assert window.display_panel.kpt_threshold.value() == pytest.approx(0.3)
    window.display_panel.kpt_threshold.setValue(0.05)
    assert wait_until(lambda: window.worker.style.kpt_threshold == pytest.approx(0.05))


def test_what_is_not_a_video_is_refused_in_one_line(make_window, checkpoint, shared_data, tmp_path):
    window = make_window(checkpoint)
    window.open_sources([str(shared_data / "mot15" / "TUD-Campus" / "gt.txt")])
    assert wait_until(lambda: window.last_error != "")
    assert "not a video" in window.last_error and "text file" in window.last_error
    assert not window.views


def test_a_glob_of_videos_opens_them_side_by_side(make_window, checkpoint, shared_data, tmp_path):
    for name in ("street", "soccer"):
        (tmp_path / f"{name}.mp4").write_bytes((shared_data / "video" / f"{name}.mp4").read_bytes())
    window = make_window(checkpoint)
    window.open_sources([str(tmp_path / "*.mp4")])
    assert wait_until(lambda: len(window.views) == 2), window.status_text()


def test_stop_cancels_a_pending_connect(make_window, checkpoint):
    with socket.socket() as silent:  # accepts the connection, then never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        threading.Thread(target=lambda: silent.accept(), daemon=True).start()
        window = make_window(checkpoint)
        window.open_sources([f"rtsp://127.0.0.1:{silent.getsockname()[1]}/live"])
        assert wait_until(lambda: "connecting" in window.busy_label.text())
        assert window.stop_action.isEnabled() and "Connecting" in window._placeholder.message()
        began = time.monotonic()
        window.stop()
        assert wait_until(lambda: "stopped" in window.status_text(), 5)
        assert time.monotonic() - began < 3 and not window.views and window.last_error == ""


def test_window_texts_point_at_what_exists(make_window, tmp_path):
    window = make_window(None)
    buttons = [b.text() for b in window.findChildren(QPushButton)]
    assert "Load…" in buttons and "Checkpoint ▸ Load…" in UNTRAINED_TEXT and "Model panel" in UNTRAINED_TEXT
    assert window.model_panel.title() == "Model"
    # the error line reads well: WCAG contrast of its colours at least 4.5:1
    assert contrast(*ERROR_COLORS) >= 4.5
    window.toggle_recording()
    assert wait_until(lambda: "recording to" in window.status_text())
    shown = window.status_text().split("recording to ", 1)[1]
    assert Path(shown).is_absolute() and Path(shown) == (tmp_path / "recordings").resolve()
    window.toggle_recording()


def test_every_toolbar_action_is_visible_in_a_1000x650_window(make_window):
    window = make_window(None)
    window.resize(1000, 650)
    settle(0.3)
    bar = window.findChild(type(window.addToolBar("probe")), "source-bar")
    hidden = [
        action.text()
        for action in bar.actions()
        if not action.isSeparator() and not bar.widgetForAction(action).isVisible()
    ]
    assert hidden == []


def test_window_says_loading_until_the_model_is_in(qapp, checkpoint, tmp_path):
    from app.window import LOADING_TEXT, MainWindow, WindowOptions
    from core.pipeline import PipelineConfig

    config = PipelineConfig(checkpoint=checkpoint, width=8, input_size=(64, 96))
    window = MainWindow(WindowOptions(config, tmp_path))
    window.show()
    try:
        assert window._placeholder.message() == LOADING_TEXT  # shown before the model has loaded
        # The worker's own "Loading model…" line may replace it first; wait for neither. First in a
        # process this includes importing torch and building the model on a busy machine.
        assert wait_until(lambda: not window._placeholder_is_loading(), 60)
        assert "open" in window._placeholder.message().lower()
    finally:
        window.close()


def test_missing_xcb_libraries_are_named_in_one_line(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    lacking = {"xcb-cursor"}
    assert missing_xcb_packages(lambda name: None if name in lacking else name) == ["libxcb-cursor0"]
    with pytest.raises(UserError, match=r"^Qt cannot use the X11 display without libxcb-cursor0: sudo apt"):
        require_display(lambda name: None if name in lacking else name)
    require_display(lambda name: name)  # all present: nothing to say


def test_stream_state_goes_lost_reconnecting_showing_in_the_window(make_window, checkpoint, rtsp_server):
    window = make_window(checkpoint)
    seen: list[str] = []
    window.worker.source_state.connect(lambda *_: seen.append(window.status_text()))
    window.open_sources([rtsp_server.url])
    assert wait_until(lambda: window.views and only_view(window).frames_shown >= 3, 30), window.status_text()
    view = only_view(window)
    rtsp_server.kill()
    assert wait_until(lambda: view.stale(), 20), window.status_text()
    assert "reconnecting" in view.badge().lower() or "lost" in view.badge().lower()
    rtsp_server.start()
    assert wait_until(lambda: not view.stale() and seen and seen[-1].startswith("showing"), 40), seen
    phases = [next((p for p in ("lost", "reconnecting", "showing") if p in text), "") for text in seen]
    order = [p for i, p in enumerate(phases) if p and (i == 0 or phases[i - 1] != p)]
    assert order[:3] == ["lost", "reconnecting", "showing"] or order[-3:] == [
        "lost",
        "reconnecting",
        "showing",
    ]
    assert "s3cret" not in " ".join(seen)


def test_wrong_password_says_authentication_failed(make_window, checkpoint, rtsp_server):
    window = make_window(checkpoint)
    window.open_sources([rtsp_server.url.replace(rtsp_server.password, "wrong")])
    assert wait_until(lambda: window.last_error != "", 30)
    assert "authentication failed" in window.last_error and rtsp_server.password not in window.last_error


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_soak_source_switches_and_model_swaps_keep_memory_flat(make_window, checkpoint, street, long_video):
    """10 source switches and 5 model swaps in one app: memory after the last swap stays near the first."""
    window = make_window(checkpoint)
    after_first_swap = None
    for switch in range(10):
        source = long_video if switch % 2 else street
        shown = window.worker.frames_received
        window.open_sources([str(source)])
        assert wait_until(lambda shown=shown: window.worker.frames_received > shown + 1, 30)
        if switch % 2:
            swap = (switch // 2) % 2
            window.model_panel.changed.emit("checkpoint", None if swap == 0 else checkpoint)
            assert wait_until(lambda swap=swap: window.worker.models_info().trained == bool(swap), 30)
            QApplication.processEvents()
            if after_first_swap is None:
                after_first_swap = rss_mb()
    last = rss_mb()
    assert last - after_first_swap < 150, (after_first_swap, last)
    assert len(window.views) == 1 and not math.isnan(last)


def contrast(foreground: str, background: str) -> float:
    def luminance(color: str) -> float:
        channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)
