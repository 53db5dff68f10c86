"""Issue 22, inputs destroyed: no command writes its output over one of its inputs or over a device,
and `track` never takes a file for two inputs or its own outputs for new ones. Each case runs the
command as a user does and proves the input unchanged byte for byte."""

import os
import stat
from pathlib import Path

import pytest
import torch

from core.model.checkpoint import save_checkpoint
from core.model.hrnet import build_model
from tests.support.faults import (
    TINY_TRACK,
    command,
    digest,
    listing,
    one_error,
    succeeded,
    write_video,
)
from tests.support.helpers import require


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    """A W8 checkpoint in our format and the same weights as an official HRNet state dict."""
    folder = tmp_path_factory.mktemp("models")
    model = build_model(width=8, input_size=(64, 96))
    save_checkpoint(model, folder / "ours.pt")
    torch.save(model.state_dict(), folder / "official.pth")
    return {"ours": folder / "ours.pt", "official": folder / "official.pth"}


@pytest.fixture
def sequence(tmp_path, shared_data) -> Path:
    """A copy of TUD-Campus: det.txt, gt.txt and seqinfo.ini."""
    folder = tmp_path / "mot15" / "TUD-Campus"
    folder.mkdir(parents=True)
    for name in ("det.txt", "gt.txt", "seqinfo.ini"):
        (folder / name).write_bytes((shared_data / "mot15" / "TUD-Campus" / name).read_bytes())
    return folder


@pytest.mark.parametrize("victim", ["det.txt", "gt.txt", "seqinfo.ini", "link to det.txt"])
def test_mot_never_writes_over_a_file_of_its_sequence(sequence, capsys, victim):
    before = {name: digest(sequence / name) for name in ("det.txt", "gt.txt", "seqinfo.ini")}
    out = sequence / victim
    if victim.startswith("link"):
        out = sequence.parent / "results.txt"
        out.symlink_to(sequence / "det.txt")
    done = command(capsys, "mot", "--det", sequence / "det.txt", "--out", out, "--quiet")
    one_error(done, "which would be destroyed")
    assert {name: digest(sequence / name) for name in before} == before


@pytest.mark.parametrize("inside", ["", "det"])
def test_mot_of_a_folder_never_writes_into_a_sequence_folder(sequence, capsys, inside):
    """Results written into TUD-Campus/ would sit beside its det.txt and gt.txt, which `mot-eval
    --res` of that folder would then score as results."""
    (sequence / "det").mkdir()
    (sequence / "det.txt").rename(sequence / "det" / "det.txt")  # MOTChallenge's own layout
    before = listing(sequence)
    out = sequence / inside if inside else sequence
    done = command(capsys, "mot", "--det", sequence.parent, "--out", out, "--quiet")
    one_error(done, "inside the sequence folder", "apart from the inputs")
    assert listing(sequence) == before


def test_export_convert_and_eval_never_write_over_their_input(model_files, tmp_path, capsys, shared_data):
    ours, official = model_files["ours"], model_files["official"]
    annotations = tmp_path / "keypoints.json"
    annotations.write_bytes((shared_data / "coco_mini" / "person_keypoints.json").read_bytes())
    detections = tmp_path / "boxes.json"
    detections.write_bytes((shared_data / "coco_mini" / "person_detections.json").read_bytes())
    files = [ours, official, annotations, detections]
    before = [digest(path) for path in files]
    images = shared_data / "coco_mini" / "images"
    evaluation = ["eval", "--checkpoint", ours, "--coco-ann", annotations, "--images", images]
    for argv in (
        ["export", "--checkpoint", ours, "--out", ours],
        ["convert", "--from", "official", official, "--out", official],
        [*evaluation, "--out", annotations],
        [*evaluation, "--detections", detections, "--out", detections],
        [*evaluation, "--out", ours],
    ):
        one_error(command(capsys, *argv), "which would be destroyed")
    assert [digest(path) for path in files] == before
    assert listing(tmp_path) == ["boxes.json", "keypoints.json"]


