"""Recordings follow the wall clock at any frame rate: from the moment recording starts to the
moment it stops, the last frame held until then; nothing is written after the stop."""

import cv2
import numpy as np
import pytest

from app.recorder import Recorder
from core.video.sources import Frame

IMAGE = np.zeros((90, 160, 3), np.uint8)


def video_seconds(folder, pattern: str) -> float:
    capture = cv2.VideoCapture(str(next(folder.glob(pattern))))
    return capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)


def test_a_recording_at_half_a_frame_a_second_lasts_as_long_as_it_was_recorded(tmp_path):
    """Issue 20: 8.9 s recorded at 0.46 FPS played 5.5 s (the wait for the first frame and the
    time after the last were lost)."""
    now = [100.0]
    recorder = Recorder(tmp_path, "trained", clock=lambda: now[0], present={"cam"})
    for index, arrival in enumerate([1.5, 3.67, 5.84, 8.01]):  # 0.46 FPS, the first 1.5 s in
        now[0] = 100.0 + arrival
        recorder.write("cam", Frame(index, arrival, IMAGE, "cam", fps=0.46), [], IMAGE, 25.0)
    now[0] = 108.9
    message = recorder.close()
    assert video_seconds(tmp_path, "cam-*.mp4") == pytest.approx(8.9, abs=0.04)
    recorder.write("cam", Frame(4, 9.0, IMAGE, "cam"), [], IMAGE, 25.0)  # late: after the stop
    assert message.startswith("saved") and len(list(tmp_path.glob("cam-*.mp4"))) == 1


def test_a_source_that_joins_a_recording_starts_its_video_at_its_first_frame(tmp_path):
    now = [0.0]
    recorder = Recorder(tmp_path, "trained", clock=lambda: now[0], present={"cam"})
    for index in range(40):  # 4 s at 10 FPS; the second camera joins 1 s in
        now[0] = index / 10
        recorder.write("cam", Frame(index, now[0], IMAGE, "cam"), [], IMAGE, 25.0)
        if index >= 10:
            recorder.write("late", Frame(index - 10, now[0], IMAGE, "late"), [], IMAGE, 25.0)
    now[0] = 4.0
    recorder.finish(["late"])  # it leaves at 4.0 s, the first camera records on
    now[0] = 5.0
    recorder.close()
    assert video_seconds(tmp_path, "late-*.mp4") == pytest.approx(3.0, abs=0.05)
    assert video_seconds(tmp_path, "cam-*.mp4") == pytest.approx(5.0, abs=0.05)


def test_a_recording_ends_when_the_user_stops_it_not_when_the_threads_have_wound_down(tmp_path):
    now = [0.0]
    recorder = Recorder(tmp_path, "trained", clock=lambda: now[0], present={"cam"})
    for index in range(50):  # 5 s at 10 FPS
        now[0] = index / 10
        recorder.write("cam", Frame(index, now[0], IMAGE, "cam"), [], IMAGE, 25.0)
    recorder.end_at(5.0)  # SIGTERM, Ctrl+R: asked at 5.0 s
    for index in range(50, 60):  # frames still coming while the pipeline stops
        now[0] = index / 10
        recorder.write("cam", Frame(index, now[0], IMAGE, "cam"), [], IMAGE, 25.0)
    now[0] = 7.5  # closed 2.5 s later, after the threads joined
    recorder.close()
    assert video_seconds(tmp_path, "cam-*.mp4") == pytest.approx(5.0, abs=0.05)
    lines = next(tmp_path.glob("cam-*.jsonl")).read_text().splitlines()
    assert len(lines) == 1 + 50  # the header and the frames before the stop
