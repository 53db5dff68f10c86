"""Everything this project can only check on a GPU, in one run: `python -m core.bench.gpu_check --out DIR`.

Written for a borrowed GPU for a quarter of an hour (PyTorch, perhaps no TensorRT, no network); one
run takes a few minutes and stops starting new work at `--budget-s` (what is left is reported as
skipped, not passed). In order, cheapest first:
1. crops: core.pose.gpu_crops on the GPU against cv2.warpAffine (codec.crop_boxes) on real frames:
   sampling points within 0.5 px of the exact fp64 affine, crops within 1e-2 relative error;
2. parity: heatmaps of eager fp16, compile fp16 and TensorRT (when importable) against fp32 eager on
   the CPU, at batch 1, a bucket (8), the maximum (32) and above it (40), and TensorRT again after
   reloading its cached engine: relative error <= 1e-2;
3. track: `run.py track` end to end on the sample videos on cuda:0 (FPS, stage latencies), and on
   cuda:1 when there is one, where cuda:0 must see no allocation from this process;
4. buckets: core.bench.buckets' padding table on CUDA (eager fp16, W32 paper, 256×192);
5. bench: W32/W48 x baseline/paper x eager-plain fp32 / eager fp16 / compile fp16 (/ TensorRT) x
   batch 1/8/32 (core.bench.models), crops/s and p50/p95.
Writes gpu_check.json and gpu_check.md (atomically) and exits 1 if any check failed; without CUDA it
says so in one line and exits 2. The README's GPU section has the command sequence for a lent GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from core.atomic import write_text_atomic
from core.cli.entry import run_command, script
from core.cli.options import CommandParser, whole_number
from core.errors import UserError, one_line

CROP_SIZE = (192, 256)  # (w, h), the model's default input
PARITY_BATCHES = (1, 8, 32, 40)  # one, a bucket, the maximum, above the maximum
MAX_BATCH = 32
PIXEL_TOLERANCE = 0.5
RELATIVE_TOLERANCE = 1e-2
DEFAULT_DATA = Path(
    os.environ.get("POSE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


@dataclass
class Check:
    """One line of the report: passed True/False, or None when skipped (with the reason in detail)."""

    section: str
    name: str
    passed: bool | None
    detail: str
    values: dict = field(default_factory=dict)


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def coco_crops(data: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The COCO mini images and their person boxes (x1, y1, x2, y2)."""
    annotations = json.loads((data / "coco_mini" / "person_keypoints.json").read_text())
    files = {image["id"]: image["file_name"] for image in annotations["images"]}
    boxes: dict[int, list] = {}
    for a in annotations["annotations"]:
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
    ids = sorted(boxes)
    frames = [cv2.imread(str(data / "coco_mini" / "images" / files[i])) for i in ids]
    return frames, [np.array(boxes[i], dtype=np.float64) for i in ids]


