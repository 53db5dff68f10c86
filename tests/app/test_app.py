"""The desktop app, driven like a user would: open a video, watch frames and statistics arrive,
pause, resume, record, snapshot, stop, and survive bad sources — with the real pipeline underneath.

Plumbing only, so the pose model is a tiny untrained HRNet (width 8) saved as a checkpoint, and the
detector is OpenCV's HOG. Qt runs on its offscreen platform, so no display is needed.
"""

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

PyQt6 = pytest.importorskip("PyQt6")
from app.recorder import Recorder, file_stem  # noqa: E402
from app.window import MainWindow  # noqa: E402
from app.worker import bgr_to_qimage  # noqa: E402
from core.errors import UserError  # noqa: E402
from tests.support.helpers import ROOT  # noqa: E402
from tests.support.qt import pipeline_threads, settle, stable, wait_until  # noqa: E402


def only_view(window: MainWindow):
    assert len(window.views) == 1, window.views
    return next(iter(window.views.values()))


def test_bgr_frames_become_qimages_that_own_their_pixels(qapp):
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[..., 2] = 255  # BGR red
    frame[1, 2] = (255, 0, 0)  # one blue pixel
    image = bgr_to_qimage(frame[:, ::-1])  # a non-contiguous view must work too
    frame[:] = 0  # the pipeline may reuse its buffer: the QImage must not change
    assert (image.width(), image.height()) == (6, 4)
    assert image.pixelColor(0, 0).getRgb()[:3] == (255, 0, 0)
    assert image.pixelColor(3, 1).getRgb()[:3] == (0, 0, 255)
    with pytest.raises(ValueError):
        bgr_to_qimage(np.zeros((4, 6, 3), np.float32))


def test_recording_names_never_carry_credentials():
    assert file_stem("rtsp://***@cam.local:554/stream1") == "cam.local_554_stream1"
    assert file_stem("/videos/street.mp4") == "street"
    assert file_stem("0") == "0"


def test_recorder_finalises_each_source_and_discards_a_failed_recording(tmp_path):
    from core.records import Track
    from core.video.sources import Frame

    image = np.zeros((90, 160, 3), np.uint8)
    tracks = [Track(7, np.array([10.0, 10.0, 50.0, 80.0]), 0.9, np.full((17, 3), 20.0))]
    recorder = Recorder(tmp_path, "untrained")
    for index in range(3):
        for key in ("cam-a", "rtsp://***@cam-b/live"):
            recorder.write(key, Frame(index, index / 25, image, key), tracks, image, 25.0)
    recorder.finish(["cam-a"])  # cam-a left: its files are complete now, cam-b keeps recording
    assert len(list(tmp_path.glob("cam-a-*.jsonl"))) == 1
    recorder.write("cam-a", Frame(3, 0.12, image, "cam-a"), tracks, image, 25.0)  # ignored
    message = recorder.close()
    assert message.startswith("saved") and message.count(".mp4") == 2 and message.count(".jsonl") == 2
    lines = next(tmp_path.glob("cam-b_live-*.jsonl")).read_text().splitlines()
    assert "untrained" in lines[0] and sum('"frame"' in line for line in lines) == 3

    failing = Recorder(tmp_path / "failed", "trained")
    (tmp_path / "failed").mkdir()
    failing.write("cam-c", Frame(0, 0.0, image, "cam-c"), tracks, image, 25.0)
    with pytest.raises((ValueError, UserError)):  # a malformed box: the sinks refuse it
        failing.write("cam-c", Frame(1, 0.04, image, "cam-c"), [Track(1, np.array([1.0]), 0.5)], image, 25.0)
    assert failing.close() == "recording failed: nothing saved"
    assert not list((tmp_path / "failed").iterdir())  # aborted: not even partial files remain


def test_window_tracks_a_video_and_shows_frames_and_fps(make_window, checkpoint, street):
    window = make_window(checkpoint, width=32)  # the checkpoint's own width (8) must win
    window.open_sources([str(street)])
    assert wait_until(lambda: window.views and only_view(window).frames_shown > 0), window.status_text()
    panel = window.model_panel
    assert panel.width_box.currentText() == "W8" and not panel.width_box.isEnabled()
    assert "cpu" in panel.running.text()
    view = only_view(window)
    assert (view.image().width(), view.image().height()) == (960, 540)
    assert wait_until(lambda: "end of file" in window.status_text()), window.status_text()
    window.refresh_stats()
    panel = window.stats_panel
    assert float(panel.fps.text()) > 0
    assert panel.values["frames"].text() == "5"  # every frame of the clip reached the view's pipeline
    assert panel.table.item(panel.ROWS.index("pose"), 0).text() != "–"
    assert not window.banner.isVisible()  # a checkpoint is loaded
    assert window.last_error == ""
    # The view paints the frame scaled with its aspect ratio kept.
    rect = view.image_rect()
    assert abs(rect.width() / rect.height() - 960 / 540) < 0.02
    assert view.grab().size() == view.size()


