"""The steps of `gpu_check`, each run in a child process of its own (core.bench.isolated) and each
returning plain data: `{"checks": [Check, ...], ...}` as dicts. A step reads only what the
settings name and what earlier steps left under the output folder (the parity reference, the
generated video), so any step can fail or hang without touching the others.

Importing this module touches no GPU: the forkserver preloads it.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import importlib
import importlib.metadata
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.bench import synthetic

PIXEL_TOLERANCE = 0.5
RELATIVE_TOLERANCE = 1e-2  # fp16, bf16 and TF32 paths
STRICT_TOLERANCE = 1e-4  # IEEE fp32 paths (fp32-strict), as on the CPU
OPTIONAL = ("filterpy", "pycocotools", "onnxruntime", "triton", "tensorrt", "torch_tensorrt", "PyQt6")


@dataclass
class Check:
    """One line of the report: passed True/False, or None when skipped (with the reason in detail)."""

    section: str
    name: str
    passed: bool | None
    detail: str
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """The sizes a run measures at: the GPU run's, or the dry run's small ones (seconds on a CPU)."""

    width: int
    input_size: tuple[int, int]  # (w, h)
    parity_batches: tuple[int, ...]  # one, a bucket, the maximum, above the maximum
    max_batch: int
    video_size: tuple[int, int]
    people: int
    track_frames: int
    bench_rows: tuple[tuple[int, str], ...]
    bench_batches: tuple[int, ...]
    repeats: int
    warmup: int
    bucket_calls: int


GPU_PROFILE = Profile(
    width=32,
    input_size=(192, 256),
    parity_batches=(1, 8, 32, 40),
    max_batch=32,
    video_size=(1280, 720),
    people=6,
    track_frames=300,
    bench_rows=((32, "baseline"), (32, "paper"), (48, "baseline"), (48, "paper")),
    bench_batches=(1, 8, 32),
    repeats=20,
    warmup=5,
    bucket_calls=24,
)
DRY_PROFILE = Profile(
    width=8,
    input_size=(64, 96),
    parity_batches=(1, 4, 8, 10),
    max_batch=8,
    video_size=(320, 240),
    people=3,
    track_frames=6,
    bench_rows=((8, "baseline"),),
    bench_batches=(1, 4),
    repeats=2,
    warmup=1,
    bucket_calls=4,
)


# ------------------------------------------------------------------------------ in the child
def enter(settings: dict) -> None:
    """What every step does first: the dry run's simulated GPUs, then any injected fault."""
    import threading

    from tqdm import tqdm

    # tqdm's default lock is a multiprocessing semaphore, which a child leaving with os._exit never
    # unregisters (the resource tracker then warns of a leak at exit): a thread lock does here.
    tqdm.set_lock(threading.RLock())
    if settings["dry_run"]:
        from core.bench.simulated_cuda import CudaOnCpu, simulate, threads_on_cpu

        # One torch thread: the dry run proves the sequence, not speed, and on a busy machine two
        # OpenMP threads stall at every barrier (measured: a step took 10× as long).
        torch.set_num_threads(1)
        simulate(setattr)  # the child ends after this step: nothing to undo
        threads_on_cpu(setattr)
        CudaOnCpu().__enter__()  # for the rest of this process's main thread
    fault = settings.get("inject", {}).get(settings["step"]) or settings.get("inject", {}).get("all")
    if fault == "fail":
        raise RuntimeError(f"injected failure in step {settings['step']}")
    if fault == "hang":  # stuck inside a C call: no Python signal handler can run, only a kill helps
        ctypes.CDLL(None).sleep(3600)


def profile_of(settings: dict) -> Profile:
    return DRY_PROFILE if settings["dry_run"] else GPU_PROFILE


def scratch(settings: dict) -> Path:
    path = Path(settings["out"]) / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _checks(*checks: Check) -> dict:
    return {"checks": [asdict(c) for c in checks]}