def video_frames(data: Path, per_video: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of the sample videos with boxes across each frame, one reaching past the border."""
    frames, boxes = [], []
    for name in ("street.mp4", "soccer.mp4"):
        capture = cv2.VideoCapture(str(data / "video" / name))
        for _ in range(per_video):
            ok, frame = capture.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            frames.append(frame)
            boxes.append(
                np.array(
                    [
                        [0.1 * w, 0.2 * h, 0.3 * w, 0.9 * h],
                        [0.55 * w, 0.1 * h, 0.7 * w, 0.6 * h],
                        [0.85 * w, -0.1 * h, 1.1 * w, 0.5 * h],
                    ]
                )
            )
        capture.release()
    return frames, boxes


def check_crops(frames, boxes, device: torch.device) -> list[Check]:
    """GPU crops against cv2.warpAffine: where they sample (px) and what they hold (relative error)."""
    from core.pose import codec
    from core.pose.gpu_crops import crop_batch, sampling_grid
    from core.runtime.folding import relative_error

    crops, centers, scales = crop_batch(frames, boxes, CROP_SIZE, device)
    reference = torch.cat(
        [
            codec.normalize_crops(codec.crop_boxes(f, b, CROP_SIZE)[0])
            for f, b in zip(frames, boxes, strict=True)
        ]
    )
    error = relative_error(crops, reference)
    worst_px, start = 0.0, 0
    w, h = CROP_SIZE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    for frame, frame_boxes in zip(frames, boxes, strict=True):
        n = len(frame_boxes)
        inverse = codec.crop_matrices(
            centers[start : start + n], scales[start : start + n], CROP_SIZE, inverse=True
        )
        size = (frame.shape[1], frame.shape[0])
        grid = sampling_grid(torch.as_tensor(inverse, dtype=torch.float32, device=device), size, CROP_SIZE)
        pixels = (grid.double().cpu().numpy() + 1) * (np.array(size) - 1) / 2
        for k in range(n):
            a = inverse[k]
            exact = np.stack(
                [a[0, 0] * xs + a[0, 1] * ys + a[0, 2], a[1, 0] * xs + a[1, 1] * ys + a[1, 2]], -1
            )
            worst_px = max(worst_px, float(np.abs(pixels[k] - exact).max()))
        start += n
    count = len(reference)
    return [
        Check(
            "crops",
            f"sampling points, {count} crops",
            worst_px <= PIXEL_TOLERANCE,
            f"max {worst_px:.2e} px (<= {PIXEL_TOLERANCE})",
            {"max_px": worst_px},
        ),
        Check(
            "crops",
            f"crop values, {count} crops",
            error <= RELATIVE_TOLERANCE,
            f"relative error {error:.2e} (<= {RELATIVE_TOLERANCE:g})",
            {"relative_error": error},
        ),
    ]


def parity_model(width: int = 32, preset: str = "paper"):
    """HRNet with the attention switched on (gamma = 1; no trained weights exist here) and BatchNorm
    statistics that make folding matter, seeded."""
    from core.model import build_model
    from core.runtime.folding import randomize_batchnorm

    torch.manual_seed(0)
    model = build_model(width=width, preset=preset, input_size=CROP_SIZE, attention_init_scale=1.0)
    return randomize_batchnorm(model).eval()


def check_parity(
    model, crops: torch.Tensor, device: torch.device, cache_dir: Path, budget: Budget
) -> list[Check]:
    """Each GPU backend against fp32 eager on the CPU (no TF32 anywhere in the reference)."""
    from core.runtime import create_backend, unavailable_reason
    from core.runtime.folding import relative_error

    batch = crops[torch.arange(max(PARITY_BATCHES)) % len(crops)]
    reference = create_backend(model, "eager-plain", "cpu")(batch)
    plans = [
        ("eager-plain", "fp32"),
        ("eager", "fp16"),
        ("compile", "fp16"),
        ("tensorrt", "fp16"),
        ("tensorrt", "fp16"),
    ]
    checks = []
    for index, (name, precision) in enumerate(plans):
        label = f"{name} {precision}" + (" (reloaded from the cache)" if index == len(plans) - 1 else "")
        reason = unavailable_reason(name, device)
        if reason or budget.left() <= 0:
            checks.append(Check("parity", label, None, f"skipped: {reason or 'time budget spent'}"))
            continue
        reload = index == len(plans) - 1
        if reload and not list(cache_dir.glob("*.pt2")):
            checks.append(
                Check("parity", label, False, "failed: the engine was not cached (its save failed)")
            )
            continue
        try:
            start = time.perf_counter()
            backend = create_backend(model, name, device, precision, max_batch=MAX_BATCH, cache_dir=cache_dir)
            built = time.perf_counter() - start
            errors = {n: relative_error(backend(batch[:n]), reference[:n]) for n in PARITY_BATCHES}
        except Exception as error:  # a check that crashes is a failed check, and the run goes on
            checks.append(Check("parity", label, False, f"failed: {one_line(error)}"))
            continue
        tolerance = 1e-4 if precision == "fp32" and device.type == "cpu" else RELATIVE_TOLERANCE
        worst = max(errors.values())
        text = ", ".join(f"batch {n}: {e:.1e}" for n, e in errors.items())
        checks.append(
            Check(
                "parity",
                label,
                worst <= tolerance,
                f"{text} (<= {tolerance:g}); built in {built:.1f} s",
                {"relative_error": errors, "build_s": built},
            )
        )
        del backend
    return checks


def check_track(data: Path, out: Path, device: str, frames: int, model_args: tuple[str, ...] = ()) -> Check:
    """`run.py track` on both sample videos on `device` with the `eager` backend (TensorRT's engine
    build would eat the budget; parity covers it) and the default model unless `model_args`, e.g.
    ("--width", "8"); FPS and stage latencies from summary.json."""
    from core.cli.track import main as track_main

    videos = [data / "video" / "street.mp4", data / "video" / "soccer.mp4"]
    argv = [a for v in videos for a in ("--source", str(v))]
    argv += [
        "--out",
        str(out),
        "--device",
        device,
        "--max-frames",
        str(frames),
        "--no-progress",
        "--formats",
        "jsonl",
        "--backend",
        "eager",
    ]
    code = run_command(track_main, argv)
    summary_path = out / "summary.json"
    if code != 0 or not summary_path.is_file():
        return Check("track", f"track on {device}", False, f"exit {code}")
    summary = json.loads(summary_path.read_text())
    parts, passed = [], True
    for video in summary["videos"]:
        stages = video.get("stages", {})
        latency = ", ".join(f"{n} {v['p50_ms']}/{v['p95_ms']}" for n, v in stages.items() if v.get("p50_ms"))
        parts.append(f"{Path(video['source']).name}: {video.get('fps')} FPS (p50/p95 ms: {latency})")
        passed = passed and video.get("status") == "done" and bool(video.get("frames"))
    return Check("track", f"track on {device}", passed, "; ".join(parts), {"summary": summary})


def check_second_gpu(data: Path, out: Path, frames: int) -> Check:
    """Tracking on cuda:1 must not allocate on cuda:0 (the torchrun-rank bug)."""
    torch.cuda.synchronize(0)
    before = torch.cuda.memory_allocated(0)
    torch.cuda.reset_peak_memory_stats(0)
    check = check_track(data, out, "cuda:1", frames)
    grew = torch.cuda.max_memory_allocated(0) - before
    check.values["cuda0_peak_growth_bytes"] = grew
    if check.passed and grew > 0:
        check.passed, check.detail = (
            False,
            f"{check.detail}; cuda:0 allocated {grew} bytes during the cuda:1 run",
        )
    return check


def bench_rows(device: torch.device, cache_dir: Path, budget: Budget, repeats: int):
    """The bench grid, one model row at a time so the budget can stop it between rows."""
    from core.bench.models import BenchConfig, run_benchmark
    from core.runtime import unavailable_reason

    backends = ["eager-plain", "eager"] + [
        b for b in ("compile", "tensorrt") if unavailable_reason(b, device) is None
    ]
    rows, info, skipped = [], {}, []
    for row in ((32, "baseline"), (32, "paper"), (48, "baseline"), (48, "paper")):
        if budget.left() <= 0:
            skipped.append(f"W{row[0]} {row[1]}")
            continue
        config = BenchConfig(
            rows=[row],
            backends=backends,
            batches=[1, 8, 32],
            device=str(device),
            repeats=repeats,
            warmup=5,
            cache_dir=str(cache_dir),
        )
        got, info = run_benchmark(config, progress=False)
        rows += got
    return rows, info, skipped


def markdown(checks: list[Check], bench_md: str, info: dict) -> str:
    mark = {True: "pass", False: "**FAIL**", None: "skipped"}
    lines = [
        "# GPU check",
        "",
        f"- {info.get('gpu')} ({info.get('device_count')} CUDA device(s)), torch {torch.__version__}, "
        f"TensorRT {info.get('tensorrt') or 'not installed'}, {info.get('date', '')}, "
        f"{info.get('wall_s', 0):.0f} s",
        "",
        "| section | check | result | detail |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.section} | {c.name} | {mark[c.passed]} | {c.detail} |" for c in checks]
    return "\n".join(lines) + "\n\n" + bench_md


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m core.bench.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for gpu_check.json/.md and scratch files"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data (coco_mini, video)")
    parser.add_argument(
        "--budget-s",
        type=whole_number("--budget-s", 1),
        default=420,
        help="start no new work after this many seconds (default 420)",
    )
    parser.add_argument("--track-frames", type=whole_number("--track-frames", 1), default=150)
    parser.add_argument(
        "--repeats", type=whole_number("--repeats", 1), default=20, help="timed calls per bench row"
    )
    parser.add_argument("--skip-bench", action="store_true")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not torch.cuda.is_available():
        raise UserError("gpu_check needs an NVIDIA GPU and CUDA is not available on this machine")
    if not (args.data / "coco_mini").is_dir() or not (args.data / "video").is_dir():
        raise UserError(f"shared data not found at {args.data} (pass --data DIR with coco_mini/ and video/)")
    from core.bench.models import machine_info, markdown_table

    started, budget = time.monotonic(), Budget(args.budget_s)
    device = torch.device("cuda", 0)
    cache_dir = args.out / "engine-cache"
    checks: list[Check] = []
    frames, boxes = coco_crops(args.data)
    more_frames, more_boxes = video_frames(args.data)
    checks += check_crops(frames + more_frames, boxes + more_boxes, device)

    from core.pose import codec

    crops = torch.cat(
        [
            codec.normalize_crops(codec.crop_boxes(f, b, CROP_SIZE)[0])
            for f, b in zip(frames, boxes, strict=True)
        ]
    )
    checks += check_parity(parity_model(), crops, device, cache_dir, budget)
    checks.append(check_track(args.data, args.out / "track-cuda0", "cuda:0", args.track_frames))
    if torch.cuda.device_count() > 1:
        checks.append(check_second_gpu(args.data, args.out / "track-cuda1", args.track_frames))
    else:
        checks.append(Check("track", "track on cuda:1", None, "skipped: one CUDA device"))
    bucket_md = "(bucket table skipped: time budget)\n"
    if budget.left() > 0:
        from core.bench import buckets

        options = ["--device", "cuda:0", "--calls", "24", "--max-crops", "32", "--repeats", "3"]
        bucket_args = buckets.build_parser().parse_args(options)
        bucket_md = buckets.table(buckets.measure(bucket_args), bucket_args, "eager fp16")
    rows, info, skipped = (
        ([], machine_info(device), [])
        if args.skip_bench
        else bench_rows(device, cache_dir, budget, args.repeats)
    )
    info = info or machine_info(device)
    if skipped:
        checks.append(Check("bench", "rows", None, f"skipped (time budget): {', '.join(skipped)}"))
    info.update(device_count=torch.cuda.device_count(), wall_s=time.monotonic() - started)
    bench_md = bucket_md + "\n" + (markdown_table(rows, info) if rows else "(no bench rows)\n")
    report = {"info": info, "checks": [asdict(c) for c in checks], "bench": [asdict(r) for r in rows]}
    write_text_atomic(args.out / "gpu_check.json", json.dumps(report, indent=2, default=str) + "\n")
    write_text_atomic(args.out / "gpu_check.md", markdown(checks, bench_md, info))
    failed = [c for c in checks if c.passed is False]
    print(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed or skipped, {len(failed)} failed; "
        f"wrote {args.out / 'gpu_check.md'} and gpu_check.json"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    script(main)
