"""Reading what a run left in its folder: the summary (or the shards' summaries), each video's files,
and how the run ended, said in one line."""

import json
import os

import pytest

from core.errors import UserError
from core.report.outputs import combine_shards, read_outputs, video_files


def entry(stem, status="done", source=None):
    return {"stem": stem, "source": source or f"{stem}.mp4", "status": status, "frames": 5, "error": None}


def write(path, **summary):
    path.write_text(json.dumps({"finished": True, "interrupted": False, "videos": [], **summary}))
    return path


def test_failed_videos_come_first_then_interrupted_then_the_rest_in_input_order(tmp_path):
    videos = [entry("a"), entry("b", "error"), entry("c", "skipped"), entry("d", "interrupted"), entry("e")]
    write(tmp_path / "summary.json", videos=videos)
    run = read_outputs(tmp_path)
    assert [v["stem"] for v in run.ordered_videos()] == ["b", "d", "a", "e", "c"]
    assert run.counts() == {"error": 1, "interrupted": 1, "done": 2, "skipped": 1}


@pytest.mark.parametrize(
    ("fields", "kind", "words"),
    [
        ({}, "finished", "All 2 videos done"),
        (
            {"interrupted": True, "finished": False},
            "interrupted",
            "interrupted (Ctrl-C or SIGTERM) after 2 of 2",
        ),
        ({"finished": False}, "unfinished", "still running, or it was killed"),
        ({"failure": "cannot write out/a.mp4: No space left on device"}, "failed", "No space left on device"),
    ],
)
def test_the_state_line_says_how_the_run_ended(tmp_path, fields, kind, words):
    write(tmp_path / "summary.json", videos=[entry("a"), entry("b")], **fields)
    state = read_outputs(tmp_path).state()
    assert state.kind == kind and words in state.line


def test_failed_videos_make_the_run_failed(tmp_path):
    write(tmp_path / "summary.json", videos=[entry("a"), entry("b", "error")])
    state = read_outputs(tmp_path).state()
    assert state.kind == "failed" and state.line.startswith("1 of 2 videos failed")


def test_files_are_found_by_stem_in_the_folder_not_by_the_summary_s_relative_paths(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "a.mp4").write_bytes(b"")
    video = {**entry("a"), "outputs": {"jsonl": "somewhere/else/a.jsonl"}}
    assert video_files(tmp_path, video) == {"video": tmp_path / "a.mp4", "jsonl": tmp_path / "a.jsonl"}


def test_unmerged_shards_are_read_together_until_the_merged_summary_is_newer(tmp_path):
    write(tmp_path / "summary.json", videos=[entry("old")])
    os.utime(tmp_path / "summary.json", (1, 1))
    write(tmp_path / "summary.rank0.json", shard=[0, 2], videos=[entry("b")], wall_s=3.0)
    write(tmp_path / "summary.rank1.json", shard=[1, 2], videos=[entry("a")], finished=False, wall_s=5.0)
    run = read_outputs(tmp_path)
    assert [v["stem"] for v in run.videos] == ["a", "b"]
    assert run.summary["finished"] is False and run.summary["wall_s"] == 5.0 and run.summary["shards"] == 2
    assert run.state().kind == "unfinished"
    write(tmp_path / "summary.json", videos=[entry("a"), entry("b")], shards=2)  # the last shard merged
    assert read_outputs(tmp_path).sources == [tmp_path / "summary.json"]


def test_one_shard_interrupted_or_untrained_marks_the_whole_run():
    parts = [
        {"shard": [0, 2], "finished": True, "weights": "trained", "videos": []},
        {"shard": [1, 2], "finished": False, "interrupted": True, "weights": "untrained", "videos": []},
    ]
    combined = combine_shards(parts)
    assert combined["interrupted"] is True and combined["weights"] == "untrained"
    assert combined["finished"] is False


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda p: None, "no summary.json"),
        (lambda p: (p / "summary.json").write_text("{not json"), "unreadable summary.json"),
        (lambda p: (p / "summary.json").write_text("[1, 2]"), "unreadable summary.json"),
    ],
)
def test_a_folder_without_a_run_is_one_user_error(tmp_path, setup, words):
    setup(tmp_path)
    with pytest.raises(UserError, match=words):
        read_outputs(tmp_path)
    with pytest.raises(UserError, match="no such output folder"):
        read_outputs(tmp_path / "missing")