# ----------------------------------------------------------------------------- environment
def _version(module_name: str) -> tuple[str | None, str | None]:
    """(version, None) when the module imports, else (None, why not)."""
    if module_name in ("tensorrt", "torch_tensorrt") and not torch.cuda.is_available():
        return None, "needs CUDA to import"
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or a bare Exception / OSError from a broken install
        from core.errors import one_line

        return None, one_line(error) or type(error).__name__
    version = getattr(module, "__version__", None)
    if version is None:
        with contextlib.suppress(Exception):
            version = importlib.metadata.version(module_name)
    return str(version or "(version unknown)"), None


def environment(settings: dict) -> dict:
    """Python, torch, CUDA and each GPU, the TF32 defaults, and which optional pieces are here."""
    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    gpus = [torch.cuda.get_device_name(i) for i in range(count)]
    capability = ".".join(map(str, torch.cuda.get_device_capability(0))) if count else None
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if available and not settings["dry_run"] else None,
        "gpu": gpus[0] if gpus else None,
        "gpus": gpus,
        "device_count": count,
        "capability": capability,
        "dry_run": settings["dry_run"],
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    simulated = " (simulated on the CPU: --dry-run)" if settings["dry_run"] else ""
    checks = [
        Check(
            "environment",
            "CUDA",
            available and count > 0,
            f"{count} device(s): {', '.join(gpus) or 'none'}{simulated}; compute capability {capability}; "
            f"torch {torch.__version__} (CUDA {torch.version.cuda}), Python {info['python']}",
            info,
        ),
        Check(
            "environment",
            "TF32 defaults",
            True,
            f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
            f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}: fp32 convolutions run in TF32 "
            "on sm_80+ unless fp32-strict (rows below say tf32 where they are)",
        ),
    ]
    for name in OPTIONAL:
        version, why = _version(name)
        info[name] = version
        if version:
            detail = f"{name} {version}"
            if name == "onnxruntime":
                detail += f", providers {', '.join(importlib.import_module(name).get_available_providers())}"
            checks.append(Check("environment", name, True, detail))
        else:
            checks.append(Check("environment", name, None, f"skipped: not importable ({why})"))
    return {**_checks(*checks), "info": info}


