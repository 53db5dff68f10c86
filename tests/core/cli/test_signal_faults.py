"""Issue 22, signals: every signal that ends a command on the spot by default (a closed terminal's
SIGHUP, Ctrl-\\'s SIGQUIT, SIGUSR1) now ends it like Ctrl-C — temporaries removed, nothing under a
final name that is not whole, the summary written, exit 128 + the signal — and Ctrl-C on a live
MJPEG camera says the run was interrupted (exit 130) while keeping the recording."""

import json
import signal
import time

import pytest

from tests.support.faults import TINY_TRACK, listing, start_command, wait_for_partial, write_video
from tests.support.mjpeg import MjpegServer


def ended(process, code: int) -> str:
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr, stderr
    assert "interrupted" in stderr.splitlines()[-1], stderr
    return stderr


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1], ids=lambda s: s.name)
def test_a_stop_signal_during_track_cleans_up_like_ctrl_c(tmp_path, signum):
    clip = write_video(tmp_path / "clip.mp4", frames=600)
    out = tmp_path / "out"
    process = start_command("track", "--source", clip, "--out", out, "--formats", "jsonl,video", *TINY_TRACK)
    wait_for_partial(process, out)
    process.send_signal(signum)
    ended(process, 128 + signum)
    assert listing(out) == ["summary.json"]  # the unfinished video's temporaries are gone
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["videos"][0]["status"] == "interrupted"


def test_sighup_during_export_leaves_nothing(tmp_path):
    out = tmp_path / "onnx"
    model = ["--checkpoint", "none", "--width", "32", "--input-size", "64x96"]
    process = start_command("export", "--out", out / "model.onnx", *model)
    wait_for_partial(process, out)
    process.send_signal(signal.SIGHUP)
    ended(process, 128 + signal.SIGHUP)
    assert listing(out) == []


def test_ctrl_c_on_a_live_mjpeg_camera_keeps_the_recording_and_says_interrupted(tmp_path):
    """An http MJPEG feed has no end: Ctrl-C is how its recording ends. It exited 0 with
    `"interrupted": false`; now the run is interrupted (130) like any other, the recording kept."""
    out = tmp_path / "out"
    with MjpegServer() as camera:
        process = start_command(
            "track", "--source", camera.url, "--out", out, "--formats", "jsonl", *TINY_TRACK
        )
        wait_for_partial(process, out)
        time.sleep(3)  # frames arrive at 25 a second
        process.send_signal(signal.SIGINT)
        ended(process, 130)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    (video,) = summary["videos"]
    assert video["status"] == "done" and video["frames"] > 0
    (jsonl,) = out.glob("*.jsonl")
    assert len(jsonl.read_text().splitlines()) == video["frames"] + 1  # the header, then a line a frame