def test_untrained_banner_shows_until_a_checkpoint_is_loaded(make_window, checkpoint):
    window = make_window(None)
    assert window.banner.isVisible()
    assert "untrained" in window.banner.text().lower()
    window.model_panel.changed.emit("checkpoint", checkpoint)
    assert wait_until(lambda: not window.banner.isVisible()), window.status_text()
    window.model_panel.changed.emit("checkpoint", None)
    assert wait_until(window.banner.isVisible), window.status_text()


def test_pause_resume_stop_and_threads_end(make_window, checkpoint, long_video):
    window = make_window(checkpoint)
    window.open_sources([str(long_video)])
    assert wait_until(lambda: window.worker.frames_received >= 3), window.status_text()

    window.toggle_pause()
    assert window.worker.paused and window.pause_action.text() == "Resume"
    assert only_view(window).badge() == "PAUSED"
    # Frames already inside the pipeline still come out; then nothing more arrives.
    assert wait_until(lambda: stable(lambda: window.worker.frames_received, 0.5), 15)
    paused_at = window.worker.frames_received
    settle(0.7)
    assert window.worker.frames_received == paused_at < 400  # stopped mid-video, not at its end

    window.toggle_pause()
    assert not window.worker.paused and only_view(window).badge() == ""
    assert wait_until(lambda: window.worker.frames_received > paused_at + 2)

    window.stop()
    assert wait_until(lambda: not window.views and not window.worker.running)
    assert wait_until(lambda: not pipeline_threads(), 10), pipeline_threads()
    assert not window.stop_action.isEnabled()

    # Stopped, the loaded model still follows the controls: dropping the checkpoint rebuilds it.
    assert not window.banner.isVisible()
    window.model_panel.changed.emit("checkpoint", None)
    assert wait_until(window.banner.isVisible)
    assert window.worker.models_info().model is not None and not window.worker.models_info().trained

    window.close()  # what closing the window does: the worker's own thread ends too
    assert not window.isVisible() and window.worker.shutdown(timeout_ms=1)


def test_model_controls_reconfigure_the_running_pipeline(make_window, checkpoint, long_video):
    window = make_window(checkpoint)
    window.open_sources([str(long_video)])
    assert wait_until(lambda: window.worker.frames_received >= 2)
    window.model_panel.interval.setValue(3)
    window.model_panel.flip.setChecked(True)
    assert wait_until(lambda: window.worker.config.interval == 3 and window.worker.config.flip)
    frames = window.worker.frames_received
    assert wait_until(lambda: window.worker.frames_received > frames + 2)  # still running
    # A bad detector spec is refused with one line and the controls snap back.
    window.model_panel.changed.emit("detector", "nonsense-detector")
    assert wait_until(lambda: window.last_error != "")
    assert "\n" not in window.last_error and "Traceback" not in window.last_error
    assert wait_until(lambda: window.model_panel.detector.currentText() == "hog")
    assert window.worker.config.detector == "hog"


def test_bad_sources_show_one_line_and_the_app_keeps_running(make_window, checkpoint, street, tmp_path):
    window = make_window(checkpoint)
    window.open_sources([str(tmp_path / "missing.mp4")])
    assert wait_until(lambda: window.last_error != "")
    assert "missing.mp4" in window.last_error
    assert window.status_text().startswith("error:") and "\n" not in window.status_text()

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    window.last_error = ""
    window.open_sources([str(corrupt)])
    assert wait_until(lambda: window.last_error != "")

    window.last_error = ""
    window.open_sources(["rtsp://admin:hunter2@127.0.0.1:9/stream"])  # nothing listens on port 9
    assert wait_until(lambda: window.last_error != "", 30)
    assert "hunter2" not in window.last_error and "hunter2" not in window.status_text()
    shown = [window.source_box.itemText(i) for i in range(window.source_box.count())]
    assert "rtsp://***@127.0.0.1:9/stream" in shown and not any("hunter2" in text for text in shown)
    assert "hunter2" not in window.source_box.currentText() and "hunter2" not in window.windowTitle()

    window.last_error = ""
    window.open_sources([str(tmp_path / "gone.mp4"), str(street)])  # the good one still opens
    assert wait_until(lambda: window.views and only_view(window).frames_shown > 0)
    assert "gone.mp4" in window.last_error


