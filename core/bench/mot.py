"""Tracker benchmark: accuracy on MOT15 TUD sequences (SORT vs ours), accuracy when frames are dropped,
and update time per frame.

    python -m core.bench.mot [--data ../shared/data/mot15] [--repeats 5]
    python -m core.bench.mot --keep all,every:2,every:3,random:0.5 --seed 0,1,2,3,4 --fps 25,10 --skip-timing

Accuracy uses the sequences' public detections (det.txt) and core.track.metrics; SORT is our
reimplementation of abewley/sort (core.bench.sort_reference). The frame-drop table replays the
detections of the kept frames only (`--keep`: all | every:N | random:P, each frame kept with
probability P, one draw per `--seed`), stamped `(frame - 1) / fps`, and scores those frames only, as a
live source that keeps its newest frame would feed the tracker. `--fps` is the rate the frames are
stamped with: 25 is TUD's real rate; other values replay the same pictures as if people moved
25 / fps times as fast and occlusions lasted fps / 25 times as long (a check that the time-based
settings are not tuned to one rate). Timing runs the tracker on synthetic scenes of
5, 20 and 50 people walking straight lines with box noise and occasional missed detections, and
compares the per-frame update time with `linear_sum_assignment` alone on a matrix of the same size.
Times are medians over repeats after a warm-up.
"""

import math
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.bench.sort_reference import Sort
from core.cli.entry import script
from core.cli.options import CommandParser
from core.errors import UserError
from core.records import Detection
from core.track import (
    MotCounts,
    MotTable,
    Tracker,
    TrackerConfig,
    detections_by_frame,
    evaluate_sequence,
    format_table,
    load_detections,
    load_ground_truth,
    sequence_file,
)

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mot15"  # beside the repository
TUD_FPS = 25.0


def run_sort(detections: MotTable) -> MotTable:
    sort = Sort(max_age=1, min_hits=3, iou_threshold=0.3)
    rows = []
    for number, frame in detections.by_frame():
        for x1, y1, x2, y2, track_id in sort.update(frame.boxes):
            rows.append((number, track_id, x1, y1, x2, y2))
    return _table(rows)


def run_ours(detections: MotTable, config: TrackerConfig | None = None) -> MotTable:
    tracker = Tracker(config or TrackerConfig())
    rows = []
    for number, frame in detections_by_frame(detections):
        for track in tracker.update(frame, timestamp=(number - 1) / TUD_FPS):
            rows.append((number, track.id, *track.box))
    return _table(rows)


def _table(rows: list[tuple]) -> MotTable:
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return MotTable(
        array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2:6], np.ones(len(array))
    )


def accuracy(data: Path, config: TrackerConfig | None = None) -> dict[str, list[tuple[str, MotCounts]]]:
    """{"SORT": rows, "ours": rows}, each a per-sequence list plus an OVERALL row of summed counts."""
    tables: dict[str, list[tuple[str, MotCounts]]] = {"SORT": [], "ours": []}
    for name in SEQUENCES:
        det_path, gt_path = sequence_file(data / name, "det"), sequence_file(data / name, "gt")
        if det_path is None or gt_path is None:
            raise UserError(f"missing det.txt or gt.txt under {data / name}")
        detections, gt = load_detections(det_path), load_ground_truth(gt_path)
        tables["SORT"].append((name, evaluate_sequence(gt, run_sort(detections))))
        tables["ours"].append((name, evaluate_sequence(gt, run_ours(detections, config))))
    for rows in tables.values():
        total = MotCounts()
        for _, counts in rows:
            total = total + counts
        rows.append(("OVERALL", total))
    return tables


@dataclass(frozen=True)
class KeepRule:
    """Which frames the tracker sees: "all", "every" N-th (the first, then every N-th after it), or
    "random": each frame independently with probability P (a live source dropping frames)."""

    kind: str
    value: float = 1.0
    offset: int = 0  # "every": frames offset+1, offset+1+N, ...

    @property
    def label(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.value:g}"

    def phases(self) -> list["KeepRule"]:
        """Every N-th frame taken from each of the N possible starts (one for the other rules)."""
        if self.kind != "every":
            return [self]
        return [KeepRule("every", self.value, offset) for offset in range(int(self.value))]

    def frames(self, num_frames: int, seed: int = 0, stream: int = 0) -> np.ndarray:
        """Kept 1-based frame numbers in order; `stream` separates the draws of several sequences."""
        numbers = np.arange(1, num_frames + 1)
        if self.kind == "every":
            return numbers[self.offset :: int(self.value)]
        if self.kind == "random":
            return numbers[np.random.default_rng([seed, stream]).random(num_frames) < self.value]
        return numbers


