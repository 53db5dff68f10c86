"""Frame sources: files keep every frame and their timestamps, live sources keep the newest, streams
reconnect, and bad input fails at open with one line. The stream tests run a real RTSP server
(tests/rtsp_server.py, GStreamer through the system python) on loopback."""

import itertools
import logging
import signal
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from core.video.sources import open_source
from tests.support.rtsp import PASSWORD, free_port


def write_test_video(path: Path, frames: int, size: tuple[int, int] = (64, 48), fps: float = 10.0) -> Path:
    """A small MJPG video whose frame i is filled with grey level 5·i, so order can be checked."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 5 * i, np.uint8))
    writer.release()
    return path


def single_line_error(spec, **kwargs) -> str:
    with pytest.raises(UserError) as caught:
        open_source(spec, **kwargs)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


# --- files, folders, globs ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["street.mp4", "soccer.mp4"])
def test_video_file_yields_every_frame_with_increasing_timestamps(shared_data, name):
    path = shared_data / "video" / name
    reference = cv2.VideoCapture(str(path))
    expected = int(reference.get(cv2.CAP_PROP_FRAME_COUNT))
    width, height = (
        int(reference.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(reference.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    reference.release()

    with open_source(str(path)) as source:
        assert not source.is_live and source.frame_count == expected and source.size == (width, height)
        frames = list(source)
    assert [f.index for f in frames] == list(range(expected))
    times = [f.time for f in frames]
    assert times[0] == 0.0 and all(b > a for a, b in itertools.pairwise(times))
    # File timestamps, not arrival times: consecutive frames are one frame period apart.
    assert np.allclose(np.diff(times), 1.0 / source.fps, rtol=0.05)
    assert all(f.image.dtype == np.uint8 and f.image.shape == (height, width, 3) for f in frames)
    assert source.dropped == 0 and source.error is None and source.ended


def test_image_folder_and_glob_yield_sorted_frames(shared_data):
    folder = shared_data / "posetrack_mini" / "frames"
    names = sorted(p.name for p in folder.glob("*.jpg"))
    for spec in (str(folder), str(folder / "*.jpg")):
        with open_source(spec, image_fps=25.0) as source:
            frames = list(source)
        assert len(frames) == len(names) == source.frame_count
        assert [f.time for f in frames] == pytest.approx([i / 25.0 for i in range(len(names))])
        first = cv2.imread(str(folder / names[0]))
        assert np.array_equal(frames[0].image, first)


def test_a_truncated_jpeg_is_skipped_with_our_warning_and_no_libjpeg_noise(tmp_path, capfd, caplog):
    image = np.full((64, 48, 3), 127, np.uint8)
    cv2.imwrite(str(tmp_path / "a.jpg"), image)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "b.jpg").write_bytes(data[: len(data) // 2])  # cut mid-scan: no end marker
    cv2.imwrite(str(tmp_path / "c.jpg"), image)
    with caplog.at_level(logging.WARNING), open_source(str(tmp_path)) as source:
        frames = list(source)
    assert len(frames) == 2
    assert any("truncated JPEG" in record.getMessage() for record in caplog.records)
    assert "Premature end of JPEG file" not in capfd.readouterr().err


def test_files_never_drop_frames_for_a_slow_consumer(tmp_path):
    video = write_test_video(tmp_path / "ramp.avi", frames=30)
    with open_source(str(video), queue_size=2) as source:
        time.sleep(0.3)  # the capture thread fills its buffer and must wait, not drop
        frames = list(source)
    assert [f.index for f in frames] == list(range(30))
    assert source.dropped == 0
    levels = [float(f.image.mean()) for f in frames]
    assert np.allclose(levels, [5 * i for i in range(30)], atol=3)


def test_live_mode_keeps_the_newest_frames_and_counts_the_dropped(tmp_path):
    video = write_test_video(tmp_path / "ramp.avi", frames=40)
    source = open_source(str(video), live=True, queue_size=3)
    source.start()
    deadline = time.monotonic() + 10
    while source.running and time.monotonic() < deadline:  # a consumer too slow to read anything yet
        time.sleep(0.02)
    frames = list(source)
    assert source.is_live
    assert [f.index for f in frames] == [37, 38, 39]  # the oldest went first
    assert source.dropped == 37
    assert all(b.time >= a.time for a, b in itertools.pairwise(frames))


def test_stop_mid_file_ends_the_thread(tmp_path):
    video = write_test_video(tmp_path / "ramp.avi", frames=40)
    source = open_source(str(video), queue_size=2).start()
    assert source.read(timeout=5).index == 0
    source.stop()
    assert not source.running
    assert source.read(timeout=0.1) is None and source.ended


def test_bad_inputs_fail_at_open_with_one_line(tmp_path):
    assert "not found" in single_line_error(str(tmp_path / "missing.mp4"))

    corrupt = tmp_path / "tmp.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(50_000))
    assert "cannot read video" in single_line_error(str(corrupt))

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images" in single_line_error(str(empty))

    zero = write_test_video(tmp_path / "zero.avi", frames=0)  # a valid container with no frames
    assert "no frames" in single_line_error(str(zero))

    assert "matches nothing" in single_line_error(str(tmp_path / "nothing" / "*.jpg"))
    assert "unsupported source" in single_line_error("ftp://user:pw@host/x.mp4")
    assert "camera 99" in single_line_error(99)


# --- streams: a real RTSP server on loopback ---------------------------------------------------------


def read_frames(source, count: int, timeout: float = 15.0) -> list:
    frames, deadline = [], time.monotonic() + timeout
    while len(frames) < count and time.monotonic() < deadline:
        frame = source.read(timeout=0.5)
        if frame is not None:
            frames.append(frame)
    assert len(frames) == count, f"only {len(frames)} of {count} frames within {timeout} s"
    return frames


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_rtsp_frames_arrive_and_the_source_reconnects_after_a_server_restart(rtsp_server, caplog, capfd):
    caplog.set_level(logging.INFO, logger="core.video.sources")
    with open_source(rtsp_server.url, connect_timeout=10) as source:
        assert source.is_live and source.size == (320, 240)
        assert PASSWORD not in source.name and "***@127.0.0.1" in source.name
        before = read_frames(source, 10)

        rtsp_server.kill()
        rtsp_server.start()
        after = read_frames(source, 10, timeout=20)  # reconnection, then fresh frames
        assert source.reconnects >= 1
        assert after[-1].index > before[-1].index and after[-1].time > before[-1].time
        assert all(f.source == source.name for f in before + after)

        # stop() is prompt even while the source is busy reconnecting to a server that is gone.
        rtsp_server.kill()
        assert wait_for(lambda: sum("stream lost" in r.getMessage() for r in caplog.records) >= 2, timeout=10)
        time.sleep(1.0)
        start = time.monotonic()
        source.stop()
        assert time.monotonic() - start < 1.5 and not source.running and source.ended

    messages = [record.getMessage() for record in caplog.records if record.name == "core.video.sources"]
    assert any("stream lost" in m for m in messages) and any("reconnected" in m for m in messages)
    captured = capfd.readouterr()
    for text in [*messages, captured.out, captured.err]:
        assert PASSWORD not in text


def test_rtsp_stall_is_detected_and_recovered(rtsp_server, caplog):
    caplog.set_level(logging.INFO, logger="core.video.sources")
    with open_source(rtsp_server.url, connect_timeout=10, stall_timeout=1.0) as source:
        read_frames(source, 5)
        rtsp_server.signal(signal.SIGSTOP)  # the connection stays open but goes silent
        try:
            lost = wait_for(lambda: any("stream lost" in r.getMessage() for r in caplog.records), timeout=15)
            while source.read(timeout=0.1) is not None:  # drain what arrived before the stall
                pass
            assert not source.ended  # silent, reconnecting, yet not over
        finally:
            rtsp_server.signal(signal.SIGCONT)
        assert lost, "a silent stream was not detected as stalled"
        assert wait_for(lambda: source.reconnects >= 1, timeout=20)
        read_frames(source, 3)


def test_rtsp_wrong_password_fails_with_a_redacted_line(rtsp_server, capfd):
    url = rtsp_server.url.replace(PASSWORD, "wrong-" + PASSWORD)
    message = single_line_error(url, connect_timeout=10)
    assert "cannot open stream rtsp://***@127.0.0.1" in message and PASSWORD not in message
    assert PASSWORD not in capfd.readouterr().err


def test_unreachable_stream_fails_within_the_connect_timeout():
    start = time.monotonic()
    message = single_line_error(f"rtsp://user:{PASSWORD}@127.0.0.1:{free_port()}/test", connect_timeout=3)
    assert time.monotonic() - start < 3.5 and PASSWORD not in message

    # A server that accepts the connection and then never answers: only the timeout can end the wait.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        accepted = []
        threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
        start = time.monotonic()
        message = single_line_error(
            f"rtsp://user:{PASSWORD}@127.0.0.1:{silent.getsockname()[1]}/x", connect_timeout=2
        )
        elapsed = time.monotonic() - start
    assert 1.0 < elapsed < 3.0, elapsed
    assert PASSWORD not in message and "***@127.0.0.1" in message