def test_snapshot_and_recording_write_complete_files(make_window, checkpoint, long_video, tmp_path):
    window = make_window(checkpoint)
    window.open_sources([str(long_video)])
    assert wait_until(lambda: window.views and only_view(window).frames_shown > 0)
    snaps = window.snapshot()
    assert len(snaps) == 1 and cv2.imread(str(snaps[0])).shape == (180, 320, 3)

    window.toggle_recording()
    began = time.monotonic()
    assert wait_until(lambda: window.worker.recording)
    start = window.worker.frames_received
    assert wait_until(lambda: window.worker.frames_received > start + 10)
    window.toggle_recording()
    recorded = time.monotonic() - began
    assert wait_until(lambda: not window.worker.recording and "saved" in window.status_text())
    folder = tmp_path / "recordings"
    videos, tracks = list(folder.glob("long-*.mp4")), list(folder.glob("long-*.jsonl"))
    assert len(videos) == 1 and len(tracks) == 1, sorted(p.name for p in folder.iterdir())
    lines = [json.loads(line) for line in tracks[0].read_text().splitlines() if line.strip()]
    frames = [line for line in lines if "frame" in line]
    assert len(frames) >= 10
    assert [f["frame"] for f in frames] == sorted(f["frame"] for f in frames)
    assert all("fps" in f for f in frames)  # the FPS the view showed, frame by frame
    # The video follows the wall clock (recorder tests: exactly); never longer than the recording.
    capture = cv2.VideoCapture(str(videos[0]))
    count, rate = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), capture.get(cv2.CAP_PROP_FPS)
    assert count >= 1 and count / rate <= recorded + 0.2, (count, rate, recorded)
    assert not list(folder.glob(".*partial*"))

    # An unusable folder is one line in the status bar, and nothing starts recording.
    window.options.record_dir = tracks[0]  # a file, not a folder
    window.toggle_recording()
    assert wait_until(lambda: "cannot record" in window.last_error)
    assert not window.worker.recording and not window.record_action.isChecked()


def test_gui_command_rejects_bad_options_with_one_line():
    result = subprocess.run(
        [sys.executable, "run.py", "gui", "--interval", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "interval" in result.stderr


def test_gui_checks_its_options_as_track_does_before_any_window(tmp_path):
    """`--precision fp99` was accepted and silently ignored: now it is one line, before the display
    is even looked at (no display here: a window would have been refused in other words)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    for words, message in [(["--precision", "fp99"], "unknown precision"), (["--device", "tpu"], "tpu")]:
        result = subprocess.run(
            [sys.executable, "run.py", "gui", "--checkpoint", "none", *words],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 2
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], result.stderr
        assert "Traceback" not in result.stderr


def test_gui_precision_option_reaches_the_running_model(qapp, checkpoint, tmp_path):
    from app.main import build_parser
    from app.window import WindowOptions
    from core.cli.options import pipeline_config_from_args

    args = build_parser().parse_args(
        ["--checkpoint", str(checkpoint), "--backend", "eager", "--precision", "bf16"]
    )
    window = MainWindow(WindowOptions(pipeline_config_from_args(args), tmp_path))
    try:
        assert wait_until(lambda: window.model_panel.running.text() != "–", 60)
        assert window.worker.models_info().backend.split(" · ")[:2] == ["eager", "bf16"]
        panel = window.model_panel
        assert panel.precision.currentText() == "bf16"  # the control shows the option
        panel.precision.setCurrentText("fp32")  # and is wired like the backend control
        assert wait_until(lambda: panel.running.text().startswith("eager · fp32"), 60), panel.running.text()
        assert window.worker.config.precision == "fp32" and panel.precision.currentText() == "fp32"
        panel.backend.setCurrentText("onnxruntime")  # cannot compute in bf16: offered disabled
        bf16 = panel.precision.model().item(panel.precision.findText("bf16"))
        assert wait_until(lambda: panel.running.text().startswith("onnxruntime"), 60), window.status_text()
        assert not bf16.isEnabled() and "cannot compute in bf16" in bf16.toolTip()
    finally:
        window.close()
    assert wait_until(lambda: not pipeline_threads(), 10)


def test_gui_without_a_display_says_so_in_one_line_instead_of_aborting():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "run.py"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "no display" in result.stderr
