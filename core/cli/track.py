"""`run.py track`: headless pose tracking of videos, folders, globs, cameras or streams.

Every option is checked before the model loads, so bad input costs one line and no waiting.
Multi-GPU / multi-node: `torchrun --nproc-per-node N run.py track ... --out SHARED_DIR` gives each
rank every N-th video on cuda:LOCAL_RANK; several nodes add `--nnodes M --node-rank K
--rdzv-endpoint HOST:PORT` and must see the same output folder (the summary files are the rendezvous).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path

from core.cli.options import (
    CommandParser,
    add_detection_arguments,
    add_model_arguments,
    add_runtime_arguments,
    add_tracker_arguments,
    apply_zoo_defaults,
    draw_style_from_args,
    number,
    pipeline_config_from_args,
    whole_number,
)
from core.errors import UserError
from core.keypoints import NAMES
from core.pipeline import Models, PipelineConfig, build_models
from core.pipeline.jobs import (
    FORMATS,
    Job,
    check_no_overwrite,
    check_out_dir,
    distributed_env,
    list_inputs,
    parse_formats,
    parse_shard,
)
from core.pipeline.runner import RunOptions, run_jobs
from core.video import check_video_file
from core.video.capture import UnreadableInput
from core.video.drawing import DEFAULT_THRESHOLD as DEFAULT_KPT_THRESHOLD

EPILOG = """\
outputs per input (named after it): STEM.mp4, STEM.jsonl, STEM.csv, STEM.coco.json, STEM.mot.txt,
plus summary.json and report.html (plots per video; `run.py report OUT` makes it again) for the run.
Every file is written atomically: a file that exists is complete.
A video that decodes short of its frame count (truncated) is an error and its outputs are discarded,
unless --accept-partial keeps what decodes. One run at a time per --out (a lock file says whose).

fan-out: --shard i/n takes every n-th input (sorted) from the i-th. Under torchrun the shard is
RANK/WORLD_SIZE and the device cuda:LOCAL_RANK; each rank writes summary.rankR.json and the last
rank to finish merges them into summary.json. Several machines: run
  torchrun --nnodes M --node-rank K --nproc-per-node G --rdzv-endpoint HOST:29500 run.py track ...
