"""What padding person batches to buckets (core.runtime.buckets) costs and buys on this machine.

`python -m core.bench.buckets` feeds one backend a sequence of batch sizes as a tracker would (a
random number of people per call, fixed seed), once as they come ("unpadded") and once padded to
buckets after warming every bucket up ("padded"). Each repeat builds fresh backends, so the first
pass meets every batch size cold, as a new run does; the second pass over the same sequence shows
the steady state. Modes alternate within each repeat and the table reports medians over repeats,
so the ratios come from one run on one machine state.

Columns: warm-up (padded only: one call per bucket at start), first pass (cold shapes included),
steady pass, real crops/s in the steady pass, and the crops computed per real crop (the padding's
extra work).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from core.cli.entry import script
from core.cli.options import CommandParser, whole_number
from core.model import build_model, parse_size
from core.runtime import batch_buckets, bucket_for, cpu_name, create_backend, resolve_device, warm_up

MODES = ("unpadded", "padded")


@dataclass
class BucketRun:
    mode: str
    warmup_s: float
    first_pass_s: float
    steady_pass_s: float
    real_crops: int
    computed_crops: int


def sequence_of_batches(calls: int, max_crops: int, seed: int) -> list[int]:
    """How many people each call brings: uniform in 1..max_crops, reproducible."""
    rng = np.random.default_rng(seed)
    return [int(n) for n in rng.integers(1, max_crops + 1, size=calls)]


def _timed_pass(run, batches: list[int], crops: torch.Tensor, buckets: tuple[int, ...] | None) -> float:
    start = time.perf_counter()
    for n in batches:
        x = crops[:n]
        if buckets is not None:
            x = torch.cat([x, crops.new_zeros((bucket_for(n, buckets) - n, *x.shape[1:]))])
        out = run(x)
        if out.device.type == "cuda":
            torch.cuda.synchronize(out.device)
    return time.perf_counter() - start


def measure(args: argparse.Namespace, modes: tuple[str, ...] = MODES) -> list[list[BucketRun]]:
    """Per repeat, one BucketRun per mode (fresh backend each). On CUDA cuDNN's autotuning cache
    outlives a backend, so only the first mode of the first repeat meets the sizes cold: gpu_check
    measures each mode in a fresh process (`modes`)."""
    device = resolve_device(args.device)
    w, h = parse_size(args.input_size)
    torch.manual_seed(0)
    model = build_model(width=args.width, preset=args.preset, input_size=(w, h)).eval()
    batches = sequence_of_batches(args.calls, args.max_crops, args.seed)
    buckets = batch_buckets(args.max_crops)
    crops = torch.randn(args.max_crops, 3, h, w, generator=torch.Generator().manual_seed(1)).to(device)
    repeats = []
    for _ in range(args.repeats):
        runs = []
        for mode in modes:
            backend = create_backend(model, args.backend, device, args.precision, max_batch=args.max_crops)
            padded = mode == "padded"
            start = time.perf_counter()
            if padded:
                warm_up(backend, (w, h), buckets, device)
            warmup_s = time.perf_counter() - start
            chosen = buckets if padded else None
            first = _timed_pass(backend, batches, crops, chosen)
            steady = _timed_pass(backend, batches, crops, chosen)
            computed = sum(bucket_for(n, buckets) if padded else n for n in batches)
            runs.append(BucketRun(mode, warmup_s, first, steady, sum(batches), computed))
            del backend
        repeats.append(runs)
    return repeats


def table(
    repeats: list[list[BucketRun]], args: argparse.Namespace, backend_label: str, gpu: str | None = None
) -> str:
    """The markdown table; `gpu` names the GPU when the table is written elsewhere (gpu_check)."""
    if gpu is None:
        device = resolve_device(args.device)
        gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    lines = [
        "# Batch-size buckets: padding cost and benefit",
        "",
        f"- {platform.system()} {platform.machine()}, CPU: {cpu_name()}, GPU: {gpu}, "
        f"threads: {torch.get_num_threads()}, torch {torch.__version__}",
        f"- model W{args.width} {args.preset} at {args.input_size}, backend {backend_label}; "
        f"{args.calls} calls of 1..{args.max_crops} crops (seed {args.seed}), buckets "
        f"{', '.join(map(str, batch_buckets(args.max_crops)))}; median of {args.repeats} repeats, "
        "modes alternating within each repeat",
        "",
        "| mode | warm-up (s) | first pass (s) | steady pass (s) | warm-up + first (s) "
        "| steady real crops/s | computed / real crops |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    medians = {}
    for index, mode in enumerate(MODES):
        runs = [r[index] for r in repeats]
        warm = statistics.median(r.warmup_s for r in runs)
        first = statistics.median(r.first_pass_s for r in runs)
        steady = statistics.median(r.steady_pass_s for r in runs)
        medians[mode] = (warm, first, steady)
        real, computed = runs[0].real_crops, runs[0].computed_crops
        lines.append(
            f"| {mode} | {warm:.2f} | {first:.2f} | {steady:.2f} | {warm + first:.2f} "
            f"| {real / steady:.1f} | {computed / real:.2f} |"
        )
    (uw, uf, us), (pw, pf, ps) = medians["unpadded"], medians["padded"]
    lines += [
        "",
        f"- padded / unpadded, steady pass: {ps / us:.2f}× the time (the padding's compute)",
        f"- padded / unpadded, first pass: {pf / uf:.2f}× the time; with the warm-up counted: "
        f"{(pw + pf) / (uw + uf):.2f}×",
    ]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m core.bench.buckets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=whole_number("--width", 1), default=32)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--input-size", default="192x256", help="WxH of a crop")
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--threads", type=whole_number("--threads", 1), default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--calls", type=whole_number("--calls", 1), default=24, help="model calls per pass")
    parser.add_argument(
        "--max-crops", type=whole_number("--max-crops", 1), default=16, help="most people in one call"
    )
    parser.add_argument("--repeats", type=whole_number("--repeats", 1), default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    repeats = measure(args)
    probe = create_backend(
        build_model(width=8, input_size=(32, 32)), args.backend, args.device, args.precision
    )
    print(table(repeats, args, f"{probe.name} {probe.precision}"), end="")
    return 0


if __name__ == "__main__":
    script(main)
