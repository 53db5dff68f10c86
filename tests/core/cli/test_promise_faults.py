"""Issue 22, promises broken: what the README and the docs promise about a batch, kept under the
inputs that broke it — an unreadable video among readable ones, very long file names, and things
that are there but are not video files."""

import json
import os

import pytest

from core.atomic import temp_beside
from core.errors import UserError
from core.video.sources import open_source
from tests.support.faults import (
    TINY_TRACK,
    command,
    listing,
    one_error,
    owned_by_another_user,
    subprocess_command,
    succeeded,
    write_video,
)
from tests.support.sandbox import unprivileged


def test_one_unreadable_video_does_not_stop_the_others(world_readable_dir):
    """README: "one unreadable video does not stop the others". A video of another owner with mode
    600 stopped the whole batch with exit 2 before the readable ones ran."""
    videos = world_readable_dir / "in"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        write_video(videos / name)
    owned_by_another_user(videos / "b.mp4", 0o600)  # no one else may read it
    out = world_readable_dir / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    done = subprocess_command(
        "track", "--source", videos, "--out", out, "--formats", "jsonl", *TINY_TRACK, prefix=unprivileged([])
    )
    one_error(done, "cannot read", "b.mp4", "Permission denied", code=1)
    assert "2 done, 0 skipped, 1 failed" in done.out
    assert listing(out) == ["a.jsonl", "c.jsonl", "summary.json"]
    statuses = {v["stem"]: v["status"] for v in json.loads((out / "summary.json").read_text())["videos"]}
    assert statuses == {"a": "done", "b": "error", "c": "done"}


def test_names_up_to_the_longest_a_file_can_have_are_tracked_and_resumed(tmp_path, capsys):
    """A 240-character name failed on its temporary name (`.NAME.partial-XXXX` > 255 bytes) after the
    model had loaded; a 251-character one also on its final `.coco.json` name. Temporary names and
    output stems are cut and marked with a hash of the whole name: unique, and the same in every run."""
    videos = tmp_path / "in"
    videos.mkdir()
    long, longest = "m" * 236, "é" * 100 + "n" * 47  # 240 and 251 bytes with ".mp4"
    for stem in (long, longest):
        write_video(videos / f"{stem}.mp4")
    out = tmp_path / "out"
    out.mkdir()
    leftover = temp_beside(out / f"{long}.coco.json")  # what a killed run leaves: cleaned up
    argv = ["track", "--source", videos, "--out", out, "--formats", "jsonl,coco", *TINY_TRACK]
    assert "2 done, 0 skipped" in succeeded(command(capsys, *argv)).out
    names = listing(out)
    assert f"{long}.jsonl" in names and f"{long}.coco.json" in names and not leftover.exists()
    assert all(len(os.fsencode(name)) <= 255 for name in names)
    assert len(names) == 5 and not any(name.startswith(".") for name in names)
    assert "0 done, 2 skipped" in succeeded(command(capsys, *argv, "--resume")).out


@pytest.mark.parametrize("kind", ["FIFO", "/dev/zero", "/dev/urandom"])
def test_a_source_that_is_there_but_no_video_file_says_so(tmp_path, capsys, kind):
    """These were "source not found"; FFmpeg, given them, would read for ever."""
    if kind == "FIFO":
        source = tmp_path / "pipe.mp4"
        os.mkfifo(source)
    else:
        source = kind
    words = ("not a regular video file", "FIFO" if kind == "FIFO" else "character device")
    one_error(command(capsys, "track", "--source", source, "--out", tmp_path / "out", *TINY_TRACK), *words)
    with pytest.raises(UserError, match="not a regular video file"):  # the app opens sources this way
        open_source(str(source))
    assert not (tmp_path / "out").exists()
