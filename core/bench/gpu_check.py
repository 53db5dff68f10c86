"""Everything this project can only check on a GPU, in one run: `python -m core.bench.gpu_check --out DIR`.

Written for a GPU lent for a quarter of an hour, bare (PyTorch; perhaps no TensorRT, filterpy or
pycocotools; no network; no data set): it runs from the repository root without installing, on torch
2.6 and later, and the data it needs is generated (core.bench.synthetic). Steps, most valuable first:
1. environment: Python, torch, CUDA, each GPU, TF32 defaults, and which optional pieces are here
   (a missing one is a skipped row with the reason, and the rows that need it are skipped too);
2. crops: GPU crops against cv2.warpAffine: sampling points within 0.5 px of the exact fp64 affine,
   values within 1e-2;
3. parity, the quick backends: eager fp16, eager fp32 (TF32, labelled so) and eager-plain
   fp32-strict against fp32 eager on the CPU at batch 1, 8, 32 and 40 (<= 1e-2; <= 1e-4 where IEEE
   fp32);
4. track: `run.py track` end to end on a generated 1280x720 video with 6 walking figures and their
   detections (file:), `--backend auto`, on cuda:0: FPS and stage latencies;
5. parity, the builds: compile fp16, TensorRT fp16, TensorRT reloaded from its cached engine;
6. track on cuda:1 (two GPUs only), where cuda:0 must see no allocation;
7. buckets: core.bench.buckets' padding table on CUDA, each mode in a fresh process (cold shapes);
8. bench: W32/W48 x baseline/paper x every backend that runs x batch 1/8/32 (core.bench.models),
   one model per step.
Each step runs in a child process of its own with its own time limit (core.bench.isolated): one that
raises, dies or hangs is a failed row and the next step starts. `--budget-s` bounds the whole run,
model builds included: a step gets at most the time left, and steps that cannot start are skipped
rows. gpu_check.md and gpu_check.json are rewritten (atomically) after every step, so whatever ends
the run, what was measured is on disk. Exits 1 if a check failed, 0 otherwise; without CUDA it says
so in one line and exits 2.

`--dry-run` runs the whole sequence on the CPU against two simulated GPUs
(core.bench.simulated_cuda) with small models: it proves the sequence and the report, not CUDA.
docs/gpu.md has the prepared command for a lent GPU and what comes back.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.atomic import write_text_atomic
from core.bench import gpu_steps
from core.bench.gpu_steps import Check
from core.bench.isolated import Outcome, run_isolated
from core.cli.entry import script
from core.cli.options import CommandParser, whole_number
from core.errors import UserError, one_line

MIN_STEP_S = 5  # a step is not started with less time than this left


@dataclass(frozen=True)
class Step:
    """One isolated step: `gpu_steps.<function>(settings, *args)` within `limit_s` seconds."""

    key: str
    section: str
    label: str
    function: str
    args: tuple = ()
    limit_s: float = 120
    when: Callable[[dict], str | None] = lambda info: None  # a reason to skip, given the environment


def _second_gpu(info: dict) -> str | None:
    return None if info.get("device_count", 0) > 1 else "skipped: one CUDA device"


def plan(profile: gpu_steps.Profile) -> list[Step]:
    """The steps in the order they run (see the module docstring for why this order)."""
    steps = [
        Step("environment", "environment", "environment", "environment", limit_s=90),
        Step("crops", "crops", "GPU crops", "crops", limit_s=90),
        Step("parity-reference", "parity", "reference", "parity_reference", limit_s=120),
        Step("parity-eager-fp16", "parity", "eager fp16", "parity", ("eager", "fp16"), 120),
        Step("parity-eager-fp32", "parity", "eager fp32 (TF32)", "parity", ("eager", "fp32"), 120),
        Step(
            "parity-plain-strict",
            "parity",
            "eager-plain fp32-strict",
            "parity",
            ("eager-plain", "fp32-strict"),
            120,
        ),
        Step("track-cuda0", "track", "track on cuda:0", "track", ("cuda:0",), 240),
        Step("parity-compile-fp16", "parity", "compile fp16", "parity", ("compile", "fp16"), 300),
        Step("parity-tensorrt-fp16", "parity", "tensorrt fp16", "parity", ("tensorrt", "fp16"), 480),
        Step(
            "parity-tensorrt-reload",
            "parity",
            "tensorrt fp16 reloaded",
            "parity",
            ("tensorrt", "fp16", True),
            180,
        ),
        Step("track-cuda1", "track", "track on cuda:1", "track", ("cuda:1",), 240, _second_gpu),
        Step("buckets-unpadded", "buckets", "buckets: unpadded", "bucket_mode", ("unpadded",), 180),
        Step("buckets-padded", "buckets", "buckets: padded", "bucket_mode", ("padded",), 180),
    ]
    for width, preset in profile.bench_rows:
        label = f"bench W{width} {preset}"
        steps.append(Step(f"bench-w{width}-{preset}", "bench", label, "bench_row", (width, preset), 300))
    return steps


class Report:
    """What the run has found so far, written as gpu_check.md and .json after every step."""

    def __init__(self, out: Path, steps: list[Step], started: float):
        self.out, self.steps, self.started = out, steps, started
        self.checks: list[Check] = []
        self.info: dict = {}
        self.bench: list[dict] = []
        self.bench_info: dict = {}
        self.buckets: dict[str, dict] = {}
        self.bucket_options: list[str] = []
        self.done: list[dict] = []  # per step: key, status, seconds

    def add(self, step: Step, outcome: Outcome) -> None:
        self.done.append({"step": step.key, "status": outcome.status, "seconds": round(outcome.seconds, 1)})
        if outcome.status != "done":
            self.checks.append(Check(step.section, step.label, False, f"failed: {outcome.error}"))
            return
        value = outcome.value
        self.checks += [Check(**c) for c in value.get("checks", [])]
        if step.function == "environment":
            self.info = value["info"]
        if step.function == "bench_row":
            self.bench += value["rows"]
            self.bench_info = value["info"]
        if step.function == "bucket_mode":
            self.buckets[step.args[0]] = value["run"]
            self.bucket_options = value["options"]

    def skip(self, step: Step, reason: str) -> None:
        self.done.append({"step": step.key, "status": "skipped", "seconds": 0.0})
        self.checks.append(Check(step.section, step.label, None, reason))

    def write(self, final: bool = False) -> None:
        state = "finished" if final else f"running: {len(self.done)} of {len(self.steps)} steps done"
        data = {
            "state": state,
            "wall_s": round(time.monotonic() - self.started, 1),
            "info": self.info,
            "steps": self.done,
            "checks": [c.__dict__ for c in self.checks],
            "buckets": self.buckets,
            "bench": self.bench,
        }
        write_text_atomic(self.out / "gpu_check.json", json.dumps(data, indent=2, default=str) + "\n")
        write_text_atomic(self.out / "gpu_check.md", self.markdown(state))

    def markdown(self, state: str) -> str:
        mark = {True: "pass", False: "**FAIL**", None: "skipped"}
        info = self.info
        seconds = {d["step"]: d["seconds"] for d in self.done}
        lines = [
            "# GPU check"
            + (" (DRY RUN: simulated GPUs on the CPU, small models)" if info.get("dry_run") else ""),
            "",
            f"- {info.get('gpu') or '?'} ({info.get('device_count', '?')} CUDA device(s), compute capability "
            f"{info.get('capability')}), torch {info.get('torch', torch.__version__)} "
            f"(CUDA {info.get('cuda')}), "
            f"Python {info.get('python')}, TensorRT {info.get('tensorrt') or 'not installed'}, "
            f"torch-tensorrt {info.get('torch_tensorrt') or 'not installed'}, {info.get('date', '')}",
            f"- {state}; {time.monotonic() - self.started:.0f} s so far; step times: "
            + ", ".join(f"{key} {s:.0f} s" for key, s in seconds.items()),
            "",
            "| section | check | result | detail |",
            "|---|---|---|---|",
        ]
        lines += [f"| {c.section} | {c.name} | {mark[c.passed]} | {c.detail} |" for c in self.checks]
        for render in (self.bucket_markdown, self.bench_markdown):
            try:  # the report must be written whatever one section holds
                lines += ["", render()]
            except Exception as error:
                lines += ["", f"({render.__name__} failed: {one_line(error)})"]
        return "\n".join(lines).rstrip() + "\n"

    def bucket_markdown(self) -> str:
        from core.bench import buckets

        if set(self.buckets) != set(buckets.MODES):
            return "(bucket table: not measured)"
        runs = [[buckets.BucketRun(**self.buckets[mode]) for mode in buckets.MODES]]
        args = buckets.build_parser().parse_args(self.bucket_options)
        label = "eager (auto precision), each mode in a fresh process"
        return buckets.table(runs, args, label, gpu=self.info.get("gpu") or "?")

    def bench_markdown(self) -> str:
        from core.bench.models import BenchRow, markdown_table

        if not self.bench:
            return "(bench grid: not measured)"
        return markdown_table([BenchRow(**r) for r in self.bench], self.bench_info)


def run(args: argparse.Namespace) -> int:
    profile = gpu_steps.DRY_PROFILE if args.dry_run else gpu_steps.GPU_PROFILE
    steps = plan(profile)
    known = {s.key for s in steps} | {"all"}
    if args.only:
        wanted = {key.strip() for key in args.only.split(",") if key.strip()}
        if wanted - known:
            names = ", ".join(s.key for s in steps)
            raise UserError(f"unknown step(s) {', '.join(sorted(wanted - known))}; steps: {names}")
        if any(key.startswith("parity-") for key in wanted):
            wanted.add("parity-reference")  # the parity steps compare with its output
        steps = [s for s in steps if s.key in wanted or s.key == "environment"]
    inject = dict(item.split(":", 1)[::-1] for item in args.inject)  # "fail:crops" -> {"crops": "fail"}
    limits = dict(item.split("=", 1) for item in args.limit)
    for key in list(inject) + list(limits):
        if key not in known:
            raise UserError(f"unknown step {key!r}; steps: {', '.join(s.key for s in steps)}")
    if set(inject.values()) - {"fail", "hang"}:
        raise UserError("--inject takes fail:STEP or hang:STEP")
    if not args.dry_run and not torch.cuda.is_available():
        raise UserError(
            "gpu_check needs an NVIDIA GPU and CUDA is not available on this machine (try --dry-run)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    deadline = started + args.budget_s
    report = Report(args.out, steps, started)
    report.write()
    for number, step in enumerate(steps, 1):
        left = deadline - time.monotonic()
        reason = step.when(report.info) if report.info else None
        if reason:
            report.skip(step, reason)
        elif left < MIN_STEP_S:
            report.skip(step, f"skipped: time budget spent (--budget-s {args.budget_s})")
        else:
            limit = min(float(limits.get(step.key, step.limit_s)), left)
            settings = {"out": str(args.out), "dry_run": args.dry_run, "step": step.key, "inject": inject}
            print(f"[{number}/{len(steps)}] {step.label} (limit {limit:.0f} s)", flush=True)
            log = args.out / "logs" / f"{number:02d}-{step.key}.log"
            outcome = run_isolated(gpu_steps.run_step, (settings, step.function, step.args), limit, log)
            report.add(step, outcome)
        report.write()
    report.write(final=True)
    failed = [c for c in report.checks if c.passed is False]
    skipped = [c for c in report.checks if c.passed is None]
    print(
        f"{len(report.checks) - len(failed) - len(skipped)} checks passed, {len(failed)} failed, "
        f"{len(skipped)} skipped in {time.monotonic() - started:.0f} s; wrote {args.out / 'gpu_check.md'} "
        "and gpu_check.json"
    )
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m core.bench.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for gpu_check.md/.json, logs and scratch"
    )
    parser.add_argument(
        "--budget-s",
        type=whole_number("--budget-s", 1),
        default=480,
        help="the whole run's time limit in seconds, model builds included (default 480)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="on the CPU, against two simulated GPUs, with small models: checks the sequence and the report",
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="STEP[,STEP...]",
        help="run only these steps (a rerun; the steps that need another's output run it first)",
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="STEP=SECONDS",
        help="override one step's time limit (repeatable)",
    )
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="fail:STEP|hang:STEP",
        help="make a step raise or hang inside a C call (STEP may be 'all'), to test the run itself",
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    for item in args.limit:
        key, _, value = item.partition("=")
        if not key or not value.replace(".", "", 1).isdigit():
            raise UserError(f"--limit takes STEP=SECONDS, got {item!r}")
    for item in args.inject:
        if ":" not in item:
            raise UserError(f"--inject takes fail:STEP or hang:STEP, got {item!r}")
    return run(args)


if __name__ == "__main__":
    script(main)