@pytest.fixture
def devices(tmp_path) -> dict[str, Path]:
    """Character devices like /dev/null and /dev/full, made in tmp_path (root; the machine's own
    /dev/null must never be at stake in a test)."""
    made = {}
    for name, minor in (("null", 3), ("full", 7)):
        path = tmp_path / name
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
            with open(path, "wb") as handle:  # a filesystem mounted nodev refuses to open it
                handle.write(b"") if name == "null" else None
        except OSError as error:
            require(False, f"cannot make a device node here: {error}")
        made[name] = path
    return made


def is_device(path: Path) -> bool:
    return stat.S_ISCHR(path.stat().st_mode)


def test_an_output_that_is_a_device_is_written_through_never_replaced(devices, sequence, model_files, capsys):
    """A rename onto /dev/null would replace it with a regular file (for the whole machine, as root).
    A character device is written through instead: /dev/null swallows the output, /dev/full fails
    with one line, and both stay devices."""
    det = sequence / "det.txt"
    succeeded(command(capsys, "mot", "--det", det, "--out", devices["null"], "--quiet"))
    one_error(command(capsys, "mot", "--det", det, "--out", devices["full"], "--quiet"), "No space left")
    official = model_files["official"]
    convert = ["convert", "--from", "official", official, "--input-size", "64x96"]
    one_error(command(capsys, *convert, "--out", devices["full"]), "/full: No space left")
    assert is_device(devices["null"]) and is_device(devices["full"])
    assert sorted(p.name for p in sequence.parent.parent.iterdir()) == ["full", "mot15", "null"]


def test_videos_sharing_a_stem_keep_their_own_outputs_and_resume_tracks_both(tmp_path, capsys):
    """clip.mp4 and clip.mkv in one folder: each is named with its extension, whatever else the run
    takes, so a resumed run never finds one's outputs and skips the other."""
    videos = tmp_path / "in"
    videos.mkdir()
    write_video(videos / "clip.mp4")
    write_video(videos / "clip.mkv", fourcc="MJPG")
    out = tmp_path / "out"
    succeeded(
        command(
            capsys, "track", "--source", videos / "clip.mp4", "--out", out, "--formats", "jsonl", *TINY_TRACK
        )
    )
    assert listing(out) == ["clip_mp4.jsonl", "summary.json"]
    done = succeeded(
        command(
            capsys, "track", "--source", videos, "--out", out, "--formats", "jsonl", "--resume", *TINY_TRACK
        )
    )
    assert "1 done, 1 skipped" in done.out
    assert listing(out) == ["clip_mkv.jsonl", "clip_mp4.jsonl", "summary.json"]


def test_a_rerun_into_a_folder_under_its_glob_never_takes_its_own_outputs(tmp_path, capsys):
    """`--source 'in/**' --out in/out`: the second run sees in/out/clip.mp4 (the annotated video) but
    leaves it out, and --resume finds the one real input done."""
    videos = tmp_path / "in"
    videos.mkdir()
    write_video(videos / "clip.mp4")
    (videos / "sub").mkdir()
    (videos / "sub" / "loop").symlink_to("..")  # a symlink loop: in/sub/loop/sub/loop/… /clip.mp4
    source, out = f"{videos}/**", videos / "out"
    formats = ["--formats", "video,jsonl"]
    first = succeeded(command(capsys, "track", "--source", source, "--out", out, *formats, *TINY_TRACK))
    assert "1 done, 0 skipped" in first.out  # one file, not one per turn of the loop
    again = succeeded(
        command(capsys, "track", "--source", source, "--out", out, *formats, "--resume", *TINY_TRACK)
    )
    assert "0 done, 1 skipped" in again.out
    assert listing(out) == ["clip.jsonl", "clip.mp4", "summary.json"]
