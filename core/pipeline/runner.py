"""The batch job behind `run.py track`: list the inputs, take this worker's shard, run each video
through the pipeline, and keep a summary.json.

Files are the only rendezvous between workers, so the same code serves one process, `--shard i/n`
on several machines, and `torchrun` (each rank takes its share; no process group is needed):
- outputs are written atomically, so "every requested output exists" means "this video is done",
  which is all `--resume` checks;
- each shard writes `summary.rank{R}.json`; whichever shard finds all n of them finished merges
  them into `summary.json` (the last one to finish sees them all).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_text_atomic
from core.errors import UserError, one_line
from core.pipeline.jobs import FORMATS, Job, is_live_spec, outputs_complete, shard_jobs
from core.pipeline.lock import OutputLock
from core.pipeline.threaded import Models, Pipeline, PipelineConfig
from core.report import RunReport
from core.video.drawing import DrawStyle

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    out_dir: Path
    formats: tuple[str, ...] = FORMATS
    resume: bool = False
    shard: tuple[int, int] = (0, 1)  # (index, count)
    max_frames: int | None = None
    progress: bool = True
    accept_partial: bool = False  # a file that decodes short of its frame count counts as done
    report: bool = True  # OUT/report.html at the end of the run (core.report)
    style: DrawStyle = field(default_factory=DrawStyle)  # how the annotated video is drawn
    offline: bool = True  # files: the offline pass (core.pipeline.offline) writes their outputs


# -------------------------------------------------------------------------------------- summaries
def _write_summary(path: Path, data: dict) -> None:
    """Atomically, like every output: a summary that exists is complete, which merging relies on."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def summary_path(out_dir: Path, shard: tuple[int, int]) -> Path:
    index, count = shard
    return out_dir / ("summary.json" if count == 1 else f"summary.rank{index}.json")


def merge_summaries(out_dir: Path, count: int) -> Path | None:
    """Merge summary.rank*.json into summary.json once all `count` exist and are finished."""
    parts = []
    for rank in range(count):
        path = out_dir / f"summary.rank{rank}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not data.get("finished"):
            return None
        parts.append(data)
    if len({part.get("run_id") for part in parts}) > 1:
        return None  # files of different torchrun runs
    merged = {key: value for key, value in parts[0].items() if key not in ("videos", "shard", "wall_s")}
    merged["shards"] = count
    merged["wall_s"] = max(part.get("wall_s", 0.0) for part in parts)
    merged["weights"] = "untrained" if any(p.get("weights") == "untrained" for p in parts) else "trained"
    merged["videos"] = sorted((v for part in parts for v in part["videos"]), key=lambda v: v["source"])
    merged["totals"] = _totals(merged["videos"])
    target = out_dir / "summary.json"
    _write_summary(target, merged)
    return target


def _totals(videos: list[dict]) -> dict:
    statuses = [v["status"] for v in videos]
    return {
        "videos": len(videos),
        "done": statuses.count("done"),
        "skipped": statuses.count("skipped"),
        "errors": statuses.count("error"),
        "interrupted": statuses.count("interrupted"),
        "frames": sum(v.get("frames") or 0 for v in videos if v["status"] in ("done", "skipped")),
    }


def _previous_entries(out_dir: Path, shard: tuple[int, int]) -> dict[str, dict]:
    """Entries of an earlier run's summary, so a resumed video keeps its numbers."""
    entries: dict[str, dict] = {}
    for path in (out_dir / "summary.json", summary_path(out_dir, shard)):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            for video in json.loads(path.read_text())["videos"]:
                if video.get("status") in ("done", "skipped") and video.get("frames") is not None:
                    entries[video["stem"]] = video
    return entries


# ------------------------------------------------------------------------------------------ the job
@dataclass
class RunResult:
    summary: dict
    summary_path: Path
    merged_path: Path | None = None
    failed: list[dict] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def run_jobs(
    config: PipelineConfig, jobs: list[Job], options: RunOptions, models: Models, describe: dict | None = None
) -> RunResult:
    """Run this worker's share: files one after another (each through the threaded pipeline), then
    every live source at once in one pipeline until they end or Ctrl-C (which finalises them).

    The output folder is locked for the run (core.pipeline.lock). On Ctrl-C or SIGTERM the summary
    is written with the interrupted input before the interrupt goes on to the caller."""
    out_dir = options.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create output folder {out_dir}: {error.strerror or error}") from None
    with OutputLock(out_dir, options.shard):
        return _run_locked(config, jobs, options, models, describe or {})