# ----------------------------------------------------------------------------------- crops
def generated_frames(profile: Profile, count: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of the generated video and their boxes (one reaching past the border)."""
    indices = range(0, 10 * count, 10)
    frames = [synthetic.frame(i, profile.video_size, profile.people) for i in indices]
    return frames, [synthetic.people_boxes(i, profile.video_size, profile.people) for i in indices]


def crops(settings: dict) -> dict:
    """GPU crops (core.pose.gpu_crops) against cv2.warpAffine (codec.crop_boxes): where they sample
    (px from the exact fp64 affine) and what they hold (relative error)."""
    from core.pose import codec
    from core.pose.gpu_crops import crop_batch, sampling_grid
    from core.runtime.folding import relative_error

    profile = profile_of(settings)
    frames, boxes = generated_frames(profile)
    device = torch.device("cuda", 0)
    size = profile.input_size
    batch, centers, scales = crop_batch(frames, boxes, size, device)
    reference = torch.cat(
        [codec.normalize_crops(codec.crop_boxes(f, b, size)[0]) for f, b in zip(frames, boxes, strict=True)]
    )
    error = relative_error(batch, reference)
    worst_px, start = 0.0, 0
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    for image, image_boxes in zip(frames, boxes, strict=True):
        n = len(image_boxes)
        inverse = codec.crop_matrices(
            centers[start : start + n], scales[start : start + n], size, inverse=True
        )
        frame_size = (image.shape[1], image.shape[0])
        grid = sampling_grid(torch.as_tensor(inverse, dtype=torch.float32, device=device), frame_size, size)
        pixels = (grid.double().cpu().numpy() + 1) * (np.array(frame_size) - 1) / 2
        for k in range(n):
            a = inverse[k]
            exact = np.stack(
                [a[0, 0] * xs + a[0, 1] * ys + a[0, 2], a[1, 0] * xs + a[1, 1] * ys + a[1, 2]], -1
            )
            worst_px = max(worst_px, float(np.abs(pixels[k] - exact).max()))
        start += n
    count = len(reference)
    return _checks(
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
    )


# ---------------------------------------------------------------------------------- parity
def parity_model(profile: Profile):
    """HRNet with the attention switched on (gamma = 1; no trained weights exist here) and BatchNorm
    statistics that make folding matter, seeded: the same weights in every step and every run."""
    from core.model import build_model
    from core.runtime.folding import randomize_batchnorm

    torch.manual_seed(0)
    model = build_model(
        width=profile.width, preset="paper", input_size=profile.input_size, attention_init_scale=1.0
    )
    return randomize_batchnorm(model).eval()


def parity_reference(settings: dict) -> dict:
    """fp32 eager on the CPU (no TF32 anywhere) on generated person crops, saved for the parity steps."""
    from core.pose import codec
    from core.runtime import create_backend

    profile = profile_of(settings)
    frames, boxes = generated_frames(profile)
    pool = torch.cat(
        [
            codec.normalize_crops(codec.crop_boxes(f, b, profile.input_size)[0])
            for f, b in zip(frames, boxes, strict=True)
        ]
    )
    batch = pool[torch.arange(max(profile.parity_batches)) % len(pool)]
    start = time.perf_counter()
    reference = create_backend(parity_model(profile), "eager-plain", "cpu")(batch)
    torch.save({"crops": batch, "reference": reference}, scratch(settings) / "parity.pt")
    return _checks(
        Check(
            "parity",
            "reference: eager-plain fp32 on the CPU",
            True,
            f"{len(batch)} crops of W{profile.width} paper in {time.perf_counter() - start:.1f} s",
        )
    )


def parity(settings: dict, name: str, precision: str, reload: bool = False) -> dict:
    """One backend on cuda:0 against the CPU reference at each parity batch size."""
    from core.runtime import create_backend, unavailable_reason
    from core.runtime.folding import relative_error

    profile = profile_of(settings)
    device = torch.device("cuda", 0)
    label = f"{name} {precision}" + (" (reloaded from the engine cache)" if reload else "")
    reason = unavailable_reason(name, device)
    if reason is None and name == "compile" and settings["dry_run"]:
        reason = "dry run: inductor cannot generate GPU kernels for a simulated GPU"
    if reason:
        return _checks(Check("parity", label, None, f"skipped: {reason}"))
    cache_dir = Path(settings["out"]) / "engine-cache"
    if reload and not list(cache_dir.glob("*.pt2")):
        return _checks(
            Check("parity", label, False, "failed: no engine was cached (its build or save failed)")
        )
    saved_path = scratch(settings) / "parity.pt"
    if not saved_path.is_file():
        return _checks(Check("parity", label, False, "failed: no CPU reference (its step did not finish)"))
    saved = torch.load(saved_path, weights_only=True)
    batch, reference = saved["crops"], saved["reference"]
    start = time.perf_counter()
    backend = create_backend(
        parity_model(profile), name, device, precision, max_batch=profile.max_batch, cache_dir=cache_dir
    )
    built = time.perf_counter() - start
    errors = {n: relative_error(backend(batch[:n]), reference[:n]) for n in profile.parity_batches}
    strict = backend.precision == "fp32"
    tolerance = STRICT_TOLERANCE if strict else RELATIVE_TOLERANCE
    worst = max(errors.values())
    text = ", ".join(f"batch {n}: {e:.1e}" for n, e in errors.items())
    verb = "loaded" if reload else "built"
    return _checks(
        Check(
            "parity",
            f"{name} {backend.precision}" + (" (reloaded from the engine cache)" if reload else ""),
            worst <= tolerance,
            f"{text} (<= {tolerance:g}); {verb} in {built:.1f} s",
            {"relative_error": errors, "build_s": built, "asked": precision},
        )
    )


# ----------------------------------------------------------------------------------- track
def generated_video(settings: dict) -> tuple[Path, Path]:
    """The track steps' video and det.txt, written once (by whichever step needs it first)."""
    profile = profile_of(settings)
    video = scratch(settings) / "walkers.mp4"
    det = video.with_suffix(".det.txt")
    if not (video.is_file() and det.is_file()):
        synthetic.write_video(video, profile.track_frames, profile.video_size, profile.people)
    return video, det


def track(settings: dict, device: str) -> dict:
    """`run.py track` end to end on the generated video (detections from its det.txt, so the pose
    model sees a known number of people each frame) on `device` with `--backend auto`; FPS and stage
    latencies from summary.json. On cuda:1, cuda:0 must see no allocation from this process."""
    from core.cli.entry import run_command
    from core.cli.track import main as track_main

    profile = profile_of(settings)
    video, det = generated_video(settings)
    out = Path(settings["out"]) / f"track-{device.replace(':', '')}"
    w, h = profile.input_size
    argv = ["--source", str(video), "--detector", f"file:{det}", "--out", str(out), "--device", device]
    argv += ["--checkpoint", "none", "--width", str(profile.width), "--input-size", f"{w}x{h}"]
    argv += ["--max-frames", str(profile.track_frames), "--no-progress", "--formats", "jsonl,video"]
    argv += ["--backend", "auto", "--batch-size", str(profile.max_batch), "--no-report"]
    second = device != "cuda:0"
    if second:
        torch.cuda.reset_peak_memory_stats(0)
        before = torch.cuda.memory_allocated(0)
    code = run_command(track_main, argv, handle_signals=False)
    summary_path = out / "summary.json"
    label = f"track on {device} ({profile.people} people, {profile.video_size[0]}x{profile.video_size[1]})"
    if code != 0 or not summary_path.is_file():
        return _checks(Check("track", label, False, f"failed: run.py track exited {code}"))
    summary = json.loads(summary_path.read_text())
    video_summary = summary["videos"][0]
    stages = video_summary.get("stages", {})
    latency = ", ".join(f"{n} {v['p50_ms']}/{v['p95_ms']}" for n, v in stages.items() if v.get("p50_ms"))
    passed = video_summary.get("status") == "done" and bool(video_summary.get("frames"))
    detail = (
        f"{video_summary.get('fps')} FPS over {video_summary.get('frames')} frames, backend "
        f"{summary.get('backend', '?')} (p50/p95 ms: {latency})"
    )
    values = {"summary": summary}
    if second:
        grew = torch.cuda.max_memory_allocated(0) - before
        values["cuda0_peak_growth_bytes"] = grew
        if grew > 0:
            passed, detail = False, f"{detail}; cuda:0 allocated {grew} bytes during the {device} run"
    return _checks(Check("track", label, passed, detail, values))


# --------------------------------------------------------------------------------- buckets
def bucket_mode(settings: dict, mode: str) -> dict:
    """One mode of core.bench.buckets on cuda:0 in a fresh process: cuDNN's autotuning cache lives
    as long as the process, so only a fresh one meets every batch size cold, as a new run does."""
    from core.bench import buckets

    profile = profile_of(settings)
    w, h = profile.input_size
    options = ["--device", "cuda:0", "--width", str(profile.width), "--input-size", f"{w}x{h}"]
    options += ["--calls", str(profile.bucket_calls), "--max-crops", str(profile.max_batch), "--repeats", "1"]
    args = buckets.build_parser().parse_args(options)
    (run,) = buckets.measure(args, modes=(mode,))[0]
    return {"checks": [], "run": asdict(run), "options": options}


# ----------------------------------------------------------------------------------- bench
def bench_row(settings: dict, width: int, preset: str) -> dict:
    """One model of the bench grid (core.bench.models) on cuda:0, every backend that runs there."""
    from core.bench.models import BenchConfig, run_benchmark
    from core.runtime import unavailable_reason

    profile = profile_of(settings)
    device = torch.device("cuda", 0)
    backends = ["eager-plain", "eager"] + [
        b
        for b in ("compile", "tensorrt")
        if unavailable_reason(b, device) is None and not settings["dry_run"]
    ]
    config = BenchConfig(
        rows=[(width, preset)],
        backends=backends,
        batches=list(profile.bench_batches),
        input_size=profile.input_size,
        device="cuda:0",
        repeats=profile.repeats,
        warmup=profile.warmup,
        cache_dir=str(Path(settings["out"]) / "engine-cache"),
    )
    rows, info = run_benchmark(config, progress=False)
    return {"checks": [], "rows": [asdict(r) for r in rows], "info": info}


def run_step(settings: dict, function_name: str, args: tuple) -> dict:
    """The child's entry point: simulation and faults first, then the step."""
    enter(settings)
    return getattr(sys.modules[__name__], function_name)(settings, *args)
