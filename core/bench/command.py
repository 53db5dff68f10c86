"""`run.py bench`: crops/s, latency, parameters and FLOPs per attention preset, backend and precision.

Writes bench.md (the table), bench.json (one object per row, with the machine) and bench.png
(crops/s against parameters) to --out. See core/bench/models.py for how it measures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import check_writable
from core.cli.options import CommandParser, add_device_argument, whole_number
from core.errors import UserError
from core.model import parse_size

QUICK = {"presets": "baseline,paper", "backends": "eager", "batch": "1", "repeats": 3, "warmup": 1}


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"run.py {command}",
        description="Benchmark the pose model per attention preset, backend, precision and batch size.",
    )
    add = parser.add_argument
    add(
        "--presets",
        default=None,
        help="'all' (default: the nine presets at W32 plus W48 baseline and paper) "
        "or a comma list of PRESET or wWIDTH:PRESET, e.g. baseline,paper,w48:paper",
    )
    add(
        "--backends",
        default=None,
        help="comma list from eager-plain, eager, compile, onnxruntime, tensorrt "
        "(default: eager-plain,eager; plus compile and tensorrt on CUDA)",
    )
    add("--precisions", default="auto", help="comma list from auto, fp32, bf16, fp16 (default auto)")
    add("--batch", default=None, help="comma list of batch sizes (default 8 on CPU, 32 on CUDA)")
    add("--input-size", help="crop width x height, multiples of 32 (default 192x256)")
    add(
        "--threads",
        type=whole_number("--threads", 1),
        default=None,
        help="torch CPU threads (default: torch's choice)",
    )
    add_device_argument(parser)
    add(
        "--repeats",
        type=whole_number("--repeats", 1),
        default=None,
        help="timed calls per configuration (default 10)",
    )
    add(
        "--warmup",
        type=whole_number("--warmup", 0),
        default=None,
        help="untimed calls before timing (default 3)",
    )
    add("--out", type=Path, default=Path("out/bench"), help="folder for bench.md, bench.json, bench.png")
    add("--cache-dir", default=None, help="where TensorRT engines and ONNX exports are cached")
    add(
        "--quick",
        action="store_true",
        help="reduced grid for CI: W32 baseline and paper, eager, batch 1, "
        "3 repeats (explicit options still apply)",
    )
    add("--no-progress", action="store_true", help="no progress bar")
    return parser


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what} must be a comma list of integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise UserError(f"{what} must be positive integers, got {text!r}")
    return values


def _given(args: argparse.Namespace, *names: str) -> None:
    """An option given as an empty list (`--presets ''`, an unset shell variable) is a mistake, not
    "the default grid", which is what an empty string used to run."""
    for name in names:
        value = getattr(args, name)
        if value is not None and not value.replace(",", "").strip():
            raise UserError(f"--{name} is empty: leave it out for the default, or name what to run")


def config_from_args(args: argparse.Namespace):
    from core.bench.models import BenchConfig, parse_rows
    from core.runtime import available_backends, resolve_device

    _given(args, "presets", "backends", "precisions", "batch")
    device = resolve_device(args.device)
    quick = QUICK if args.quick else {}
    if args.backends is not None:
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    elif "backends" in quick:
        backends = quick["backends"].split(",")
    else:
        backends = ["eager-plain", "eager"]
        if device.type == "cuda":
            backends += [b for b in ("compile", "tensorrt") if b in available_backends(device)]
    batch = args.batch or quick.get("batch") or ("32" if device.type == "cuda" else "8")
    repeats = args.repeats if args.repeats is not None else quick.get("repeats", 10)
    warmup = args.warmup if args.warmup is not None else quick.get("warmup", 3)
    return BenchConfig(
        rows=parse_rows(args.presets or quick.get("presets", "all")),
        backends=backends,
        precisions=[p.strip() for p in args.precisions.split(",") if p.strip()] or ["auto"],
        batches=_ints(batch, "--batch"),
        input_size=parse_size(args.input_size),
        device=args.device,
        threads=args.threads,
        repeats=repeats,
        warmup=warmup,
        cache_dir=args.cache_dir,
    )


def main(argv: list[str], command: str = "bench") -> int:
    args = build_parser(command).parse_args(argv)
    from core.bench.models import markdown_table, run_benchmark, write_outputs

    config = config_from_args(args)
    for name in ("bench.md", "bench.json", "bench.png"):  # found now, not after the whole run
        check_writable(args.out / name)
    rows, info = run_benchmark(config, progress=not args.no_progress)
    print(markdown_table(rows, info))
    for path in write_outputs(rows, info, args.out):
        print(f"wrote {path}")
    return 0