def _run_locked(
    config: PipelineConfig, jobs: list[Job], options: RunOptions, models: Models, describe: dict
) -> RunResult:
    out_dir = options.out_dir
    mine = shard_jobs(jobs, *options.shard)
    previous = _previous_entries(out_dir, options.shard) if options.resume else {}
    path = summary_path(out_dir, options.shard)
    summary = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "inputs": len(jobs),  # of the whole run, every shard's
        "weights": "trained" if models.trained else "untrained",
        "checkpoint": str(config.checkpoint) if config.checkpoint else None,
        **describe,
        "formats": list(options.formats),
        "shard": list(options.shard),
        "run_id": os.environ.get("TORCHELASTIC_RUN_ID"),  # torchrun's id: never merge two runs' files
        "finished": False,
        "interrupted": False,
        "wall_s": 0.0,
        "videos": [],
        "totals": {},
    }
    started = time.monotonic()
    report = RunReport(out_dir, len(jobs), options.report)

    def save() -> None:
        summary["wall_s"] = round(time.monotonic() - started, 3)
        summary["totals"] = _totals(summary["videos"])
        _write_summary(path, summary)

    def record(entries: list[dict]) -> None:
        for entry in entries:
            summary["videos"].append(entry)
            if entry["status"] == "error":
                error, source = entry["error"], entry["source"]
                _print_error(f"error: {error}" if source in error else f"error: {source}: {error}")
        save()
        report.video_done(entries)

    save()  # at once: a rank still working must not look finished from an earlier run's file
    files = [job for job in mine if not is_live_spec(job.spec)]
    live = [job for job in mine if is_live_spec(job.spec)]
    try:
        for job in files:
            if options.resume and outputs_complete(out_dir, job.stem, options.formats):
                entry = dict(previous.get(job.stem, {"source": job.display, "stem": job.stem}))
                entry.update(status="skipped", note="outputs already complete (--resume)")
                log.info("%s: outputs complete, skipped", job.display)
                record([entry])
                continue
            _remove_leftovers(out_dir, job.stem)
            entries, interrupted = run_job_group(config, [job], options, models)
            record(entries)
            if interrupted:
                raise KeyboardInterrupt
        if live:
            stamp = time.strftime("%Y%m%d-%H%M%S")  # a recording never overwrites an earlier one
            live_jobs = [Job(j.spec, f"{j.stem}_{stamp}") for j in live]
            entries, interrupted = run_job_group(config, live_jobs, options, models)
            record(entries)  # Ctrl-C is how live recordings end: their outputs are kept, as done
            if interrupted:  # … and the run says it was interrupted, like any other
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        summary["interrupted"] = True
        save()
        report.write()
        raise
    except Exception as error:  # the run itself broke (a full disk, a bug): the report says so first
        summary["failure"] = one_line(error)
        with contextlib.suppress(Exception):
            save()
        report.write()
        raise
    summary["finished"] = True
    save()
    merged = merge_summaries(out_dir, options.shard[1]) if options.shard[1] > 1 else None
    last = merged is not None or options.shard[1] == 1  # a shard that is not last leaves it to the last
    report_path = report.write() if last else None
    failed = [v for v in summary["videos"] if v["status"] == "error"]
    return RunResult(summary, path, merged, failed, report_path)


def run_job_group(
    config: PipelineConfig, jobs: list[Job], options: RunOptions, models: Models
) -> tuple[list[dict], bool]:
    """Run `jobs` together through one pipeline; (summary entries, interrupted by Ctrl-C).

    Failures become the entries' errors, never exceptions, so one bad input never stops the batch.
    A live source (a camera, a stream, an MJPEG feed over http) that Ctrl-C ends is "done" with its
    outputs kept: that is how a recording ends. The run is interrupted all the same.
    """
    from core.video.sources import open_source

    entries = {
        job: {"source": job.display, "stem": job.stem, "status": "error", "frames": 0, "error": None}
        for job in jobs
    }
    began = time.monotonic()
    opened = []
    for job in jobs:
        try:
            buffer = None if is_live_spec(job.spec) else config.queue_size  # live: the newest frame only
            source = open_source(job.spec, queue_size=buffer)
            source.allow_partial = options.accept_partial
            opened.append((job, source))
        except UserError as error:
            entries[job]["error"] = str(error)
    if not opened:
        return list(entries.values()), False

    pipeline = Pipeline(
        config,
        on_result=lambda result: _advance(bars, result),
        models=models,
        max_frames=options.max_frames,
        style=options.style,
    )
    keys: dict[str, Job] = {}
    bars: dict[str, Any] = {}
    interrupted = False
    try:
        pipeline.start()
        for position, (job, source) in enumerate(opened):
            pipeline.sink_factory = _sink_factory(job, source, options, models)
            try:
                key = pipeline.add_source(source)
            except UserError as error:
                entries[job]["error"] = str(error)
                continue
            keys[key] = job
            bars[key] = _progress(job, _expected(source, options), options.progress, position)
        while not pipeline.wait(0.5):
            pass
        pipeline.stop()
    except KeyboardInterrupt:
        interrupted = True
        _stop_quietly(pipeline)
    except Exception as error:  # a stage crashed: every output of the group was discarded
        _stop_quietly(pipeline)
        message = one_line(error)
        for job in keys.values():
            entries[job]["error"] = message
        log.debug("pipeline failure", exc_info=True)
        keys = {}
    finally:
        for bar in bars.values():
            if bar is not None:
                bar.close()
    wall = time.monotonic() - began
    for job in jobs:
        if job not in keys.values() and entries[job]["error"] is None:  # never started: Ctrl-C came first
            entries[job].update(status="interrupted", error="interrupted before it started")
    stats, errors = pipeline.stats(), pipeline.source_errors()
    for key, job in keys.items():
        entry, source = entries[job], dict(opened)[job]
        finished = not interrupted or source.is_live
        entry.update(_numbers(stats[key], wall), expected_frames=_expected(source, options))
        if key in errors:
            entry.update(status="error", error=errors[key])
        elif not finished:
            entry.update(status="interrupted", error="interrupted; partial outputs discarded")
        else:
            entry.update(status="done", outputs=_outputs(options, job))
    return list(entries.values()), interrupted


