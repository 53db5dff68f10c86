"""`run.py track` under faults (issue 15): odd video sizes, a full disk, --out over the inputs, a
foreign joint count, a busy output folder, truncated videos, signals. Each case runs the command as a
user does and checks the promise: the exit code, exactly one `error:` line and no traceback, no file
under a final name that is not complete, inputs untouched, summary.json saying how the run ended.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.faults import start_command
from tests.support.helpers import TINY_MODEL, loop_video, require, run_track

TINY = TINY_MODEL


def track(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    return run_track(*args, timeout=timeout)


def assert_one_error_line(run: subprocess.CompletedProcess, code: int, *words: str) -> str:
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert run.returncode == code, run.stderr
    assert len(errors) == 1, run.stderr
    assert "Traceback" not in run.stderr and "ERROR" not in run.stderr, run.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def noise_video(path: Path, width: int, height: int, frames: int = 3, fourcc: str = "mp4v") -> Path:
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    writer.release()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def final_outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# 1 ------------------------------------------------------------------------------------------------
def test_low_resolution_videos_all_finish_in_one_batch(tmp_path):
    """OpenCV's HOG segfaulted under ~112 px tall and asserted on 16×16 / 100×2000: now every size runs."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for width, height in [(160, 90), (320, 100), (640, 96), (16, 16), (100, 2000)]:
        noise_video(videos / f"v{width}x{height}.mp4", width, height)
    out = tmp_path / "out"
    run = track("--source", videos, "--out", out, "--formats", "jsonl", *TINY)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "error" not in run.stderr.lower()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] is True
    assert [v["status"] for v in summary["videos"]] == ["done"] * 5
    assert all(v["frames"] == 3 for v in summary["videos"])


# 2 ------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 600 KB tmpfs (root only); skipped where it cannot be mounted, except in CI."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True
    )
    require(done.returncode == 0, f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_leaves_no_broken_video_and_resume_redoes_it(tmp_path, small_disk, shared_data):
    video = loop_video(tmp_path / "long.mp4", shared_data / "video" / "street.mp4", 40, (640, 360))
    out = small_disk / "out"
    run = track("--source", video, "--out", out, "--formats", "video", *TINY)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    assert len([line for line in run.stderr.splitlines() if line.startswith("error:")]) == 1, run.stderr
    assert not (out / "long.mp4").exists()  # nothing unplayable under the final name
    again = track("--source", video, "--out", out, "--formats", "video", "--resume", *TINY)
    assert "Traceback" not in again.stderr and again.returncode != 0, again.stderr
    assert "1 skipped" not in again.stdout


# 3 ------------------------------------------------------------------------------------------------
def test_out_equal_to_the_source_folder_never_overwrites_the_input(tmp_path, shared_data):
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / "s.mp4"
    source.write_bytes((shared_data / "video" / "street.mp4").read_bytes())
    before = digest(source)
    run = track("--source", source, "--out", folder, *TINY)
    assert_one_error_line(run, 2, "overwrite the input")
    assert digest(source) == before and final_outputs(folder) == ["s.mp4"]


# 4 ------------------------------------------------------------------------------------------------
def test_a_14_joint_checkpoint_is_refused_with_one_line(tmp_path, shared_data):
    from core.model.checkpoint import save_checkpoint
    from core.model.hrnet import build_model

    checkpoint = tmp_path / "fourteen.pt"
    save_checkpoint(build_model(width=8, input_size=(64, 96), num_joints=14), checkpoint)
    out = tmp_path / "out"
    run = track("--source", shared_data / "video" / "street.mp4", "--out", out, "--checkpoint", checkpoint)
    assert_one_error_line(run, 2, "17-keypoint", "14 joints")
    assert not out.exists()


# 5 ------------------------------------------------------------------------------------------------
def test_a_folder_where_summary_json_goes_is_one_line_before_any_work(tmp_path, shared_data):
    out = tmp_path / "out"
    (out / "summary.json").mkdir(parents=True)
    run = track("--source", shared_data / "video" / "street.mp4", "--out", out, *TINY)
    assert_one_error_line(run, 2, "summary.json", "folder")
    assert final_outputs(out) == ["summary.json"]


# 6 ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("binary.txt", bytes(range(256)) * 4, ("not a MOTChallenge text file",)),
        ("huge.json", b'[{"image_id": 1e400, "bbox": [0, 0, 10, 20], "score": 1}]', ("integer image_id",)),
        ("deep.json", b"[" * 200_000, ("nested too deeply",)),
    ],
)
def test_malformed_detection_files_are_one_line(tmp_path, shared_data, name, content, words):
    detections = tmp_path / name
    detections.write_bytes(content)
    out = tmp_path / "out"
    source = shared_data / "video" / "street.mp4"
    run = track("--source", source, "--out", out, "--detector", f"file:{detections}", *TINY)
    assert_one_error_line(run, 2, *words)


