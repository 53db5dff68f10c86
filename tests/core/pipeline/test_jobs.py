"""Batch inputs: listing and naming, shards, torchrun ranks, output checks and completeness."""

from pathlib import Path

import pytest

from core.errors import UserError
from core.pipeline.jobs import (
    Job,
    check_out_dir,
    distributed_env,
    is_live_spec,
    list_inputs,
    outputs_complete,
    parse_formats,
    parse_shard,
    shard_jobs,
)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folders_and_globs_expand_to_sorted_videos_named_after_their_stem(tmp_path):
    for name in ("b.mp4", "a.avi", "notes.txt"):
        touch(tmp_path / "videos" / name)
    jobs = list_inputs([str(tmp_path / "videos")])
    assert [Path(j.spec).name for j in jobs] == ["a.avi", "b.mp4"]
    assert [j.stem for j in jobs] == ["a", "b"]
    assert list_inputs([str(tmp_path / "videos" / "*.mp4")]) == [Job(str(tmp_path / "videos" / "b.mp4"), "b")]
    # the same video given twice is processed once
    assert len(list_inputs([str(tmp_path / "videos"), str(tmp_path / "videos" / "b.mp4")])) == 2


def test_image_folders_and_globs_are_one_sequence_and_urls_pass_through(tmp_path):
    for i in range(3):
        touch(tmp_path / "frames" / f"{i:03d}.jpg")
        touch(tmp_path / "shots" / f"{i:03d}.png")
    jobs = list_inputs(
        [
            str(tmp_path / "frames"),
            str(tmp_path / "shots" / "*.png"),
            "0",
            "rtsp://user:secret@10.0.0.5:554/stream1",
        ]
    )
    assert len(jobs) == 4
    stems = {j.stem for j in jobs}
    assert {"frames", "shots", "camera0"} < stems
    stream = next(j for j in jobs if j.spec.startswith("rtsp"))
    assert "secret" not in stream.stem and "secret" not in stream.display and "10.0.0.5" in stream.stem


def test_inputs_that_share_a_stem_get_distinct_output_names(tmp_path):
    a = touch(tmp_path / "cam1" / "shift.mp4")
    b = touch(tmp_path / "cam2" / "shift.mp4")
    jobs = list_inputs([str(b), str(a)])
    assert [j.stem for j in jobs] == ["cam1_shift", "cam2_shift"]


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="source not found"):
        list_inputs([str(tmp_path / "nope.mp4")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no videos or images"):
        list_inputs([str(tmp_path / "empty")])
    with pytest.raises(UserError, match="matches no videos"):
        list_inputs([str(tmp_path / "*.mkv")])


def test_shards_are_disjoint_and_cover_the_sorted_list():
    jobs = [Job(f"v{i:02d}.mp4", f"v{i:02d}") for i in range(10)]
    shards = [shard_jobs(jobs, i, 3) for i in range(3)]
    assert [j.stem for j in shards[1]] == ["v01", "v04", "v07"]
    assert sorted(j.stem for s in shards for j in s) == [j.stem for j in jobs]
    assert parse_shard("2/3") == (2, 3) and parse_shard(" 0 / 1 ") == (0, 1)
    for bad in ("3/2", "1/0", "a/b", "1", "-1/2"):
        with pytest.raises(UserError, match="shard"):
            parse_shard(bad)


def test_torchrun_environment_gives_rank_world_and_local_rank(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed_env() is None
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed_env() == (3, 4, 1)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(UserError):
        distributed_env()


def test_formats_are_checked():
    assert parse_formats("jsonl,coco") == ("jsonl", "coco")
    assert parse_formats("video, VIDEO,mot") == ("video", "mot")
    with pytest.raises(UserError, match="foo"):
        parse_formats("jsonl,foo")


def test_output_folder_must_be_writable_and_is_checked_without_being_created(tmp_path):
    check_out_dir(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # made only once the models have loaded
    blocker = touch(tmp_path / "file")
    with pytest.raises(UserError, match="cannot write to output folder"):
        check_out_dir(blocker / "out")
    (tmp_path / "taken" / "summary.json").mkdir(parents=True)
    with pytest.raises(UserError, match=r"summary\.json: it is a folder"):
        check_out_dir(tmp_path / "taken")


def test_outputs_count_as_complete_only_when_every_requested_file_exists(tmp_path):
    assert not outputs_complete(tmp_path, "clip", ("jsonl", "mot"))
    touch(tmp_path / "clip.jsonl")
    touch(tmp_path / ".clip.mot.txt.partial-x1")  # what a killed run leaves
    assert not outputs_complete(tmp_path, "clip", ("jsonl", "mot"))
    touch(tmp_path / "clip.mot.txt")
    assert outputs_complete(tmp_path, "clip", ("jsonl", "mot"))


def test_cameras_and_live_streams_are_live_files_and_http_are_not():
    assert is_live_spec("0") and is_live_spec("rtsp://cam/1") and is_live_spec("RTMP://x/y")
    assert not is_live_spec("videos/a.mp4") and not is_live_spec("https://example.com/a.mp4")