def parse_keep(text: str) -> KeepRule:
    """`all`, `every:N` (N >= 1) or `random:P` (0 < P <= 1); UserError otherwise."""
    kind, _, value = text.strip().partition(":")
    try:
        if kind == "all" and not value:
            return KeepRule("all")
        if kind == "every" and int(value) >= 1:
            return KeepRule("every", int(value))
        if kind == "random" and 0 < float(value) <= 1:
            return KeepRule("random", float(value))
    except ValueError:
        pass
    raise UserError(f"--keep: expected all, every:N (N >= 1) or random:P (0 < P <= 1), got {text!r}")


def _number_list(text: str, name: str, parse: type) -> list:
    """Comma-separated numbers for a list option; UserError naming the option for anything else."""
    try:
        values = [parse(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"{name}: expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise UserError(f"{name}: values must be finite and not negative, got {text!r}")
    return values


def select_frames(table: MotTable, kept: np.ndarray) -> MotTable:
    """The rows of the kept frames, renumbered 1..len(kept) so the evaluation sees consecutive frames."""
    rank = np.zeros(max(int(kept.max(initial=0)), table.num_frames) + 1, dtype=np.int64)
    rank[kept] = np.arange(1, len(kept) + 1)
    new = rank[table.frames]
    keep = new > 0
    return MotTable(new[keep], table.ids[keep], table.boxes[keep], table.scores[keep])


def replay(
    detections: MotTable, kept: np.ndarray, fps: float, config: TrackerConfig | None = None
) -> MotTable:
    """Our tracker on the kept frames only, each stamped (frame - 1) / fps; results in original frames."""
    tracker = Tracker(config or TrackerConfig())
    frames = dict(detections_by_frame(detections, int(kept.max(initial=0))))
    rows = []
    for number in kept.tolist():
        for track in tracker.update(frames.get(number, []), timestamp=(number - 1) / fps):
            rows.append((number, track.id, *track.box))
    return _table(rows)


def frame_drop(
    data: Path,
    rules: list[KeepRule],
    seeds: list[int],
    fps: float = TUD_FPS,
    config: TrackerConfig | None = None,
    phases: bool = False,
) -> list[tuple[str, float, MotCounts]]:
    """(label, frames seen per second, counts over both sequences) per rule, per seed if random, and
    per start frame of every:N with `phases`."""
    sequences = []
    for name in SEQUENCES:
        det_path, gt_path = sequence_file(data / name, "det"), sequence_file(data / name, "gt")
        if det_path is None or gt_path is None:
            raise UserError(f"missing det.txt or gt.txt under {data / name}")
        detections, gt = load_detections(det_path), load_ground_truth(gt_path)
        sequences.append((detections, gt, max(detections.num_frames, gt.num_frames)))
    rows = []
    for rule in [phase for given in rules for phase in (given.phases() if phases else [given])]:
        for seed in seeds if rule.kind == "random" else [0]:
            total, seen, frames = MotCounts(), 0, 0
            for stream, (detections, gt, num_frames) in enumerate(sequences):
                kept = rule.frames(num_frames, seed, stream)
                results = replay(detections, kept, fps, config)
                total = total + evaluate_sequence(select_frames(gt, kept), select_frames(results, kept))
                seen, frames = seen + len(kept), frames + num_frames
            label = rule.label
            if rule.kind == "random":
                label += f" seed {seed}"
            elif phases and rule.kind == "every":
                label += f" from {rule.offset + 1}"
            rows.append((label, fps * seen / frames, total))
    return rows


def format_frame_drop(rows: list[tuple[str, float, MotCounts]]) -> str:
    """The frame-drop table; random rules with several seeds, and every:N from each start frame, also
    get a mean row (of the ratios)."""
    lines = [f"{'frames kept':<24} {'seen fps':>8} {'MOTA':>6} {'IDF1':>6} {'IDSW':>5}", "-" * 53]
    groups: dict[str, list[tuple[float, MotCounts]]] = {}
    for label, seen, c in rows:
        lines.append(f"{label:<24} {seen:8.1f} {100 * c.mota:6.1f} {100 * c.idf1:6.1f} {c.idsw:5d}")
        for marker in (" seed ", " from "):
            if marker in label:
                groups.setdefault(label.split(marker)[0], []).append((seen, c))
    for label, group in groups.items():
        if len(group) > 1:
            mean = [
                statistics.mean(v) for v in zip(*[(s, c.mota, c.idf1, c.idsw) for s, c in group], strict=True)
            ]
            lines.append(
                f"{label + f' mean of {len(group)}':<24} {mean[0]:8.1f} {100 * mean[1]:6.1f} "
                f"{100 * mean[2]:6.1f} {mean[3]:5.1f}"
            )
    return "\n".join(lines)


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


MANOEUVRES = ("stop", "turn", "reverse")


def manoeuvre(kind: str, fps: float, speed: float, seconds: float = 6.0, ramp: float = 0.5) -> list:
    """[(seconds, [Detection])] of one person 200 px tall walking right at `speed` body heights per
    second who, 2 s in, stops, turns a right angle or turns back, changing velocity over `ramp`
    seconds (people need about that); boxes carry 1/40-height noise."""
    rng = np.random.default_rng(0)
    height, start = 200.0, np.array([speed * 200.0, 0.0])
    end = {"stop": np.zeros(2), "turn": np.array([0.0, speed * 200.0]), "reverse": -start}[kind]
    centre, previous, frames = np.array([300.0, 400.0]), 0.0, []
    for k in range(round(seconds * fps)):
        t = k / fps
        for s in np.linspace(previous, t, 20, endpoint=False):  # integrate the changing velocity
            blend = np.clip((s - 2.0) / ramp, 0.0, 1.0)
            centre = centre + ((1 - blend) * start + blend * end) * (t - previous) / 20
        previous = t
        half = np.array([0.2 * height, height / 2])
        box = np.r_[centre - half, centre + half]
        frames.append((t, [Detection(box + rng.normal(0, height / 40, 4), 0.9)]))
    return frames


def manoeuvre_ids(kind: str, fps: float, speed: float, config: TrackerConfig | None = None) -> int:
    """How many ids the tracker gives the one person of `manoeuvre` (1 is right)."""
    tracker, ids = Tracker(config or TrackerConfig()), set()
    for t, detections in manoeuvre(kind, fps, speed):
        ids |= {track.id for track in tracker.update(detections, timestamp=t)}
    return len(ids)


def format_manoeuvres(
    config: TrackerConfig | None = None, speeds=(0.5, 1.0, 1.5), rates=(5, 10, 15, 25)
) -> str:
    """Ids per manoeuvre and frame rate (rows) and walking speed (columns, body heights per second)."""
    lines = [f"{'manoeuvre':<10} {'fps':>4} " + " ".join(f"{f'{v:g} h/s':>8}" for v in speeds), "-" * 43]
    for kind in MANOEUVRES:
        for fps in rates:
            ids = [manoeuvre_ids(kind, fps, speed, config) for speed in speeds]
            lines.append(f"{kind:<10} {fps:>4} " + " ".join(f"{n:>8}" for n in ids))
    return "\n".join(lines)


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

    print(machine_line())
    tables = accuracy(args.data)
    for name, rows in tables.items():
        print(
            f"\n{name}"
            + (" (max_age 1, min_hits 3, IoU 0.3)" if name == "SORT" else " (default TrackerConfig)")
        )
        print(format_table(rows))
    if not args.skip_frame_drop:
        for fps in rates:
            print(f"\nFrame drops, TUD-Campus + TUD-Stadtmitte stamped at {fps:g} fps, kept frames scored")
            print(format_frame_drop(frame_drop(args.data, rules, seeds, fps, phases=args.phases)))
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
