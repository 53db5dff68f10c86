"""Can the tracker follow a deliberate change of motion? One person stops, turns a right angle or turns
back over half a second, at several walking speeds and frame rates; the table counts the ids the
tracker gives her (1 is right). The check that the steady-walker velocity model is not too stiff."""

import numpy as np

from core.records import Detection
from core.track import Tracker, TrackerConfig

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