# 7 + 10 (SIGTERM) ---------------------------------------------------------------------------------
def start_track(video: Path, out: Path) -> subprocess.Popen:
    return start_command("track", "--source", video, "--out", out, "--formats", "jsonl", *TINY)


def wait_until_tracking(process: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list(out.glob(".long.jsonl.partial-*")):  # the sinks are open: frames are flowing
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("signals", "code"),
    [((signal.SIGINT, signal.SIGINT), 130), ((signal.SIGTERM,), 143)],
    ids=["2xINT", "TERM"],
)
def test_signals_end_cleanly_with_the_summary_written(tmp_path, shared_data, signals, code):
    video = loop_video(tmp_path / "long.mp4", shared_data / "video" / "street.mp4", 400, (320, 180))
    out = tmp_path / "out"
    process = start_track(video, out)
    wait_until_tracking(process, out)
    for k, signum in enumerate(signals):
        if k:
            time.sleep(0.1)
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["finished"] is False
    assert [v["status"] for v in summary["videos"]] == ["interrupted"]
    assert final_outputs(out) == ["report.html", "summary.json"]  # the unfinished video's files are gone
    assert 'class="banner interrupted"' in (out / "report.html").read_text()


# 8 ------------------------------------------------------------------------------------------------
def test_a_truncated_video_is_an_error_unless_partial_videos_are_accepted(tmp_path):
    whole = noise_video(tmp_path / "whole.avi", 160, 128, frames=30, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.4)])  # decodes ~12 of 30
    out = tmp_path / "out"
    run = track("--source", cut, "--out", out, "--formats", "jsonl", *TINY)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "incomplete: decoding stopped at frame" in run.stderr
    assert not (out / "cut.jsonl").exists()  # so --resume never skips it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["videos"][0]["status"] == "error" and summary["finished"] is True
    accepted = track("--source", cut, "--out", out, "--formats", "jsonl", "--accept-partial", *TINY)
    assert accepted.returncode == 0, accepted.stderr
    assert (out / "cut.jsonl").is_file()


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--position-weight", "nan", ("--position-weight", "finite")),
        ("--new-track-score", "1.5", ("new_track_score", "at most 1")),
        ("--max-age", "90s", ("max_age", "at most 60")),
        ("--max-age", "30", ("--max-age needs its unit", "3s", "counted frames")),
        ("--max-frames", "0", ("--max-frames", "at least 1")),
        ("--width", "inf", ("--width", "whole number")),
    ],
)
def test_numeric_options_outside_their_range_are_one_line_and_create_nothing(tmp_path, option, value, words):
    out = tmp_path / "out"
    run = track("--source", tmp_path, "--out", out, option, value)
    assert_one_error_line(run, 2, *words)
    assert not out.exists()


# 9 ------------------------------------------------------------------------------------------------
def test_a_second_run_into_the_same_folder_is_refused_and_a_stale_lock_taken_over(tmp_path, shared_data):
    out = tmp_path / "out"
    out.mkdir()
    source = shared_data / "video" / "street.mp4"
    lock = out / ".track.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))  # alive: this test
    busy = track("--source", source, "--out", out, "--formats", "jsonl", *TINY)
    assert_one_error_line(busy, 2, "in use by another track run", f"pid {os.getpid()}")
    assert final_outputs(out) == []
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lock.write_text(json.dumps({"pid": int(gone.stdout), "host": socket.gethostname()}))  # dead: stale
    run = track("--source", source, "--out", out, "--formats", "jsonl", *TINY)
    assert run.returncode == 0, run.stderr
    assert not lock.exists()  # released at the end
    assert (out / "street.jsonl").is_file()


# 10 -----------------------------------------------------------------------------------------------
def test_glob_characters_in_names_and_totals_after_resume(tmp_path, shared_data):
    source = tmp_path / "clip[1].mp4"
    source.write_bytes((shared_data / "video" / "street.mp4").read_bytes())
    out = tmp_path / "out"
    first = track("--source", source, "--out", out, "--formats", "jsonl", *TINY)
    assert first.returncode == 0, first.stderr
    assert (out / "clip[1].jsonl").is_file()
    again = track("--source", source, "--out", out, "--formats", "jsonl", "--resume", *TINY)
    assert again.returncode == 0 and "1 skipped" in again.stdout, again.stderr
    totals = json.loads((out / "summary.json").read_text())["totals"]
    assert totals["skipped"] == 1 and totals["frames"] == 5


def test_out_is_not_created_before_backend_device_and_precision_are_checked(tmp_path, shared_data):
    source = shared_data / "video" / "street.mp4"
    for option, value in [("--backend", "nope"), ("--device", "tpu"), ("--precision", "fp8")]:
        out = tmp_path / f"out{option}"
        run = track("--source", source, "--out", out, option, value, *TINY)
        assert_one_error_line(run, 2)
        assert not out.exists(), option