on each, with --out on a folder they all share (NFS or similar).
"""


def build_parser(command: str = "track") -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"run.py {command}",
        description="Detect, estimate and track human poses in videos; write annotated video and data files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = parser.add_argument_group("inputs and outputs")
    io.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SRC",
        help="video file, folder of videos, glob ('videos/*.mp4'), image folder, camera index or "
        "stream URL; repeat for several",
    )
    io.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    io.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"comma-separated subset of {','.join(FORMATS)} (default: all)",
    )
    io.add_argument("--resume", action="store_true", help="skip inputs whose outputs all exist already")
    io.add_argument("--shard", help="i/n: process every n-th input starting at the i-th (0-based)")
    io.add_argument(
        "--max-frames", type=whole_number("--max-frames", 1), help="stop each input after this many frames"
    )
    io.add_argument(
        "--accept-partial",
        action="store_true",
        help="a video that decodes short of its frame count (truncated) counts as done, with a warning",
    )
    io.add_argument("--no-progress", action="store_true", help="no progress bars")
    io.add_argument(
        "--no-report", action="store_true", help="no report.html (written even on Ctrl-C by default)"
    )
    io.add_argument("-v", "--verbose", action="store_true", help="log what happens (skips, reconnects, ...)")

    add_model_arguments(parser)
    runtime = add_runtime_arguments(parser)
    runtime.add_argument("--flip", action="store_true", help="flip test (average with the mirrored image)")
    runtime.add_argument(
        "--batch-size", type=whole_number("--batch-size", 1), default=32, help="person crops per model call"
    )
    io.add_argument(
        "--kpt-threshold",
        type=number("--kpt-threshold", 0.0, 1.0),
        default=DEFAULT_KPT_THRESHOLD,
        metavar="SCORE",
        help=f"draw joints scored at least this (0-1, default {DEFAULT_KPT_THRESHOLD:g}); data keeps all",
    )

    add_detection_arguments(parser)

    tracking = add_tracker_arguments(parser)  # the same options as `run.py mot`
    tracking.add_argument(
        "--online",
        action="store_true",
        help="files too are tracked online only (by default a file's outputs come from the offline "
        "pass: tracks linked across occlusions, gaps filled, boxes and keypoints smoothed both ways; "
        "live sources are always online)",
    )
    return parser


@dataclasses.dataclass
class TrackPlan:
    """Everything `track` decided from its options before any model loads."""

    config: PipelineConfig
    jobs: list[Job]
    options: RunOptions
    notes: list[str]  # what the zoo defaults chose, said once the inputs are known to be good


def main(argv: list[str], command: str = "track") -> int:
    args = build_parser(command).parse_args(argv)
    _configure_logging(args.verbose)
    plan = plan_run(args)  # every option and input checked: a typo must not wait for a model
    for line in plan.notes:
        print(line, file=sys.stderr)
    models = load_models(plan.config)
    describe = describe_run(plan.config, models)
    describe["tracking"] = "offline for files, online for live sources" if plan.options.offline else "online"
    result = run_jobs(plan.config, plan.jobs, plan.options, models, describe)
    totals = result.summary["totals"]
    print(
        f"{totals['done']} done, {totals['skipped']} skipped, {totals['errors']} failed; "
        f"summary: {result.merged_path or result.summary_path}"
        + (f"; report: {result.report_path}" if result.report_path else "")
    )
    return result.exit_code


def _configure_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    if not verbose:
        _quiet_opencv()
        # Library warnings (torch's UserWarnings, …) would print beside our one-line errors.
        warnings.simplefilter("ignore", UserWarning)


def plan_run(args: argparse.Namespace) -> TrackPlan:
    """The configuration, this worker's inputs and where their outputs go, all checked; nothing is
    created and no model loads (the output folder is made once the models have loaded)."""
    formats = parse_formats(args.formats)
    notes: list[str] = []
    apply_zoo_defaults(args, notes.append)  # names and cached defaults; no network
    distributed = distributed_env()
    config = pipeline_config_from_args(args, device=_rank_device(args.device, distributed))
    shard = parse_shard(args.shard) if args.shard is not None else _rank_shard(distributed)
    jobs = list_inputs(args.source, exclude=args.out)  # never the outputs of an earlier run
    for job in jobs:  # a text file is not a video, whatever FFmpeg's tty demuxer makes of it
        with contextlib.suppress(UnreadableInput):  # fails in its own turn; the others still run
            check_video_file(job.spec)
    summaries = ("summary.json",) if shard[1] == 1 else ("summary.json", f"summary.rank{shard[0]}.json")
    check_out_dir(args.out, summaries)
    check_no_overwrite(jobs, args.out, formats)
    options = RunOptions(
        out_dir=args.out,
        formats=formats,
        resume=args.resume,
        shard=shard,
        max_frames=args.max_frames,
        progress=not args.no_progress,
        accept_partial=args.accept_partial,
        report=not args.no_report,
        style=draw_style_from_args(args),
        offline=not args.online,
    )
    return TrackPlan(config, jobs, options, notes)


def _rank_shard(distributed: tuple[int, int, int] | None) -> tuple[int, int]:
    """Under torchrun, this rank's share (RANK/WORLD_SIZE); alone, every input."""
    return (0, 1) if distributed is None else (distributed[0], distributed[1])


def _rank_device(device: str, distributed: tuple[int, int, int] | None) -> str:
    """Under torchrun, `auto` is this rank's own GPU (cuda:LOCAL_RANK) when CUDA is there."""
    if device != "auto" or distributed is None:
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    return f"cuda:{distributed[2] % torch.cuda.device_count()}"


def load_models(config: PipelineConfig) -> Models:
    """The pose model and detector; `track` writes COCO-17 outputs, so the model must have 17 joints."""
    models = build_models(config)
    joints = models.estimator.config.num_joints
    if joints != len(NAMES):
        raise UserError(
            f"track needs a COCO 17-keypoint model; {config.checkpoint} has {joints} joints "
            "(the outputs, OKS matching and skeleton drawing are COCO-17's)"
        )
    return models


def describe_run(config: PipelineConfig, models: Models) -> dict:
    """What summary.json says about the run's model, backend, detector and tracker."""
    estimator, tracker = models.estimator, config.tracker
    return {
        "model": _model_description(estimator),
        "backend": str(getattr(estimator, "backend_name", config.backend)),
        "device": str(getattr(estimator, "device", config.device)),
        "detector": _redact_spec(config.detector),
        "interval": config.interval,
        "tracker": _plain(dataclasses.asdict(tracker)) if dataclasses.is_dataclass(tracker) else None,
    }


def _quiet_opencv() -> None:
    """OpenCV's warnings ("[ WARN:0] ... can't be used to capture by name") and FFmpeg's messages
    ("moov atom not found") repeat in their words what our one-line errors say; --verbose keeps them.
    FFmpeg reads its level when OpenCV first opens a video, so this runs before any source opens."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    import cv2

    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _redact_spec(spec: str) -> str:
    from core.redact import redact_url

    return redact_url(spec)


def _model_description(estimator) -> dict:
    config = estimator.config  # the model's ModelConfig (from the checkpoint when there is one)
    return {"width": config.width, "preset": config.preset, "input_size": list(config.input_size)}


def _plain(value):
    """JSON-friendly copy of a dataclass dict (tuples → lists, numpy scalars → floats)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
