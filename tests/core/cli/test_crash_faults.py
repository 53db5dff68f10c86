"""Issue 22, crashes: what used to kill the process (a segfault, an abort, the machine's memory) is
now one line, or a warning while the rest of the batch runs."""

import json
import os
import signal
import socket
import time

import pytest

from tests.support.faults import (
    TINY_TRACK,
    command,
    listing,
    one_error,
    start_command,
    subprocess_command,
    write_video,
)


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_warning_and_the_batch_runs(tmp_path):
    """OpenCV segfaulted on such a name (exit 139): the lock, the summary and the rest were lost."""
    videos = tmp_path / "in"
    videos.mkdir()
    write_video(videos / "a.mp4")
    os.rename(write_video(videos / "b.mp4"), os.fsencode(videos) + b"/b\xff.mp4")
    write_video(videos / "c.mp4")
    out = tmp_path / "out"
    done = subprocess_command("track", "--source", videos, "--out", out, "--formats", "jsonl", *TINY_TRACK)
    assert done.code == 0 and "Traceback" not in done.err, done.err
    assert "skipping" in done.err and "b\\xff.mp4" in done.err and "not valid UTF-8" in done.err
    assert "2 done, 0 skipped, 0 failed" in done.out
    assert listing(out) == ["a.jsonl", "c.jsonl", "summary.json"]


def test_ctrl_c_while_a_stream_is_still_opening_ends_cleanly(tmp_path):
    """The stream's server accepts and says nothing, so FFmpeg is inside its open when Ctrl-C comes;
    the server then hangs up while the process ends. The open thread was torn down inside FFmpeg
    ("terminate called without an active exception", exit 134): Python 3.11's join() cut short by
    KeyboardInterrupt took the thread for ended. SIGTERM takes the same path (core.cli.entry)."""
    signum, code = signal.SIGINT, 130
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(120)
    url = f"rtsp://127.0.0.1:{server.getsockname()[1]}/live"
    out = tmp_path / "out"
    process = start_command("track", "--source", url, "--out", out, "--formats", "jsonl", *TINY_TRACK)
    try:
        connection, _ = server.accept()  # FFmpeg is opening the stream
        time.sleep(0.2)
        process.send_signal(signum)
        time.sleep(0.5)
        connection.close()  # FFmpeg's open returns now, while the process ends
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        server.close()
    assert process.returncode == code, stderr
    assert "terminate called" not in stderr and "Traceback" not in stderr, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--input-size", "20000x20000", ("input size 20000x20000", "at most 1024")),
        ("--width", "2048", ("HRNet width", "from 1 to 64", "2048")),
    ],
)
def test_a_model_too_large_for_any_machine_is_one_line_before_it_is_built(
    tmp_path, capsys, option, value, words
):
    """--input-size 20000x20000 grew to 14.5 GB RSS on two frames; --width 2048 asked for 10^11 weights."""
    video = write_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    args = [a for a in TINY_TRACK if a not in ("--width", "8", "--input-size", "64x96")]
    one_error(command(capsys, "track", "--source", video, "--out", out, option, value, *args), *words)
    assert not out.exists()
    one_error(command(capsys, "info", option, value), *words)
