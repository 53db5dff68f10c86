"""`run.py gui` as a service manager or a terminal runs it: SIGTERM finalises a recording as
Ctrl-C does, and the splash is painted before anything slow starts."""

import os
import signal
import subprocess
import sys
import time

import cv2
import pytest

PyQt6 = pytest.importorskip("PyQt6")
from tests.support.helpers import ROOT  # noqa: E402


def test_sigterm_during_a_recording_leaves_playable_files_of_the_recorded_length(long_video, tmp_path):
    """Issue 20: SIGTERM ended the app in 0.08 s with exit 143 and only hidden .partial files."""
    folder = tmp_path / "recordings"
    command = [sys.executable, "run.py", "gui", "--source", str(long_video), "--record"]
    command += ["--record-dir", str(folder), "--checkpoint", "none", "--width", "8", "--input-size", "64x96"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    app = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(".*.partial*")) and time.monotonic() < deadline and app.poll() is None:
            time.sleep(0.05)
        first_frame = time.monotonic()  # the files open at the first recorded frame
        assert list(folder.glob(".*.partial*")), app.communicate(timeout=30)
        time.sleep(2.5)
        terminated = time.monotonic()
        app.send_signal(signal.SIGTERM)
        _, errors = app.communicate(timeout=60)
    finally:
        app.kill()
    assert app.returncode == 0, errors
    assert not list(folder.glob(".*.partial*")), sorted(p.name for p in folder.iterdir())
    (video,) = folder.glob("long-*.mp4")
    assert len(list(folder.glob("long-*.jsonl"))) == 1
    capture = cv2.VideoCapture(str(video))
    frames, rate = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
    assert frames > 0 and capture.read()[0]  # playable
    assert frames / rate == pytest.approx(terminated - first_frame, abs=0.5)


def test_the_splash_shows_the_app_s_name_when_it_returns(qapp):
    from app.main import Splash

    splash = Splash()
    try:
        assert splash.widget.isVisible() and splash.widget.windowHandle().isExposed()
        picture = splash.widget.grab().toImage()
        lit = sum(
            picture.pixelColor(x, y).lightness() > 180
            for x in range(0, picture.width(), 3)
            for y in range(0, picture.height() // 2, 3)
        )
        assert lit > 50  # the name is drawn, not a blank (black) window
    finally:
        splash.close()