def _sink_factory(job: Job, source, options: RunOptions, models: Models):
    from core.keypoints import NAMES
    from core.video.formats import open_sinks

    fps = source.fps or 25.0
    offline = options.offline and not is_live_spec(job.spec)
    header = {
        "source": job.display,
        "weights": "trained" if models.trained else "untrained",
        "fps": fps,
        "size": list(source.size),
        "keypoints": list(NAMES),
        "tracking": "offline" if offline else "online",
    }
    formats = set(options.formats)
    if offline:
        return lambda src: [
            _offline_outputs(
                job,
                options,
                models,
                open_sinks(options.out_dir, job.stem, formats, fps, src.size, header=header),
            )
        ]
    return lambda src: open_sinks(options.out_dir, job.stem, formats, fps, src.size, header=header)


def _offline_outputs(job: Job, options: RunOptions, models: Models, outputs: list):
    """A file's outputs deferred to the offline pass; the video is drawn from the file decoded again."""
    from core.pipeline.offline import OfflineOutputs
    from core.track.tracker import TrackerConfig
    from core.video.drawing import annotate
    from core.video.sources import open_source

    config, style = models.config, options.style

    def draw(image, tracks, fps):
        return annotate(image, tracks, models.trained, fps if style.hud else None, style)

    def reopen():
        source = open_source(job.spec, queue_size=config.queue_size)
        source.allow_partial = options.accept_partial
        return source

    def progress(total: int):
        return _progress(Job(job.spec, f"{job.stem} (offline pass)"), total, options.progress)

    video = "video" in options.formats
    return OfflineOutputs(
        outputs,
        config.tracker if config.tracker is not None else TrackerConfig(),
        draw if video else None,
        reopen if video else None,
        progress if options.progress else None,
    )


def _expected(source, options: RunOptions) -> int | None:
    expected = source.frame_count
    if options.max_frames is not None and expected is not None:
        expected = min(expected, options.max_frames)
    return expected


def _numbers(stats, wall: float) -> dict:
    return {
        "frames": stats.frames,
        "fps": round(stats.mean_fps, 3),  # core.pipeline.stats: the rate the overlay and JSONL show
        "people": round(stats.people, 3),
        "tracks": stats.tracks,
        "dropped": stats.dropped,
        "wall_s": round(wall, 3),
        "stages": {
            name: {"p50_ms": _round(lat.p50_ms), "p95_ms": _round(lat.p95_ms)}
            for name, lat in stats.stages.items()
        },
    }


def _outputs(options: RunOptions, job: Job) -> dict[str, str]:
    from core.video.formats import output_paths

    return {fmt: str(p) for fmt, p in output_paths(options.out_dir, job.stem, set(options.formats)).items()}


def _remove_leftovers(out_dir: Path, stem: str) -> None:
    """Temporary files of an earlier, killed run of this input: it is redone now, so they go."""
    from core.video.formats import partial_files

    for path in partial_files(out_dir, stem):
        with contextlib.suppress(OSError):
            path.unlink()
            log.info("removed leftover %s", path.name)


def _print_error(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _stop_quietly(pipeline: Pipeline) -> None:
    with contextlib.suppress(Exception):
        pipeline.stop(discard_incomplete=True)


def _progress(job: Job, total: int | None, enabled: bool, position: int = 0):
    """tqdm per input: frames, FPS (its rate) and ETA when the length is known."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=job.stem, unit="frame", dynamic_ncols=True, leave=True, position=position)


def _advance(bars: dict, result) -> None:
    bar = bars.get(result.source)
    if bar is not None:
        bar.update(1)
        if result.frame.index % 10 == 0:
            bar.set_postfix(people=result.stats.people_last, refresh=False)
