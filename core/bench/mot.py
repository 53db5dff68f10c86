"""Tracker benchmark: accuracy on MOT sequences side by side with peers, accuracy when frames are
dropped, manoeuvres, and update time per frame.

    python -m core.bench.mot [--data ../shared/data/mot15] [--sequences A,B] [--no-peers] [--repeats 5]
    python -m core.bench.mot --keep all,every:2,every:3,random:0.5 --seed 0,1,2,3,4 --phases --fps real,10

Accuracy (core.bench.sequences) runs every sequence folder under --data (det.txt, gt.txt, seqinfo.ini)
with its public detections, each frame stamped with its real time from the sequence's frame rate, and
scores it with core.track.metrics: our tracker, SORT as abewley/sort has it (core.bench.sort_reference)
and, when the `trackers` package (the bench extra) is installed, its SORT, ByteTrack, OC-SORT and
BoT-SORT at their defaults (core.bench.peers), all in one run and one evaluation. The frame-drop table
(core.bench.frame_drop) replays the detections of the kept frames only and scores those frames.
`--fps` is the rate the frames are stamped with: "real" is each sequence's own; a number replays the
same pictures as if people moved that much faster or slower (a check that the time-based settings
are not tuned to one rate). The manoeuvre table (core.bench.manoeuvres) counts the ids of one person
who stops or turns. Timing runs the tracker on synthetic scenes of 5, 20 and 50 people walking
straight lines with box noise and occasional missed detections, and compares the per-frame update
time with `linear_sum_assignment` alone on a matrix of the same size. Times are medians over repeats
after a warm-up.
"""

import itertools
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
from core.bench.peers import PEERS, ours, peer, peers_unavailable_reason, sort_reference
from core.bench.sequences import DEFAULT_DATA, TrackerRun, accuracy, format_comparison, load_sequences
from core.cli.entry import script
from core.cli.options import CommandParser
from core.errors import UserError
from core.records import Detection
from core.track import Tracker, TrackerConfig, detections_by_frame, format_table
from core.track.motion import ENGINES, MOTION_MODELS
from core.track.offline import Journal, offline_tracks


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
    people: int,
    frames: int = 200,
    warmup: int = 20,
    repeats: int = 5,
    kalman: str = "numpy",
    motion: str = "steady",
) -> tuple[float, float, float]:
    """Median ms per tracker update as (wall clock, process CPU time), and median ms of
    linear_sum_assignment alone on a people × people matrix (CPU time); `kalman` is the filter engine,
    `motion` the motion model.

    CPU time is what the update itself costs; on a machine shared with other work the wall clock also
    counts time spent waiting for a core, so both are reported.
    """
    scene = synthetic_scene(people, frames + warmup)
    wall, cpu = [], []
    for _ in range(repeats):
        tracker = Tracker(TrackerConfig(kalman=kalman, motion=motion))
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


def format_offline_time(sequences: list, repeats: int = 3) -> str:
    """The offline pass's CPU time per frame on each sequence, beside the online tracker's (median of
    repeats): the pass runs once per file, after the online one."""
    lines = [f"{'offline pass':<15} {'frames':>6} {'online ms/frame':>16} {'offline ms/frame':>17}"]
    for sequence in sequences:
        online, offline = [], []
        for _ in range(repeats):
            journal = Journal()
            tracker = Tracker(TrackerConfig(), journal)
            frames = list(detections_by_frame(sequence.detections, sequence.num_frames))
            began = time.process_time()
            for number, detections in frames:
                tracker.update(detections, timestamp=(number - 1) / sequence.fps)
            middle = time.process_time()
            offline_tracks(journal, tracker.config)
            online.append(middle - began)
            offline.append(time.process_time() - middle)
        per_frame = 1e3 / sequence.num_frames
        lines.append(
            f"{sequence.name:<15} {sequence.num_frames:>6} {statistics.median(online) * per_frame:16.3f} "
            f"{statistics.median(offline) * per_frame:17.3f}"
        )
    return "\n".join(lines)


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


