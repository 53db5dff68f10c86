"""Issue 22, tracebacks instead of one line: each case below ended in a Python traceback; now it is
one `error:` line and exit 2 (or, for a source that fails in its turn, the run's error line and
exit 1), and nothing is created. Permission cases run unprivileged (tests.support.sandbox: root
reads everything) on files of another user."""

import json
import socket
from pathlib import Path

import pytest

from core.model.checkpoint import save_checkpoint
from core.model.hrnet import build_model
from tests.support.faults import (
    TINY_TRACK,
    command,
    listing,
    one_error,
    owned_by_another_user,
    subprocess_command,
    write_video,
)
from tests.support.sandbox import unprivileged


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_video(tmp_path / "clip.mp4")


# ------------------------------------------------------------------------------------- track, mot
@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("99999999999999999999", ("camera index", "0 to 9999")),
        ("²", ("camera index",)),
    ],
)
def test_sources_no_device_can_be_are_one_line(tmp_path, capsys, source, words):
    out = tmp_path / "out"
    one_error(command(capsys, "track", "--source", source, "--out", out, *TINY_TRACK), *words)
    assert not out.exists()


def test_a_malformed_ipv6_stream_url_fails_in_its_turn_without_its_password(tmp_path, capsys):
    """rtsp://user:pw@[fe80::1%eth0:554/x lacks its "]": the run says so in one line, and the
    password stays masked although no URL parser can read that address."""
    out = tmp_path / "out"
    url = "rtsp://admin:hunter22@[fe80::1%eth0:554/stream"
    done = command(capsys, "track", "--source", url, "--out", out, *TINY_TRACK)
    one_error(done, "cannot open stream", "rtsp://***@[fe80::1%eth0:554/stream", code=1)
    assert "hunter22" not in done.err + done.out + (out / "summary.json").read_text()


def test_an_out_path_the_system_refuses_is_one_line(tmp_path, capsys, clip, shared_data):
    """A path of 4096 characters failed with ENAMETOOLONG wherever it was first looked at: every
    path option is checked as it is parsed, and an output folder when it is checked (a recipe's
    run.out_dir)."""
    long = tmp_path / ("x" * 4096)
    track = ["track", "--source", clip, "--out", long, *TINY_TRACK]
    one_error(command(capsys, *track), "--out", "path too long")
    det = shared_data / "mot15" / "TUD-Campus" / "det.txt"
    one_error(command(capsys, "mot", "--det", det, "--out", long, "--quiet"), "--out", "path too long")
    mini = shared_data / "coco_mini"
    train = ["train", "--coco-ann", mini / "person_keypoints.json", "--images", mini / "images"]
    one_error(command(capsys, *train, "--out", long), "--out", "path too long")
    recipe = ["--set", f"run.out_dir='{long}'"]
    one_error(command(capsys, *train, *recipe), "output folder", "File name too long", "…")
    assert listing(tmp_path) == ["clip.mp4"]


@pytest.mark.parametrize(
    ("fps", "seqinfo", "words"),
    [
        ("1e-300", None, ("fps", "0.01")),
        ("30", "[Sequence]\nframeRate=1e-300\n", ("seqinfo.ini", "frameRate 1e-300", "0.01")),
        ("30", "[Sequence]\nframeRate=5000\n", ("seqinfo.ini", "frameRate 5000", "1000")),
    ],
    ids=["--fps", "tiny frameRate", "huge frameRate"],
)
def test_frame_rates_no_sequence_can_have_are_one_line(tmp_path, capsys, shared_data, fps, seqinfo, words):
    """A frame every 10^300 seconds overflowed the tracker's clock (OverflowError)."""
    (tmp_path / "det.txt").write_bytes((shared_data / "mot15" / "TUD-Campus" / "det.txt").read_bytes())
    if seqinfo:
        (tmp_path / "seqinfo.ini").write_text(seqinfo)
    out = tmp_path / "res.txt"
    one_error(
        command(capsys, "mot", "--det", tmp_path / "det.txt", "--out", out, "--fps", fps, "--quiet"), *words
    )
    assert not out.exists()


