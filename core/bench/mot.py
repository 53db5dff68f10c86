"""Tracker benchmark: accuracy on MOT15 TUD sequences (SORT vs ours), accuracy when frames are dropped,
manoeuvres, and update time per frame.

    python -m core.bench.mot [--data ../shared/data/mot15] [--repeats 5]
    python -m core.bench.mot --keep all,every:2,every:3,random:0.5 --seed 0,1,2,3,4 --fps 25,10 --phases

Accuracy (core.bench.tud) uses the sequences' public detections (det.txt) and core.track.metrics; SORT
is our reimplementation of abewley/sort (core.bench.sort_reference). The frame-drop table
(core.bench.frame_drop) replays the detections of the kept frames only, stamped `(frame - 1) / fps`,
and scores those frames only. `--fps` is the rate the frames are stamped with: 25 is TUD's real rate;
other values replay the same pictures as if people moved 25 / fps times as fast and occlusions lasted
fps / 25 times as long (a check that the time-based settings are not tuned to one rate). The
manoeuvre table (core.bench.manoeuvres) counts the ids of one person who stops or turns. Timing runs
the tracker on synthetic scenes of 5, 20 and 50 people walking straight lines with box noise and
occasional missed detections, and compares the per-frame update time with `linear_sum_assignment`
alone on a matrix of the same size. Times are medians over repeats after a warm-up.
"""

import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.atomic import atomic_path, check_writable
from core.bench.frame_drop import format_frame_drop, frame_drop, parse_keep, plot_frame_drop
from core.bench.manoeuvres import format_manoeuvres
from core.bench.tud import DEFAULT_DATA, TUD_FPS, accuracy
from core.cli.entry import script
from core.cli.options import CommandParser
from core.errors import UserError
from core.records import Detection
from core.track import Tracker, TrackerConfig, format_table


