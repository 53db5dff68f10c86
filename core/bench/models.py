"""The benchmark behind `run.py bench`: speed, parameters and FLOPs per attention preset and backend.

Measurement hygiene: each configuration is built (and compiled) before timing, warmed up, then timed
call by call on the same random batch with CUDA synchronised around every call; a row reports the
median (p50) and p95 latency of one model call and crops/s = batch / p50. The backends of one preset
and batch size are timed round-robin (A, B, C, A, B, C, ...), so a machine that slows down or speeds
up during the run affects them alike and their ratios stay fair. Only the model call is timed (the
input is already on the device); cropping and decoding are not part of these numbers.

Parameters and FLOPs are measured on our model (core.model.complexity); the paper's #Params and AP are
printed beside them, labelled as the paper's.
"""

from __future__ import annotations

import gc
import io
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.atomic import atomic_path, write_text_atomic
from core.errors import UserError
from core.model import (
    DEFAULT_INPUT_SIZE,
    PAPER_ROWS,
    PRESETS,
    ModelSize,
)
from core.runtime import (
    Backend,
    backend_name,
    create_backend,
    machine_info,
    precision_name,
    resolve_device,
    supported_precisions,
    unavailable_reason,
)
from core.runtime.folding import relative_error

# The paper's Tables I / II (core.model.paper), (width, preset) -> (#Params in M, COCO val2017 AP at 256×192).
PAPER: dict[tuple[int, str], tuple[float, float]] = {
    (width, name): (row.params_millions, row.ap) for (name, width), row in PAPER_ROWS.items()
}
DEFAULT_ROWS: tuple[tuple[int, str], ...] = (
    *((32, name) for name in PRESETS),
    (48, "baseline"),
    (48, "paper"),
)
REFERENCE_BACKEND = "eager-plain"


@dataclass
class BenchConfig:
    rows: list[tuple[int, str]] = field(default_factory=lambda: list(DEFAULT_ROWS))
    backends: list[str] = field(default_factory=lambda: ["eager-plain", "eager"])
    precisions: list[str] = field(default_factory=lambda: ["auto"])
    batches: list[int] = field(default_factory=lambda: [8])
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    device: str = "auto"
    threads: int | None = None
    repeats: int = 10
    warmup: int = 3
    cache_dir: str | None = None


@dataclass
class BenchRow(ModelSize):
    backend: str
    precision: str
    batch: int
    input_size: str
    latency_p50_ms: float
    latency_p95_ms: float
    crops_per_s: float
    paper_params_m: float | None
    paper_ap: float | None
    rel_error_vs_fp32: float | None  # ||heatmaps - eager-plain fp32|| / ||eager-plain||, same input
    repeats: int
    warmup: int


def parse_rows(text: str) -> list[tuple[int, str]]:
    """'all' | comma list of PRESET or wWIDTH:PRESET (default width 32), e.g. 'baseline,paper,w48:paper'."""
    text = text.strip().lower()
    if text in ("all", "default", ""):
        return list(DEFAULT_ROWS)
    rows = []
    for item in text.split(","):
        item = item.strip()
        width, name = 32, item
        if ":" in item:
            head, name = item.split(":", 1)
            if not (head.startswith("w") and head[1:].isdigit()):
                raise UserError(f"preset {item!r}: write PRESET or wWIDTH:PRESET, e.g. w48:paper")
            width = int(head[1:])
        if name not in PRESETS:
            raise UserError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        if (width, name) not in rows:
            rows.append((width, name))
    return rows


def plan_backends(config: BenchConfig, device: torch.device) -> list[tuple[str, str]]:
    """(backend, precision) pairs to time. Unavailable named backends are an error; precisions a
    backend cannot run are skipped with a note (e.g. bf16 for eager-plain)."""
    pairs = []
    for name in (backend_name(b) for b in config.backends):
        if name == "auto":
            raise UserError("bench compares named backends; `auto` is not one (see run.py bench --help)")
        reason = unavailable_reason(name, device)
        if reason:
            raise UserError(f"backend {name} cannot run on {device}: {reason}")
        choices = supported_precisions(name, device)
        for precision in config.precisions:
            precision = precision_name(precision)
            resolved = choices[0] if precision == "auto" else precision
            if resolved not in choices:
                print(
                    f"note: skipping {name} {resolved} (it runs {', '.join(choices)} on {device.type})",
                    file=sys.stderr,
                )
                continue
            if (name, resolved) not in pairs:
                pairs.append((name, resolved))
    if not pairs:
        raise UserError("no backend/precision combination left to measure")
    return pairs