# ------------------------------------------------------------------------------ as another user
def test_an_unreadable_folder_or_glob_is_one_line_for_another_user(world_readable_dir):
    videos = world_readable_dir / "in"
    videos.mkdir()
    write_video(videos / "clip.mp4")
    owned_by_another_user(videos, 0o700)  # no one else may look inside
    out = world_readable_dir / "out"
    for source in (videos, f"{videos}/*.mp4", videos / "clip.mp4"):
        done = subprocess_command(
            "track", "--source", source, "--out", out, *TINY_TRACK, prefix=unprivileged([])
        )
        one_error(done, "cannot read", "Permission denied")
    assert not out.exists()


def test_a_stale_lock_left_by_another_user_is_one_line(world_readable_dir):
    """The lock's process is gone, but lock and sticky folder (/tmp-like) are another user's: the
    run cannot take the lock over, and says so instead of a PermissionError traceback."""
    clip = write_video(world_readable_dir / "clip.mp4")
    out = world_readable_dir / "out"
    out.mkdir()
    lock = out / ".track.lock"
    lock.write_text(json.dumps({"pid": 2**22 + 1, "host": socket.gethostname()}))  # beyond pid_max: gone
    owned_by_another_user(lock, 0o644)
    owned_by_another_user(out, 0o1777)
    done = subprocess_command("track", "--source", clip, "--out", out, *TINY_TRACK, prefix=unprivileged([]))
    one_error(done, ".track.lock", "has ended", "cannot remove it")
    assert listing(out) == [".track.lock"]


# --------------------------------------------------------------------------------- train, eval
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "w8.pt"
    save_checkpoint(build_model(width=8, input_size=(64, 64)), path)
    return path


def broken_annotations(source: Path, target: Path, change) -> Path:
    """coco_mini's annotations with `change(first person annotation)` applied."""
    data = json.loads(source.read_text())
    change(next(a for a in data["annotations"] if a.get("num_keypoints", 0) > 0))
    target.write_text(json.dumps(data))
    return target


def drop_bbox(annotation: dict) -> None:
    del annotation["bbox"]


def string_keypoints(annotation: dict) -> None:
    annotation["keypoints"] = ["x"] * len(annotation["keypoints"])


@pytest.mark.parametrize(
    ("change", "words"),
    [(drop_bbox, ("no bbox",)), (string_keypoints, ("keypoints must be numbers",))],
    ids=["no bbox", "string keypoints"],
)
def test_malformed_annotations_are_one_line_for_train_and_eval(
    tmp_path, capsys, shared_data, checkpoint, change, words
):
    mini = shared_data / "coco_mini"
    annotations = broken_annotations(mini / "person_keypoints.json", tmp_path / "ann.json", change)
    images = mini / "images"
    train = ["train", "--coco-ann", annotations, "--images", images, "--out", tmp_path / "run"]
    train += ["--width", "8", "--input-size", "64x64", "--epochs", "1", "--workers", "0", "--no-progress"]
    one_error(command(capsys, *train), "ann.json: annotation", *words)
    evaluation = ["eval", "--checkpoint", checkpoint, "--coco-ann", annotations, "--images", images]
    one_error(command(capsys, *evaluation, "--workers", "0", "--no-progress"), "ann.json: annotation", *words)


def test_train_options_that_cannot_be_used_are_one_line(tmp_path, capsys, shared_data):
    mini = shared_data / "coco_mini"
    base = ["train", "--coco-ann", mini / "person_keypoints.json", "--images", mini / "images"]
    base += ["--width", "8", "--input-size", "64x64", "--epochs", "1", "--no-progress"]
    one_error(command(capsys, *base, "--out", tmp_path / "run", "--seed", str(2**32)), "run.seed", "2^32 - 1")
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    one_error(command(capsys, *base, "--out", blocker), "output folder", "is a file")
    assert blocker.read_text() == "mine" and listing(tmp_path) == ["file"]


@pytest.mark.parametrize(
    ("launcher", "words"),
    [
        ("no-such-launcher --nproc 2", ("'no-such-launcher' not found",)),
        ('torchrun "unclosed', ("--launcher",)),
    ],
)
def test_a_table1_launcher_that_cannot_run_is_one_line_before_any_row(tmp_path, capsys, launcher, words):
    out = tmp_path / "table"
    one_error(
        command(capsys, "table1", "--out", out, "--launcher", launcher, "--presets", "baseline"), *words
    )
    assert not out.exists()
