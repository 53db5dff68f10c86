"""`python run.py track` end to end, as a user runs it (subprocesses): outputs, kill/resume, bad input.

A tiny model (width 8) keeps CPU time down; only the plumbing is under test here.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.support.helpers import ROOT, TINY_MODEL, loop_video, run_track

FORMATS = {"video": ".mp4", "jsonl": ".jsonl", "csv": ".csv", "coco": ".coco.json", "mot": ".mot.txt"}
TINY = TINY_MODEL


def track(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_track(*args, timeout=timeout)


def frame_count(video: Path) -> int:
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from core.model.checkpoint import save_checkpoint
    from core.model.hrnet import build_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(build_model(width=8, input_size=(64, 96)), path)
    return path


def test_track_writes_every_output_with_one_record_per_input_frame(shared_data, tmp_path):
    from pycocotools.coco import COCO

    videos = [shared_data / "video" / "street.mp4", shared_data / "video" / "soccer.mp4"]
    out = tmp_path / "out"
    run = track("--source", videos[0], "--source", videos[1], "--out", out, *TINY)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "untrained" in run.stderr  # the one-line warning: no checkpoint was given
    summary = json.loads((out / "summary.json").read_text())
    assert summary["weights"] == "untrained" and summary["finished"] is True
    assert [v["stem"] for v in summary["videos"]] == ["soccer", "street"]
    for video in videos:
        stem, frames = video.stem, frame_count(video)
        entry = next(v for v in summary["videos"] if v["stem"] == stem)
        assert entry["status"] == "done" and entry["frames"] == frames == 5
        assert entry["fps"] > 0 and entry["people"] >= 1 and entry["tracks"] >= 1 and entry["error"] is None
        for suffix in FORMATS.values():
            assert (out / f"{stem}{suffix}").is_file()
        # JSONL: a header saying the weights are untrained, then one valid line per input frame
        lines = [json.loads(line) for line in (out / f"{stem}.jsonl").read_text().splitlines()]
        assert lines[0]["header"]["weights"] == "untrained"
        records = lines[1:]
        assert [r["frame"] for r in records] == list(range(frames))
        assert all(len(t["keypoints"]) == 17 and len(t["box"]) == 4 for r in records for t in r["tracks"])
        assert sum(len(r["tracks"]) for r in records) > 0
        # every frame carries the FPS at which it was written; the summary's is that rate over the run
        assert records[0]["fps"] == 0.0 and all(r["fps"] > 0 for r in records[1:])
        # annotated video: as many frames as the input, same size
        assert frame_count(out / f"{stem}.mp4") == frames
        rows = list(csv.DictReader((out / f"{stem}.csv").open()))
        assert len(rows) == sum(len(r["tracks"]) for r in records)
        assert len((out / f"{stem}.mot.txt").read_text().splitlines()) == len(rows)
        # COCO results that pycocotools reads, against a ground truth made of the same frames
        height, width = cv2.VideoCapture(str(video)).read()[1].shape[:2]
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i + 1, "width": width, "height": height} for i in range(frames)],
            "annotations": [],
            "categories": [{"id": 1, "name": "person"}],
        }
        gt.createIndex()
        results = gt.loadRes(str(out / f"{stem}.coco.json"))
        assert len(results.getAnnIds()) == len(rows)
    assert not [p for p in out.iterdir() if "partial" in p.name]
    report = out / "report.html"  # the run's report, with a section per video
    assert f"report: {report}" in run.stdout and report.read_text().count('<section id="video-') == 2


def test_killed_run_leaves_no_complete_looking_output_and_resume_finishes(shared_data, tmp_path, checkpoint):
    inputs = tmp_path / "videos"
    inputs.mkdir()
    loop_video(inputs / "a_short.mp4", shared_data / "video" / "street.mp4", 5)
    loop_video(inputs / "b_long.mp4", shared_data / "video" / "soccer.mp4", 150)
    out = tmp_path / "out"
    args = ["--source", inputs, "--out", out, "--checkpoint", checkpoint, "--no-progress"]
    process = subprocess.Popen(
        [sys.executable, "run.py", "track", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not list(out.glob(".b_long.jsonl.partial*")) or (out / "b_long.jsonl").exists():
            assert process.poll() is None and time.monotonic() < deadline, "no partial output to kill on"
            time.sleep(0.05)
        time.sleep(0.3)  # well inside the long video
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    names = {p.name for p in out.iterdir()}
    assert {f"a_short{suffix}" for suffix in FORMATS.values()} <= names  # the first video was finished
    assert not any(name.startswith("b_long") for name in names)  # nothing of the killed one looks complete
    assert any(name.startswith(".b_long") and "partial" in name for name in names)
    finished = {name: (out / name).stat().st_mtime_ns for name in names if name.startswith("a_short")}

    run = track(*args, "--resume")
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    status = {v["stem"]: v["status"] for v in summary["videos"]}
    assert status == {"a_short": "skipped", "b_long": "done"}
    assert next(v for v in summary["videos"] if v["stem"] == "a_short")["frames"] == 5  # kept from before
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished  # not rewritten
    lines = (out / "b_long.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 150
    assert not [p for p in out.iterdir() if "partial" in p.name]  # the killed run's leftovers are gone


def test_one_unreadable_video_is_reported_and_the_others_still_run(shared_data, tmp_path, checkpoint):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "broken.mp4").write_bytes(os.urandom(4096))
    (videos / "street.mp4").write_bytes((shared_data / "video" / "street.mp4").read_bytes())
    out = tmp_path / "out"
    run = track(
        "--source",
        videos,
        "--out",
        out,
        "--checkpoint",
        checkpoint,
        "--backend",
        "eager",
        "--formats",
        "jsonl,mot",
        "--no-progress",
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0]
    summary = json.loads((out / "summary.json").read_text())
    status = {v["stem"]: (v["status"], v["frames"]) for v in summary["videos"]}
    assert status == {"broken": ("error", 0), "street": ("done", 5)}
    assert summary["weights"] == "trained" and summary["totals"]["errors"] == 1
    assert not any(p.name.startswith("broken") for p in out.iterdir())


def zero_frame_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 64))
    writer.release()
    if not path.exists():
        path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "source not found"),
        ("formats", "unknown output format foo"),
        ("shard", "--shard 3/2"),
        ("unwritable", "cannot write to output folder"),
        ("interval", "--interval must be at least 1"),
        ("not-a-number", "--max-frames must be a whole number"),
        ("corrupt", "corrupt"),
        ("zero-frames", "empty.mp4"),
    ],
)
def test_bad_input_gets_one_clear_line_and_a_nonzero_exit(case, expected, tmp_path, shared_data, checkpoint):
    street = shared_data / "video" / "street.mp4"
    out = tmp_path / "out"
    model = ["--checkpoint", checkpoint, "--backend", "eager", "--detector", "hog"]
    args = {
        "missing": ["--source", tmp_path / "nope.mp4", "--out", out],
        "formats": ["--source", street, "--out", out, "--formats", "jsonl,foo"],
        "shard": ["--source", street, "--out", out, "--shard", "3/2"],
        "unwritable": ["--source", street, "--out", (tmp_path / "file").resolve() / "out"],
        "interval": ["--source", street, "--out", out, "--interval", "0"],
        "not-a-number": ["--source", street, "--out", out, "--max-frames", "ten"],
        # a model is loaded before these inputs are opened: a checkpoint, an explicit backend and
        # detector keep the expected notes (untrained weights, backend fallback, default detector) out
        "corrupt": ["--source", tmp_path / "corrupt.mp4", "--out", out, *model],
        "zero-frames": ["--source", zero_frame_video(tmp_path / "empty.mp4"), "--out", out, *model],
    }[case]
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "corrupt.mp4").write_bytes(os.urandom(4096))
    run = track(*args, "--no-progress")
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error:") and expected in lines[0]


def test_text_files_are_refused_as_videos_by_their_content(shared_data, tmp_path):
    """FFmpeg's tty demuxer would show a MOTChallenge gt.txt as 50 frames of ANSI art, and exit 0."""
    gt = shared_data / "mot15" / "TUD-Campus" / "gt.txt"
    disguised = tmp_path / "tracks.mp4"  # the extension does not make it a video
    disguised.write_bytes(gt.read_bytes())
    for source in (gt, disguised):
        run = track("--source", source, "--out", tmp_path / "out", *TINY, timeout=60)
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert run.returncode == 2 and len(lines) == 1, run.stderr
        assert lines[0].startswith("error: not a video") and "text file" in lines[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_keypoint_threshold_is_checked_before_the_model_loads(shared_data, tmp_path):
    street = shared_data / "video" / "street.mp4"
    run = track("--source", street, "--out", tmp_path / "out", "--kpt-threshold", "1.5", *TINY, timeout=60)
    assert run.returncode == 2 and run.stderr.strip().startswith(
        "error: --kpt-threshold must be a finite number >= 0 and <= 1"
    )


def test_a_file_gets_the_offline_pass_with_the_same_identities_in_every_output(shared_data, tmp_path):
    """TUD-Stadtmitte's real video: the offline tracks (JSONL header says so) are what every output
    carries, frame by frame; `--online` writes the online ones and says that instead."""
    from collections import defaultdict

    video = shared_data / "mot15" / "TUD-Stadtmitte" / "video.mp4"
    frames = 25
    ids: dict[str, dict] = {}
    for mode in ("offline", "online"):
        out = tmp_path / mode
        extra = ["--online"] if mode == "online" else []
        run = track("--source", video, "--out", out, "--max-frames", frames, *TINY, *extra)
        assert run.returncode == 0, run.stderr
        lines = [json.loads(line) for line in (out / "video.jsonl").read_text().splitlines()]
        assert lines[0]["header"]["tracking"] == mode
        per_format = {"jsonl": {r["frame"]: sorted(t["id"] for t in r["tracks"]) for r in lines[1:]}}
        for name, rows, frame_of, id_of in (
            ("csv", list(csv.DictReader((out / "video.csv").open())), lambda r: int(r["frame"]), "id"),
            (
                "coco",
                json.loads((out / "video.coco.json").read_text()),
                lambda r: r["image_id"] - 1,
                "track_id",
            ),
        ):
            table = defaultdict(list)
            for row in rows:
                table[frame_of(row)].append(int(row[id_of]))
            per_format[name] = {f: sorted(table.get(f, [])) for f in range(frames)}
        table = defaultdict(list)
        for line in (out / "video.mot.txt").read_text().splitlines():
            number, track_id = line.split(",")[:2]
            table[int(number) - 1].append(int(track_id))
        per_format["mot"] = {f: sorted(table.get(f, [])) for f in range(frames)}
        assert all(table == per_format["jsonl"] for table in per_format.values()), mode
        assert sum(map(len, per_format["jsonl"].values())) > 10, mode  # people were tracked
        assert frame_count(out / "video.mp4") == frames
        assert not [p for p in out.iterdir() if "partial" in p.name]
        ids[mode] = per_format["jsonl"]
    # Knowing the future, the offline pass reports people from their first frame, before the online
    # tracker confirms them.
    assert sum(map(len, ids["offline"].values())) > sum(map(len, ids["online"].values()))