def _timed(backend: Backend, x: torch.Tensor, device: torch.device) -> tuple[float, torch.Tensor]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = backend(x)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_benchmark(config: BenchConfig, progress: bool = True) -> tuple[list[BenchRow], dict]:
    """Measure every (row, backend, precision, batch); returns the rows and the machine info."""
    from tqdm import tqdm

    from core.model import build_model

    if config.threads is not None:
        if config.threads < 1:
            raise UserError(f"--threads must be at least 1, got {config.threads}")
        torch.set_num_threads(config.threads)
    if config.repeats < 1 or config.warmup < 0 or not config.batches or min(config.batches) < 1:
        raise UserError("repeats and batch sizes must be at least 1, warm-up at least 0")
    device = resolve_device(config.device)
    pairs = plan_backends(config, device)
    info = machine_info(device)
    w, h = config.input_size
    rows: list[BenchRow] = []
    steps = len(config.rows) * len(config.batches) * len(pairs) * (config.warmup + config.repeats)
    bar = tqdm(total=steps, desc="bench", unit="call", disable=not progress, file=sys.stderr)
    generator = torch.Generator().manual_seed(0)
    try:
        for width, preset in config.rows:
            model = build_model(width=width, preset=preset, input_size=(w, h), seed=0).eval()  # cache hits
            size = asdict(ModelSize.measure(model, width, preset, (w, h)))
            bar.set_postfix_str(f"W{width} {preset}: building backends")
            backends = [
                create_backend(
                    model, name, device, precision, max_batch=max(config.batches), cache_dir=config.cache_dir
                )
                for name, precision in pairs
            ]
            for batch in config.batches:
                x = torch.randn(batch, 3, h, w, generator=generator).to(device)
                bar.set_postfix_str(f"W{width} {preset} batch {batch}")
                outputs = {}
                for _ in range(config.warmup):
                    for index, backend in enumerate(backends):
                        outputs[index] = _timed(backend, x, device)[1]
                        bar.update()
                times: list[list[float]] = [[] for _ in backends]
                for _ in range(config.repeats):  # round-robin: A, B, A, B ...
                    for index, backend in enumerate(backends):
                        elapsed, outputs[index] = _timed(backend, x, device)
                        times[index].append(elapsed)
                        bar.update()
                reference = next(
                    (outputs[i] for i, (n, _) in enumerate(pairs) if n == REFERENCE_BACKEND), None
                )
                paper = PAPER.get((width, preset), (None, None))
                for index, (name, _) in enumerate(pairs):
                    p50 = statistics.median(times[index])
                    rows.append(
                        BenchRow(
                            **size,
                            backend=name,
                            precision=backends[index].precision,
                            batch=batch,
                            input_size=f"{w}x{h}",
                            latency_p50_ms=round(p50 * 1e3, 3),
                            latency_p95_ms=round(percentile(times[index], 95) * 1e3, 3),
                            crops_per_s=round(batch / p50, 2),
                            paper_params_m=paper[0],
                            paper_ap=paper[1],
                            rel_error_vs_fp32=None
                            if reference is None
                            else float(f"{relative_error(outputs[index], reference):.3g}"),
                            repeats=config.repeats,
                            warmup=config.warmup,
                        )
                    )
            del backends, model
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    finally:
        bar.close()
    return rows, info


# ---------------------------------------------------------------------------------------------------
# Writers (each atomic: a temporary file in the same folder, then os.replace)
# ---------------------------------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown_table(rows: list[BenchRow], info: dict) -> str:
    """The table with the issue's columns, machine header, and speed-up ratios underneath."""
    header = [
        "width",
        "preset",
        "attention positions",
        "params (M)",
        "FLOPs (G)",
        "backend",
        "precision",
        "batch",
        "p50 (ms)",
        "p95 (ms)",
        "crops/s",
        "paper #Params (M)",
        "paper AP",
    ]
    lines = [
        "# Pose model benchmark",
        "",
        f"- machine: {info['machine']}, CPU: {info['cpu']}, GPU: {info['gpu'] or 'none'}, "
        f"device: {info['device']}",
        f"- threads: {info['threads']}, torch {info['torch']}, onnxruntime {info['onnxruntime'] or '—'}, "
        f"TensorRT {info['tensorrt'] or '—'}, torch-tensorrt {info['torch_tensorrt'] or '—'}, {info['date']}",
    ]
    if info.get("auto"):
        lines.append(f"- `--backend auto` on this machine: {info['auto']}")
    if rows:
        lines.append(
            f"- latency of one model call on a ready {rows[0].input_size} batch: median (p50) and p95 of "
            f"{rows[0].repeats} timed calls after {rows[0].warmup} warm-up calls, backends interleaved; "
            "crops/s = batch / p50"
        )
    lines += [
        "- params and FLOPs are measured on our model (FLOPs: PyTorch's counter, 2 per multiply-add); "
        "the last two columns are the paper's numbers, not ours",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i in (0, 1, 2, 5, 6) else "--:" for i in range(len(header))) + "|",
    ]
    for r in rows:
        cells = [
            f"W{r.width}",
            r.preset,
            r.positions,
            f"{r.params_m:.2f}",
            f"{r.flops_g:.2f}",
            r.backend,
            r.precision,
            str(r.batch),
            f"{r.latency_p50_ms:.1f}",
            f"{r.latency_p95_ms:.1f}",
            f"{r.crops_per_s:.1f}",
            _fmt(r.paper_params_m),
            _fmt(r.paper_ap),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *ratio_lines(rows)]
    return "\n".join(lines).rstrip() + "\n"