def _number_list(text: str, name: str, parse: type) -> list:
    """Comma-separated numbers for a list option; UserError naming the option for anything else."""
    try:
        values = [parse(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"{name}: expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise UserError(f"{name}: values must be finite and not negative, got {text!r}")
    return values


def synthetic_scene(people: int, frames: int, seed: int = 0) -> list[list[Detection]]:
    """People of 80-250 px walking straight at up to 3 px/frame in 1920×1080, 10 % detections missed."""
    rng = np.random.default_rng(seed)
    heights = rng.uniform(80, 250, people)
    start = np.stack([rng.uniform(0, 1920, people), rng.uniform(200, 1000, people)], 1)
    velocity = rng.uniform(-3, 3, (people, 2)) * [1, 0.3]
    scene = []
    for t in range(frames):
        centre = start + velocity * t
        h = heights * (1 + 0.001 * t)
        w = 0.4 * h
        boxes = np.stack(
            [centre[:, 0] - w / 2, centre[:, 1] - h / 2, centre[:, 0] + w / 2, centre[:, 1] + h / 2], 1
        )
        boxes += rng.normal(0, 0.03, boxes.shape) * h[:, None]
        seen = rng.random(people) > 0.1
        scene.append(
            [
                Detection(b, float(s))
                for b, s, k in zip(boxes, rng.uniform(0.5, 1, people), seen, strict=True)
                if k
            ]
        )
    return scene


def time_update(
    people: int, frames: int = 200, warmup: int = 20, repeats: int = 5, kalman: str = "numpy"
) -> tuple[float, float, float]:
    """Median ms per tracker update as (wall clock, process CPU time), and median ms of
    linear_sum_assignment alone on a people × people matrix (CPU time); `kalman` is the filter engine.

    CPU time is what the update itself costs; on a machine shared with other work the wall clock also
    counts time spent waiting for a core, so both are reported.
    """
    scene = synthetic_scene(people, frames + warmup)
    wall, cpu = [], []
    for _ in range(repeats):
        tracker = Tracker(TrackerConfig(kalman=kalman))
        for detections in scene[:warmup]:
            tracker.update(detections)
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        for detections in scene[warmup:]:
            tracker.update(detections)
        wall.append((time.perf_counter() - start_wall) / frames * 1e3)
        cpu.append((time.process_time() - start_cpu) / frames * 1e3)
    cost = np.random.default_rng(1).random((people, people))
    lsa = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(frames * 10):
            linear_sum_assignment(cost)
        lsa.append((time.process_time() - start) / (frames * 10) * 1e3)
    return statistics.median(wall), statistics.median(cpu), statistics.median(lsa)


def machine_line() -> str:
    import filterpy
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    return (
        f"machine: {cpu}, {os.cpu_count()} logical CPUs, OMP_NUM_THREADS={threads}; "
        f"Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, filterpy {filterpy.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m core.bench.mot", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder holding TUD-Campus/ and TUD-Stadtmitte/"
    )
    parser.add_argument(
        "--keep",
        default="all,every:2,every:3,random:0.5",
        help="frame-drop table: comma-separated rules all | every:N | random:P (default %(default)s)",
    )
    parser.add_argument(
        "--seed", default="0,1,2,3,4", help="draws for random:P rules, comma-separated (default %(default)s)"
    )
    parser.add_argument(
        "--fps",
        default=f"{TUD_FPS:g}",
        help="rates to stamp the frames with, comma-separated; one table each (default %(default)s, TUD's)",
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="every:N from each of the N start frames (frame 1, 2, ...), with their mean: which frames a "
        "source drops decides a few ambiguous moments, and with them several IDF1 points",
    )
    parser.add_argument("--plot", type=Path, help="also draw the frame-drop tables into this PNG")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (median reported)")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-frame-drop", action="store_true")
    parser.add_argument("--skip-manoeuvres", action="store_true")
    args = parser.parse_args(argv)
    rules = [parse_keep(text) for text in args.keep.split(",")]
    seeds = [int(s) for s in _number_list(args.seed, "--seed", int)]
    rates = _number_list(args.fps, "--fps", float)
    if not all(rate > 0 for rate in rates):
        raise UserError(f"--fps: rates must be positive, got {args.fps!r}")
    if args.plot is not None:
        check_writable(args.plot)  # before the work, not after it

    print(machine_line())
    tables = accuracy(args.data)
    for name, rows in tables.items():
        print(
            f"\n{name}"
            + (" (max_age 1, min_hits 3, IoU 0.3)" if name == "SORT" else " (default TrackerConfig)")
        )
        print(format_table(rows))
    if not args.skip_frame_drop:
        tables = {}
        for fps in rates:
            tables[fps] = frame_drop(args.data, rules, seeds, fps, phases=args.phases)
            print(f"\nFrame drops, TUD-Campus + TUD-Stadtmitte stamped at {fps:g} fps, kept frames scored")
            print(format_frame_drop(tables[fps]))
        if args.plot is not None:
            with atomic_path(args.plot) as tmp:
                tmp.write_bytes(plot_frame_drop(tables))
            print(f"plot: {args.plot}")
    if not args.skip_manoeuvres:
        print(
            "\nIds given to one person who stops, turns or turns back in 0.5 s (1 is right, default config)"
        )
        print(format_manoeuvres())
    if not args.skip_timing:
        print(
            f"\nTracker update time per frame (median of {args.repeats} runs of 200 frames after 20 warm-up)"
        )
        print(
            f"{'people':>6} {'kalman':>8} {'wall ms':>8} {'CPU ms':>7} {'CPU us/person':>14} "
            f"{'assignment alone ms':>20}"
        )
        for people in (5, 20, 50):
            for kalman in ("numpy", "filterpy"):  # interleaved, so both see the same machine load
                wall_ms, cpu_ms, lsa_ms = time_update(people, repeats=args.repeats, kalman=kalman)
                print(
                    f"{people:>6} {kalman:>8} {wall_ms:8.3f} {cpu_ms:7.3f} {1000 * cpu_ms / people:14.1f} "
                    f"{lsa_ms:20.4f}"
                )
    return 0


if __name__ == "__main__":
    script(main)