def _rates(text: str) -> list[float | None]:
    """`--fps`: "real" (each sequence its own rate, None) and/or positive numbers, comma-separated."""
    rates: list[float | None] = []
    for part in text.split(","):
        if part.strip() == "real":
            rates.append(None)
        else:
            rate = _number_list(part, "--fps", float)[0]
            if rate <= 0:
                raise UserError(f"--fps: rates must be positive or 'real', got {text!r}")
            rates.append(rate)
    return rates


def runs(peers: bool = True, say=print) -> dict[str, TrackerRun]:
    """The trackers of the accuracy table: ours, SORT as abewley/sort, and the `trackers` peers when
    that package is installed (else `say` one line why they are missing)."""
    table: dict[str, TrackerRun] = {
        "ours": ours(),
        "ours offline": ours(offline=True),
        # online, one steady-walker filter, any confident box starts a track
        "ours before #21": ours(TrackerConfig(motion="steady", new_track_ratio=0)),
        "SORT (abewley)": sort_reference,
    }
    if peers:
        reason = peers_unavailable_reason()
        if reason is None:
            table.update({name: peer(name) for name in PEERS})
        else:
            say(reason)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m core.bench.mot", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder of sequence folders, each with det.txt, gt.txt and seqinfo.ini",
    )
    parser.add_argument(
        "--sequences", help="comma-separated sequence folder names (default: every one under --data)"
    )
    parser.add_argument("--no-peers", action="store_true", help="leave out the `trackers` package's trackers")
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
        default="real",
        help="frame-drop table: rates to stamp the frames with, comma-separated, one table each; 'real' is "
        "each sequence's own (seqinfo.ini; default %(default)s)",
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
    rates = _rates(args.fps)
    if args.plot is not None:
        check_writable(args.plot)  # before the work, not after it
    names = [name.strip() for name in args.sequences.split(",")] if args.sequences else None
    sequences = load_sequences(args.data, names)

    print(machine_line())
    tables = accuracy(sequences, runs(not args.no_peers))
    print(f"\nAll frames, each sequence at its real frame rate ({len(sequences)} sequences, summed counts)")
    print(format_comparison(tables, {s.name: s.fps for s in sequences}))
    for name in ("ours", "ours offline"):
        print(f"\n{name} (default TrackerConfig), every metric")
        print(format_table(tables[name]))
    if not args.skip_frame_drop:
        drops = {}
        for fps in rates:
            stamping = "its real rate" if fps is None else f"{fps:g} fps"
            for mode, run in (("online", ours()), ("offline", ours(offline=True))):
                series = f"{mode}, stamped at {stamping}"
                drops[series] = frame_drop(sequences, rules, seeds, run, fps, phases=args.phases)
                print(f"\nFrame drops, ours {mode}, each sequence stamped at {stamping}, kept frames scored")
                print(format_frame_drop(drops[series]))
        if args.plot is not None:
            with atomic_path(args.plot) as tmp:
                tmp.write_bytes(plot_frame_drop(drops, f"{len(sequences)} MOT sequences, kept frames"))
            print(f"plot: {args.plot}")
    if not args.skip_manoeuvres:
        print(
            "\nIds given to one person who stops, turns or turns back in 0.5 s (1 is right, default config)"
        )
        print(format_manoeuvres())
    if not args.skip_timing:
        print("\n" + format_offline_time(sequences))
        print(
            f"\nTracker update time per frame (median of {args.repeats} runs of 200 frames after 20 warm-up)"
        )
        print(
            f"{'people':>6} {'motion':>7} {'kalman':>8} {'wall ms':>8} {'CPU ms':>7} {'CPU us/person':>14} "
            f"{'assignment alone ms':>20}"
        )
        for people in (5, 20, 50):
            # interleaved, so every variant sees the same machine load
            for motion, kalman in itertools.product(MOTION_MODELS, ENGINES):
                wall_ms, cpu_ms, lsa_ms = time_update(
                    people, repeats=args.repeats, kalman=kalman, motion=motion
                )
                print(
                    f"{people:>6} {motion:>7} {kalman:>8} {wall_ms:8.3f} {cpu_ms:7.3f} "
                    f"{1000 * cpu_ms / people:14.1f} {lsa_ms:20.4f}"
                )
    return 0


if __name__ == "__main__":
    script(main)