def ratio_lines(rows: list[BenchRow]) -> list[str]:
    """Speed-ups over eager-plain (same preset and batch) and each preset against W-baseline."""
    out = []
    plain = {(r.width, r.preset, r.batch): r for r in rows if r.backend == REFERENCE_BACKEND}
    speedups = [
        f"- W{r.width} {r.preset} batch {r.batch}: {r.backend} {r.precision} = "
        f"{r.crops_per_s / plain[(r.width, r.preset, r.batch)].crops_per_s:.2f}× eager-plain "
        f"{plain[(r.width, r.preset, r.batch)].precision}"
        for r in rows
        if r.backend != REFERENCE_BACKEND and (r.width, r.preset, r.batch) in plain
    ]
    if speedups:
        out += ["## Speed-up over plain eager (same run)", "", *speedups, ""]
    base = {(r.width, r.backend, r.precision, r.batch): r for r in rows if r.preset == "baseline"}
    relative = [
        f"- W{r.width} {r.preset} {r.backend} {r.precision} batch {r.batch}: "
        f"{r.crops_per_s / base[(r.width, r.backend, r.precision, r.batch)].crops_per_s:.2f}× "
        "baseline crops/s"
        for r in rows
        if r.preset != "baseline" and (r.width, r.backend, r.precision, r.batch) in base
    ]
    if relative:
        note = "Presets are timed one after another, not interleaved: these ratios include machine drift."
        out += ["## Attention presets against their baseline", "", note, "", *relative, ""]
    return out


def rows_json(rows: list[BenchRow], info: dict) -> str:
    """One object per row, each carrying the machine info, so rows stay meaningful on their own."""
    return json.dumps([{**asdict(r), **info} for r in rows], indent=2) + "\n"


def plot_png(rows: list[BenchRow], info: dict) -> bytes:
    """crops/s against parameters, one point per preset, one series per backend/precision/batch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    series: dict[tuple[str, str, int], list[BenchRow]] = {}
    for r in rows:
        series.setdefault((r.backend, r.precision, r.batch), []).append(r)
    for (name, precision, batch), points in series.items():
        xs = [p.parameters / 1e6 for p in points]
        ys = [p.crops_per_s for p in points]
        ax.scatter(xs, ys, label=f"{name} {precision} batch {batch}", s=36)
        for p in points:
            where = (p.parameters / 1e6, p.crops_per_s)
            ax.annotate(
                f"W{p.width} {p.preset}", where, textcoords="offset points", xytext=(4, 4), fontsize=7
            )
    ax.ticklabel_format(axis="x", useOffset=False)
    ax.set_xlabel("parameters (M, measured)")
    ax.set_ylabel("crops/s (batch / median latency)")
    gpu = f", {info['gpu']}" if info.get("gpu") else ""
    ax.set_title(f"Pose model throughput — {info['cpu']}{gpu}, {info['threads']} threads", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_outputs(rows: list[BenchRow], info: dict, out_dir: Path) -> list[Path]:
    """bench.md, bench.json and bench.png in `out_dir`, each written atomically."""
    out_dir = Path(out_dir)
    paths = [out_dir / "bench.md", out_dir / "bench.json", out_dir / "bench.png"]
    write_text_atomic(paths[0], markdown_table(rows, info))
    write_text_atomic(paths[1], rows_json(rows, info))
    with atomic_path(paths[2]) as tmp:
        tmp.write_bytes(plot_png(rows, info))
    return paths
