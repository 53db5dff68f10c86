"""What dropped frames cost a tracker: replay the detections of the kept frames only, stamped with their
real times, and score those frames, as a live source that keeps its newest frame feeds it.

Rules (`--keep` of `python -m core.bench.mot`): all | every:N | random:P (each frame kept with
probability P, one draw per seed). Every N-th frame also runs from each of its N start frames
(`phases`), because which frames are dropped decides a few ambiguous moments, and with them several
IDF1 points.
"""

import io
import statistics
from dataclasses import dataclass

import numpy as np

from core.bench.sequences import Sequence, TrackerRun, score
from core.errors import UserError
from core.track import MotCounts


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


def frame_drop(
    sequences: list[Sequence],
    rules: list[KeepRule],
    seeds: list[int],
    run: TrackerRun,
    fps: float | None = None,
    phases: bool = False,
) -> list[tuple[str, float, MotCounts]]:
    """(label, share of the frames kept, counts summed over the sequences) per rule, per seed if random,
    and per start frame of every:N with `phases`; frames stamped at each sequence's own rate, or at
    `fps` for all."""
    rows = []
    for rule in [phase for given in rules for phase in (given.phases() if phases else [given])]:
        for seed in seeds if rule.kind == "random" else [0]:
            total, seen, frames = MotCounts(), 0, 0
            for stream, sequence in enumerate(sequences):
                kept = rule.frames(sequence.num_frames, seed, stream)
                total = total + score(run, sequence, kept, fps)
                seen, frames = seen + len(kept), frames + sequence.num_frames
            label = rule.label
            if rule.kind == "random":
                label += f" seed {seed}"
            elif phases and rule.kind == "every":
                label += f" from {rule.offset + 1}"
            rows.append((label, seen / frames, total))
    return rows


def _rule_of(label: str) -> str:
    """ "every:2 from 1" or "random:0.5 seed 3" -> the rule's own label."""
    return label.split(" seed ")[0].split(" from ")[0]


def format_frame_drop(rows: list[tuple[str, float, MotCounts]]) -> str:
    """The frame-drop table; random rules with several seeds, and every:N from each start frame, also
    get a mean row (of the ratios)."""
    lines = [f"{'frames kept':<24} {'kept %':>8} {'MOTA':>6} {'IDF1':>6} {'IDSW':>5}", "-" * 53]
    groups: dict[str, list[tuple[float, MotCounts]]] = {}
    for label, seen, c in rows:
        lines.append(f"{label:<24} {100 * seen:8.1f} {100 * c.mota:6.1f} {100 * c.idf1:6.1f} {c.idsw:5d}")
        if _rule_of(label) != label:  # one draw or one start frame of its rule
            groups.setdefault(_rule_of(label), []).append((seen, c))
    for label, group in groups.items():
        if len(group) > 1:
            mean = [
                statistics.mean(v) for v in zip(*[(s, c.mota, c.idf1, c.idsw) for s, c in group], strict=True)
            ]
            lines.append(
                f"{label + f' mean of {len(group)}':<24} {100 * mean[0]:8.1f} {100 * mean[1]:6.1f} "
                f"{100 * mean[2]:6.1f} {mean[3]:5.1f}"
            )
    return "\n".join(lines)


def plot_frame_drop(tables: dict[str, list[tuple[str, float, MotCounts]]], title: str) -> bytes:
    """PNG: IDF1 and ID switches per rule (x) and series (one bar each: a tracker, a stamping rate): the
    mean over start frames and seeds, with their range as a bar, so a spread that one ambiguous moment
    causes shows."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    rules = list(dict.fromkeys(_rule_of(label) for rows in tables.values() for label, _, _ in rows))
    width = 0.8 / max(len(tables), 1)
    for k, (series, rows) in enumerate(tables.items()):
        for ax, metric in zip(axes, ("IDF1 (%)", "ID switches"), strict=True):
            values = {
                rule: [
                    100 * c.idf1 if metric.startswith("IDF1") else c.idsw
                    for label, _, c in rows
                    if _rule_of(label) == rule
                ]
                for rule in rules
            }
            xs = [i + (k - (len(tables) - 1) / 2) * width for i in range(len(rules))]
            means = [statistics.mean(values[rule]) if values[rule] else float("nan") for rule in rules]
            low = [m - min(values[r], default=m) for m, r in zip(means, rules, strict=True)]
            high = [max(values[r], default=m) - m for m, r in zip(means, rules, strict=True)]
            ax.bar(xs, means, width, yerr=[low, high], capsize=3, label=series)
    for ax, metric in zip(axes, ("IDF1 (%)", "ID switches"), strict=True):
        ax.set_xticks(range(len(rules)), rules)
        ax.set_ylabel(metric)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylim(40, 90)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}: bars = mean over start frames / seeds, whiskers = range", fontsize=9)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
