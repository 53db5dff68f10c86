"""Benchmark of the threaded pipeline: end-to-end FPS against a strictly sequential loop, and RSS
over a long run.

    python -m core.bench.pipeline                       # speed table, then the 5,000-frame memory run
    python -m core.bench.pipeline --skip-memory --frames 40 --repeats 3

Speed: a 1080p test video made by scaling and looping the shared footage (../shared/data/video) runs
through the same models (detector, estimator, tracker, all five sinks) twice per repeat, interleaved:
once as a plain loop in one thread (decode, detect, pose, track, draw, write, one after the other)
and once through `Pipeline`. The table gives the median FPS over the repeats after a warm-up.
Memory: a long run with a cheap configuration (detections from a file, a small untrained model) on
a smaller looped video; RSS is sampled at the start, middle and end.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.cli.entry import script
from core.cli.options import (
    CommandParser,
    add_detection_arguments,
    add_runtime_arguments,
    pipeline_config_from_args,
)
from core.errors import UserError
from core.pipeline import Models, Pipeline, build_models, new_tracker, sequential_step
from core.video import FORMATS

SHARED_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "video"


# ----------------------------------------------------------------------------------------- inputs
def read_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    if not frames:
        raise SystemExit(f"cannot read {path}")
    return frames


def make_video(
    path: Path, frames: int, size: tuple[int, int], footage: Path, det_path: Path | None = None
) -> Path:
    """Scale the footage to `size` and loop it back and forth (no jump at the seams) for `frames`.

    With `det_path`, also write a MOTChallenge det.txt of HOG detections for every frame, running
    HOG once per distinct footage image (the loop repeats them).
    """
    clip = [cv2.resize(image, size, interpolation=cv2.INTER_LINEAR) for image in read_frames(footage)]
    order = list(range(len(clip))) + list(range(len(clip) - 2, 0, -1))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path}")
    for i in range(frames):
        writer.write(clip[order[i % len(order)]])
    writer.release()
    if det_path is not None:
        from core.detect import create_detector

        detector = create_detector("hog")
        found = [detector(image, k) for k, image in enumerate(clip)]
        lines = []
        for i in range(frames):
            for det in found[order[i % len(order)]]:
                x1, y1, x2, y2 = (float(v) for v in det.box)
                box = f"{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f}"
                lines.append(f"{i + 1},-1,{box},{det.score:.4f},-1,-1,-1")
        det_path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------------ runs
@dataclass
class Run:
    frames: int
    wall: float  # seconds, opening to closing the outputs
    cpu: float  # process CPU seconds over the same span (all threads)
    people: float  # mean tracks per frame
    stages: dict  # sequential: stage -> seconds in total; pipelined: SourceStats.stages

    @property
    def fps(self) -> float:
        return self.frames / self.wall

    @property
    def cores(self) -> float:
        """CPU cores this process actually got: what overlap can use on a shared machine."""
        return self.cpu / self.wall


def available_cores(seconds: float = 1.0) -> float:
    """CPU cores this process gets right now: one GIL-free busy thread per logical CPU, CPU time over
    wall time. On a shared machine this, not the core count, caps what overlap can gain."""
    import threading

    def burn() -> None:
        a = np.random.rand(200, 200)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            a @ a  # numpy's BLAS call releases the GIL

    began, cpu = time.perf_counter(), _cpu()
    workers = [threading.Thread(target=burn) for _ in range(os.cpu_count() or 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (_cpu() - cpu) / (time.perf_counter() - began)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def run_sequential(models: Models, video: Path, out_dir: Path, stem: str) -> Run:
    """The reference: one thread does every stage of a frame before it reads the next."""
    from core.video import Frame, open_sinks
    from core.video.sinks import writing

    began, cpu = time.perf_counter(), _cpu()
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    sinks = open_sinks(out_dir, stem, set(FORMATS), fps, size)
    tracker, state, index, people = new_tracker(models.config), {}, 0, 0
    timings: dict[str, float] = {}
    with writing(sinks):
        while True:
            mark = time.perf_counter()
            ok, image = capture.read()
            if not ok:
                break
            timings["capture"] = timings.get("capture", 0.0) + time.perf_counter() - mark
            frame = Frame(index, index / fps, image, str(video))
            _, tracks, annotated = sequential_step(models, state, frame, tracker, timings)
            mark = time.perf_counter()
            for sink in sinks:
                sink.write(frame, tracks, annotated)
            timings["sink"] = timings.get("sink", 0.0) + time.perf_counter() - mark
            people += len(tracks)
            index += 1
    capture.release()
    return Run(index, time.perf_counter() - began, _cpu() - cpu, people / max(index, 1), timings)


def run_pipelined(models: Models, video: Path, out_dir: Path, stem: str, on_result=None) -> Run:
    from core.video import open_sinks, open_source

    began, cpu = time.perf_counter(), _cpu()
    source = open_source(str(video), queue_size=models.config.queue_size)
    fps = source.fps or 25.0

    def sinks(src) -> list:
        return open_sinks(out_dir, stem, set(FORMATS), fps, src.size)

    pipeline = Pipeline(models.config, [source], on_result, models=models, sink_factory=sinks)
    stats = next(iter(pipeline.run().values()))
    return Run(stats.frames, time.perf_counter() - began, _cpu() - cpu, stats.people, stats.stages)


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


# ---------------------------------------------------------------------------------------- report
def machine_lines(models: Models, threads: list[int]) -> list[str]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    estimator = models.estimator
    return [
        f"machine: {cpu}, {os.cpu_count()} logical CPUs, GPU {gpu}",
        f"threads: torch {', '.join(map(str, threads))} (intra-op), OpenCV {cv2.getNumThreads()}",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"opencv {cv2.__version__}, numpy {np.__version__}",
        f"models: backend {getattr(estimator, 'backend_name', '?')}, "
        f"device {getattr(estimator, 'device', '?')}, "
        f"weights {'trained' if models.trained else 'untrained'}, model W{models.config.width} "
        f"{models.config.preset} {models.config.input_size[0]}x{models.config.input_size[1]}, "
        f"detector {models.config.detector} every {models.config.interval} frame(s)",
    ]


def speed(args, work: Path) -> None:
    import torch

    footage = SHARED_VIDEO / args.footage
    video = make_video(work / "bench1080p.mp4", args.frames, (1920, 1080), footage)
    config = pipeline_config_from_args(args)
    models = build_models(config)
    for line in machine_lines(models, args.threads):
        print(line)
    print(
        f"video: {args.frames} frames 1920x1080 from {footage.name} (scaled 2x, looped back and forth); "
        f"outputs: {', '.join(FORMATS)}"
    )
    print(f"runs: warm-up, then {args.repeats} repeats of sequential and pipelined, interleaved; medians")
    out = work / "out"
    out.mkdir()
    rows = []
    print(f"CPU available to this process before the runs: {available_cores():.2f} cores")
    for threads in args.threads:
        torch.set_num_threads(threads)
        run_sequential(models, video, out, "warmup")  # warm-up: lazy imports, allocator, kernels
        run_pipelined(models, video, out, "warmup")
        seq, pipe = [], []
        for repeat in range(args.repeats):
            seq.append(run_sequential(models, video, out, "sequential"))
            pipe.append(run_pipelined(models, video, out, "pipelined"))
            a, b = seq[-1], pipe[-1]
            print(
                f"  torch threads {threads}, repeat {repeat + 1}: sequential {a.fps:.2f} FPS "
                f"({a.cores:.2f} cores), pipelined {b.fps:.2f} FPS ({b.cores:.2f} cores)",
                flush=True,
            )
        rows.append((threads, seq, pipe))
    print(f"CPU available to this process after the runs: {available_cores():.2f} cores")
    print("\n| torch threads | sequential FPS | pipelined FPS | speed-up | CPU cores used (seq / pipe) |")
    print("|---|---|---|---|---|")
    for threads, seq, pipe in rows:
        s, p = statistics.median(r.fps for r in seq), statistics.median(r.fps for r in pipe)
        used = [statistics.median(r.cores for r in runs) for runs in (seq, pipe)]
        cores = f"{used[0]:.2f} / {used[1]:.2f}"
        print(f"| {threads} | {s:.2f} | {p:.2f} | {p / s:.2f}× | {cores} |")
    people = statistics.mean(r.people for _, seq, _ in rows for r in seq)
    print(f"\npeople per frame (tracks, mean): {people:.1f}")
    for threads, seq, _ in rows:
        totals: dict[str, float] = {}
        for run in seq:
            for name, seconds in run.stages.items():
                totals[name] = totals.get(name, 0.0) + seconds * 1000 / run.frames / len(seq)
        work_ms, slowest = sum(totals.values()), max(totals, key=totals.get)
        bound = work_ms / totals[slowest]
        print(
            f"\nsequential loop, {threads} torch threads, ms per frame: "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in totals.items())
            + f"; sum {work_ms:.0f}. With a free core per stage the pipeline is bounded by {slowest} "
            f"({totals[slowest]:.0f} ms): at most {bound:.2f}× the sequential loop"
        )
    for threads, _, pipe in rows:
        print(f"\n| stage (last pipelined run, {threads} torch threads) | p50 ms | p95 ms |")
        print("|---|---|---|")
        for name, lat in pipe[-1].stages.items():
            if lat.p50_ms is not None:
                print(f"| {name} | {lat.p50_ms:.1f} | {lat.p95_ms:.1f} |")
    print("(pose latency is per model call, which holds the crops of several frames)")


def memory(args, work: Path) -> None:
    import torch

    torch.set_num_threads(args.threads[-1])
    size = args.memory_size
    det = work / "memory.det.txt"
    video = make_video(work / "memory.mp4", args.memory_frames, size, SHARED_VIDEO / args.footage, det)
    # The memory run's model is fixed (untrained, small, detections from a file); runtime options apply.
    fixed = {"checkpoint": None, "width": args.memory_width, "preset": "baseline", "input_size": (64, 96)}
    config = pipeline_config_from_args(args, **fixed, detector=f"file:{det}", interval=1)
    models = build_models(config)
    out = work / "memory-out"
    out.mkdir()
    for line in machine_lines(models, args.threads[-1:]):
        print(line)
    samples: dict[str, float] = {"before start": rss_mb()}
    middle, last, during = args.memory_frames // 2, args.memory_frames, []

    def on_result(result) -> None:
        done = result.stats.frames
        if done % 100 == 0 and done >= args.memory_warmup:
            during.append(rss_mb())
        if done == args.memory_warmup:
            samples[f"frame {done} (start)"] = rss_mb()
        elif done == middle:
            samples[f"frame {done} (middle)"] = rss_mb()
        elif done == last:
            samples[f"frame {done} (end)"] = rss_mb()

    run = run_pipelined(models, video, out, "memory", on_result)
    samples["after the run (threads ended, outputs closed)"] = rss_mb()
    print(
        f"\nmemory run: {run.frames} frames {size[0]}x{size[1]} in {run.wall:.0f} s ({run.fps:.1f} FPS, "
        f"{run.cores:.2f} CPU cores); untrained W{args.memory_width} 64x96, detections from a file "
        f"(HOG once per image), all five outputs, {run.people:.1f} people per frame"
    )
    print("\n| when | RSS MB |")
    print("|---|---|")
    for name, value in samples.items():
        print(f"| {name} | {value:.1f} |")
    start = samples.get(f"frame {args.memory_warmup} (start)", samples["before start"])
    end = samples.get(f"frame {last} (end)", samples["after the run (threads ended, outputs closed)"])
    growth, peak = end - start, max(during, default=end) - start
    verdict = "OK" if max(growth, peak) < 50 else "TOO MUCH"
    print(
        f"\nRSS growth from frame {args.memory_warmup} to frame {last}: {growth:+.1f} MB; highest sample "
        f"(every 100 frames) {peak:+.1f} MB above the start (target < 50 MB: {verdict})"
    )


def _frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"frame size must look like WIDTHxHEIGHT, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise UserError(f"frame size {text!r} must be positive")
    return w, h


def _int_list(text: str) -> list[int]:
    return list(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = CommandParser(
        prog="python -m core.bench.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--frames", type=int, default=40, help="frames of the 1080p speed video")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=_int_list,
        default=[1, max(1, min(4, os.cpu_count() or 1))],
        help="torch thread counts to compare (default: 1 and all cores)",
    )
    parser.add_argument("--cv-threads", type=int, help="OpenCV threads (default: OpenCV's own choice)")
    parser.add_argument("--footage", default="street.mp4", help="file in ../shared/data/video")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--preset", default="baseline")
    parser.add_argument("--input-size", help="crop width x height (default 192x256)")
    add_runtime_arguments(parser)
    add_detection_arguments(parser, zoo_default=False)
    parser.add_argument("--memory-frames", type=int, default=5000)
    parser.add_argument("--memory-size", type=_frame_size, default=(960, 540))
    parser.add_argument("--memory-width", type=int, default=8)
    parser.add_argument("--memory-warmup", type=int, default=100, help="frame at which RSS counts as start")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_speed:
            speed(args, work)
        if not args.skip_memory:
            memory(args, work)
    return 0


if __name__ == "__main__":
    script(main)
