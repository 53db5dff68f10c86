"""The batch job: shards, resume, several inputs in one pipeline, Ctrl-C, and summary merging."""

import _thread
import json
import os
import threading
import time

import cv2
import numpy as np
import pytest
import torch

from core.pipeline.jobs import list_inputs
from core.pipeline.runner import RunOptions, merge_summaries, run_job_group, run_jobs
from core.pipeline.threaded import PipelineConfig, build_models

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    det = tmp_path_factory.mktemp("det") / "det.txt"
    det.write_text("\n".join(f"{i + 1},-1,100,120,80,280,0.9,-1,-1,-1" for i in range(5)) + "\n")
    return build_models(PipelineConfig(width=8, input_size=(64, 96), detector=f"file:{det}", backend="eager"))


def test_shards_run_their_share_and_the_last_to_finish_merges_the_summary(models, shared_data, tmp_path):
    videos = [str(shared_data / "video" / name) for name in ("street.mp4", "soccer.mp4")]
    jobs = list_inputs(videos)

    def shard(index: int) -> RunOptions:
        return RunOptions(tmp_path, ("jsonl",), shard=(index, 2), progress=False)

    first = run_jobs(models.config, jobs, shard(0), models)
    assert first.exit_code == 0 and first.merged_path is None  # rank 1 has not finished yet
    assert [v["stem"] for v in first.summary["videos"]] == ["soccer"]
    assert not (tmp_path / "summary.json").exists()
    assert first.report_path is None  # the report is the last shard's to write, with every video in it
    second = run_jobs(models.config, jobs, shard(1), models)
    assert second.merged_path == tmp_path / "summary.json"
    assert second.report_path == tmp_path / "report.html"
    merged = json.loads(second.merged_path.read_text())
    done = [(v["stem"], v["status"], v["frames"]) for v in merged["videos"]]
    assert done == [("soccer", "done", 5), ("street", "done", 5)]
    assert merged["weights"] == "untrained" and merged["totals"]["frames"] == 10
    assert {p.name for p in tmp_path.iterdir()} == {
        "soccer.jsonl",
        "street.jsonl",
        "summary.json",
        "summary.rank0.json",
        "summary.rank1.json",
        "report.html",
        ".report-cache",
    }


def test_resume_skips_finished_inputs_and_keeps_their_numbers(models, shared_data, tmp_path):
    jobs = list_inputs([str(shared_data / "video" / "street.mp4")])
    options = RunOptions(tmp_path, ("jsonl", "mot"), progress=False)
    run_jobs(models.config, jobs, options, models)
    written = (tmp_path / "street.jsonl").stat().st_mtime_ns
    options.resume = True
    again = run_jobs(models.config, jobs, options, models)
    entry = again.summary["videos"][0]
    assert entry["status"] == "skipped" and entry["frames"] == 5 and entry["people"] == 1.0
    assert (tmp_path / "street.jsonl").stat().st_mtime_ns == written
    (tmp_path / "street.mot.txt").unlink()  # one output missing: not complete, so it runs again
    third = run_jobs(models.config, jobs, options, models)
    assert third.summary["videos"][0]["status"] == "done" and (tmp_path / "street.mot.txt").is_file()


def test_inputs_run_together_in_one_pipeline_keep_separate_outputs(models, shared_data, tmp_path):
    """How live cameras run (all at once); files are used here because they end by themselves."""
    jobs = list_inputs([str(shared_data / "video" / n) for n in ("street.mp4", "soccer.mp4")])
    options = RunOptions(tmp_path, ("jsonl",), progress=False)
    entries, interrupted = run_job_group(models.config, jobs, options, models)
    assert not interrupted
    done = [(e["stem"], e["status"], e["frames"]) for e in entries]
    assert done == [("soccer", "done", 5), ("street", "done", 5)]
    for stem in ("soccer", "street"):
        assert len((tmp_path / f"{stem}.jsonl").read_text().splitlines()) == 1 + 5


def test_ctrl_c_discards_the_unfinished_video_and_records_it(models, shared_data, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "soccer.mp4").write_bytes((shared_data / "video" / "soccer.mp4").read_bytes())
    long = videos / "z_long.mp4"  # sorted after soccer
    writer = cv2.VideoWriter(str(long), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (160, 90))
    for _ in range(3000):
        writer.write(np.full((90, 160, 3), 128, np.uint8))
    writer.release()
    jobs = list_inputs([str(videos)])
    out = tmp_path / "out"
    finished = threading.Event()

    def press_ctrl_c_inside_the_long_video():
        while not finished.is_set():
            if list(out.glob(".z_long.jsonl.partial*")):
                _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
                return
            time.sleep(0.005)

    threading.Thread(target=press_ctrl_c_inside_the_long_video, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_jobs(models.config, jobs, RunOptions(out, ("jsonl",), progress=False), models)
    finally:
        finished.set()
    summary = json.loads((out / "summary.json").read_text())
    status = [(v["stem"], v["status"]) for v in summary["videos"]]
    assert status == [("soccer", "done"), ("z_long", "interrupted")]
    assert summary["finished"] is False
    assert sorted(p.name for p in out.iterdir()) == [
        ".report-cache",
        "report.html",
        "soccer.jsonl",
        "summary.json",
    ]
    report = (out / "report.html").read_text()  # written on Ctrl-C too, saying so before anything else
    assert report.index('<div class="banner interrupted"') < report.index("<main>")
    assert report.count('<section id="video-') == 2


def test_rank_summaries_merge_only_when_every_rank_has_finished(tmp_path):
    def rank(r, finished, videos, run_id=None):
        data = {
            "weights": "untrained",
            "finished": finished,
            "wall_s": 1.0 + r,
            "shard": [r, 2],
            "run_id": run_id,
            "videos": videos,
            "totals": {},
        }
        (tmp_path / f"summary.rank{r}.json").write_text(json.dumps(data))

    rank(0, True, [{"source": "b.mp4", "stem": "b", "status": "done", "frames": 5}])
    assert merge_summaries(tmp_path, 2) is None  # rank 1 missing
    rank(1, False, [])
    assert merge_summaries(tmp_path, 2) is None  # rank 1 still running
    rank(1, True, [{"source": "a.mp4", "stem": "a", "status": "error", "frames": 0, "error": "corrupt"}])
    merged = json.loads(merge_summaries(tmp_path, 2).read_text())
    assert [v["stem"] for v in merged["videos"]] == ["a", "b"]
    totals = {"videos": 2, "done": 1, "skipped": 0, "errors": 1, "interrupted": 0, "frames": 5}
    assert merged["totals"] == totals
    assert merged["wall_s"] == 2.0 and merged["shards"] == 2 and merged["weights"] == "untrained"
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]
    rank(1, True, [], run_id="another torchrun")
    assert merge_summaries(tmp_path, 2) is None  # never mix the files of two runs


def test_a_run_that_breaks_says_why_in_its_summary_and_first_in_its_report(
    models, shared_data, tmp_path, monkeypatch
):
    import core.pipeline.runner as runner

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "run_job_group", broken)
    jobs = list_inputs([str(shared_data / "video" / "street.mp4")])
    with pytest.raises(RuntimeError):
        run_jobs(models.config, jobs, RunOptions(tmp_path, ("jsonl",), progress=False), models)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failure"] == "RuntimeError: a bug" and summary["finished"] is False
    report = (tmp_path / "report.html").read_text()
    assert report.index(
        '<div class="banner failed" id="state">The run failed: RuntimeError: a bug'
    ) < report.index("<main>")
