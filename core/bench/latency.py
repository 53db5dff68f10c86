"""Live latency: how long a camera frame takes to come out of the pipeline, against the time the same
frame takes when processed alone, one after another (`python -m core.bench.latency`).

The "camera" paces one still image (COCO mini's single-person 000000000785.jpg by default) at a
fixed rate through a live FrameSource, so the frames really arrive over time and the live path's
rules apply (newest frame wins, no batching of one source's frames). Latency = output time −
capture timestamp (Frame.captured); the app adds its paint to this (its panel shows "on screen").
The reference is the median time of `sequential_step` (detect → pose → track → draw) per frame.
The person's box comes from a MOTChallenge det.txt written for the run (`--box`, by default the COCO
annotation of that person), so exactly one person is in view whatever the detector would miss;
`--box none` uses `--detector` instead.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from core.bench.pipeline import machine_lines
from core.cli.entry import script
from core.cli.options import (
    CommandParser,
    add_detection_arguments,
    add_runtime_arguments,
    pipeline_config_from_args,
)
from core.errors import UserError
from core.model import DEFAULT_INPUT_SIZE
from core.pipeline import Pipeline, PipelineConfig, build_models, new_tracker, sequential_step
from core.video import FrameSource
from core.video.capture import Probe
from core.video.sources import Frame

DEFAULT_IMAGE = Path(__file__).resolve().parents[3] / "shared/data/coco_mini/images/000000000785.jpg"
DEFAULT_BOX = "281,45,219,347"  # x,y,w,h of the one person in DEFAULT_IMAGE (COCO annotation)


class PacedReader:
    """A camera that shows `image` at `fps`: read() blocks until the next frame is due."""

    def __init__(self, image: np.ndarray, fps: float) -> None:
        self.image, self.period, self.next = image, 1.0 / fps, time.monotonic()
        self.closed = threading.Event()

    def read(self) -> tuple[np.ndarray | None, float | None]:
        self.next += self.period
        if self.closed.wait(max(0.0, self.next - time.monotonic())):
            return None, None
        return self.image.copy(), None

    def release(self) -> None:
        self.closed.set()


def paced_camera(image: np.ndarray, fps: float) -> FrameSource:
    reader = PacedReader(image, fps)
    probe = Probe("paced camera", "webcam", reader, image, None, True, fps, None)
    return FrameSource(probe, reconnect=False)


def sequential_ms(config: PipelineConfig, models, image: np.ndarray, frames: int, warmup: int) -> list[float]:
    tracker, state, times = new_tracker(config), {}, []
    for index in range(warmup + frames):
        frame = Frame(index, index / 15, image, "still")
        began = time.perf_counter()
        sequential_step(models, state, frame, tracker)
        if index >= warmup:
            times.append((time.perf_counter() - began) * 1000)
    return times


def live_ms(config: PipelineConfig, models, image: np.ndarray, fps: float, seconds: float, warmup: int):
    latencies: list[float] = []
    people: list[int] = []

    def on_result(result) -> None:
        if result.frame.index >= warmup:
            latencies.append((time.monotonic() - result.frame.captured) * 1000)
            people.append(len(result.tracks))

    source = paced_camera(image, fps)
    with Pipeline(config, [source], on_result=on_result, models=models) as pipeline:
        time.sleep(seconds)
        stats = pipeline.stats()[source.name]
    return latencies, people, stats


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = CommandParser(prog="python -m core.bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="the still the camera shows")
    parser.add_argument("--fps", type=float, default=15.0, help="camera frame rate")
    parser.add_argument("--rounds", type=int, default=3, help="alternating sequential/live rounds")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each live round lasts")
    parser.add_argument("--frames", type=int, default=10, help="sequential frames timed per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--input-size", default="x".join(map(str, DEFAULT_INPUT_SIZE)))
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--box", default=DEFAULT_BOX, help="x,y,w,h of the person in every frame, or none")
    add_runtime_arguments(parser)
    add_detection_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    image = cv2.imread(str(args.image))
    if image is None:
        raise UserError(f"cannot read image {args.image}")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="latency-bench-") as work:
        detector = args.detector
        if args.box.lower() != "none":
            x, y, w, h = (float(v) for v in args.box.split(","))
            rows = "".join(f"{i},-1,{x},{y},{w},{h},1,-1,-1,-1\n" for i in range(1, 100_000))
            (Path(work) / "det.txt").write_text(rows)
            detector = f"file:{Path(work) / 'det.txt'}"
        return run(args, image, detector)


def run(args: argparse.Namespace, image: np.ndarray, detector: str) -> int:
    config = pipeline_config_from_args(args, detector=detector)
    models = build_models(config)
    sequential_ms(config, models, image, args.warmup, 0)  # warm-up: first calls build kernels
    # Rounds alternate the two measurements, so load from other work on the machine hits both alike.
    sequential, live, people, fps, dropped = [], [], [], [], 0
    for _ in range(args.rounds):
        sequential += sequential_ms(config, models, image, args.frames, 0)
        latencies, counts, stats = live_ms(config, models, image, args.fps, args.seconds, args.warmup)
        live += latencies
        people += counts
        fps.append(stats.fps)
        dropped += stats.dropped
    if not live:
        raise UserError("no live frame came out: raise --seconds")
    for line in machine_lines(models, [args.threads]):
        print(line)
    step = statistics.median(sequential)
    p50 = float(np.percentile(live, 50))
    median_people = statistics.median(people)
    print(f"camera: {args.fps:g} fps still {args.image.name}, people per frame (median) {median_people}")
    print("(the machine is shared with other work: figures are noisy; compare the ratio, taken in one run)")
    print()
    print("| what | p50 ms | p95 ms | frames |")
    print("|---|--:|--:|--:|")
    p95 = np.percentile(sequential, 95)
    print(f"| sequential per-frame processing | {step:.0f} | {p95:.0f} | {len(sequential)} |")
    print(f"| live capture → output | {p50:.0f} | {np.percentile(live, 95):.0f} | {len(live)} |")
    print(
        f"| live output rate (FPS, median of rounds) | {statistics.median(fps):.2f} | | dropped {dropped} |"
    )
    print()
    print(f"live p50 / sequential p50 = {p50 / step:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    script(main)
