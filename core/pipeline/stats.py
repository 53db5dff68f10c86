"""Live statistics of a running pipeline: per-stage latency percentiles, FPS, people per frame.

Every structure here is bounded (fixed-size windows), so a pipeline that runs for days keeps flat
memory; readers take consistent snapshots from other threads under one lock per source.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# The stages a frame passes through, in order. "capture" is the wait for the source's next frame (its
# decode thread runs ahead, so this is near zero unless capture is the bottleneck); "pose" is the model
# call that carried the frame's crops (shared with the other frames of its batch); "total" is the
# latency of one frame from leaving its source to being written.
STAGES: tuple[str, ...] = ("capture", "detect", "pose", "track", "draw", "sink")


class LatencyWindow:
    """The last `size` durations of one stage; p50/p95 over that window, in seconds."""

    def __init__(self, size: int = 256) -> None:
        if size <= 0:
            raise ValueError("window size must be positive")
        self._values: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._values.append(float(seconds))

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100, linear interpolation); None before the first sample."""
        if not self._values:
            return None
        return float(np.percentile(np.fromiter(self._values, float, len(self._values)), q))

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.percentile(95)


FPS_FRAMES = 30  # frames the FPS is smoothed over: about a second of video, yet many model batches
IDLE_INTERVALS = 5  # no frame for this many usual intervals (and at least IDLE_MIN_S): FPS reads 0
IDLE_MIN_S = 2.0


class FpsMeter:
    """THE frame rate of this project: frames shown per second of wall time, over the last `frames` frames.

    Counting frames (not seconds) keeps the number steady when output comes in bursts (a batch of
    frames at once, then a pause): the window always spans several bursts. When frames stop coming,
    the time since the last one counts too, so the rate decays, and it reads 0 once nothing has
    arrived for IDLE_INTERVALS usual intervals; it never freezes at its last value. The overlay, the
    app's panel, `track`'s summary and the JSONL all read it from here (StatsCollector).
    """

    def __init__(self, frames: int = FPS_FRAMES, clock: Callable[[], float] = time.monotonic) -> None:
        if frames < 2:
            raise ValueError("the FPS needs at least two frames to measure an interval")
        self._clock = clock
        self._ticks: deque[float] = deque(maxlen=frames)

    def tick(self, now: float | None = None) -> None:
        """One frame was shown (written, painted) at `now` (the clock's time by default)."""
        self._ticks.append(self._clock() if now is None else now)

    def fps(self, now: float | None = None) -> float:
        """Frames per second at `now` (the clock's time by default); 0.0 before two frames."""
        if len(self._ticks) < 2:
            return 0.0
        now = self._clock() if now is None else max(now, self._ticks[-1])
        span = self._ticks[-1] - self._ticks[0]
        intervals = len(self._ticks) - 1
        usual = span / intervals
        silence = now - self._ticks[-1]
        if silence > max(IDLE_MIN_S, IDLE_INTERVALS * usual):
            return 0.0
        # Up to one usual interval of silence is just the wait for the next frame; beyond, it counts.
        span += max(0.0, silence - usual)
        return intervals / span if span > 0 else 0.0


@dataclass(frozen=True)
class StageLatency:
    """Latency of one stage in milliseconds (None until the stage has seen a frame)."""

    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class SourceStats:
    """A snapshot of one source's statistics; safe to hand to another thread or the UI."""

    source: str
    frames: int  # frames that reached the outputs
    fps: float  # FpsMeter: frames out per second over the last FPS_FRAMES frames, 0 when they stop
    mean_fps: float  # (frames - 1) / time from the first to the last frame (the batch summary's number)
    people: float  # mean people (tracks) per frame since the start
    people_last: int  # people in the latest frame
    tracks: int  # distinct track IDs seen
    dropped: int  # frames the source dropped (live sources keep only the newest frame)
    stages: dict[str, StageLatency] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "stages"}
        data["stages"] = {name: {"p50_ms": s.p50_ms, "p95_ms": s.p95_ms} for name, s in self.stages.items()}
        return data


class StatsCollector:
    """Statistics of one source, written by the stage threads and read by anyone."""

    def __init__(self, source: str, window: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._stages = {name: LatencyWindow(window) for name in (*STAGES, "total")}
        self._clock = clock
        self._fps = FpsMeter(clock=clock)
        self._frames = 0
        self._people_sum = 0
        self._people_last = 0
        # Distinct IDs: a tracker never reuses an ID, so an ID unseen for `forget_after` frames is gone
        # for good and can be forgotten; the count stays exact while memory stays bounded.
        self._last_seen: dict[int, int] = {}
        self._distinct = 0
        self.forget_after = 10_000
        self._first: float | None = None
        self._last: float | None = None
        self.dropped = 0  # mirrored from the source by the pipeline

    def add_latency(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._stages[stage].add(seconds)

    def frame_done(self, people: int, track_ids, now: float | None = None) -> None:
        """One frame reached the outputs with `people` tracks carrying these IDs."""
        now = self._clock() if now is None else now
        with self._lock:
            self._frames += 1
            self._people_sum += people
            self._people_last = people
            for track_id in track_ids:
                if track_id not in self._last_seen:
                    self._distinct += 1
                self._last_seen[track_id] = self._frames
            if self._frames % 1000 == 0:
                horizon = self._frames - self.forget_after
                self._last_seen = {k: v for k, v in self._last_seen.items() if v >= horizon}
            self._fps.tick(now)
            if self._first is None:
                self._first = now
            self._last = now

    def fps(self, now: float | None = None) -> float:
        with self._lock:
            return self._fps.fps(now)

    def forget_ids(self) -> None:
        """A new tracker starts its IDs afresh: count the IDs it hands out as new people."""
        with self._lock:
            self._last_seen.clear()

    def snapshot(self, now: float | None = None) -> SourceStats:
        """Everything at `now` (the clock's time by default): the FPS falls while no frame comes."""
        with self._lock:
            span = (self._last - self._first) if self._first is not None else 0.0
            mean_fps = (self._frames - 1) / span if self._frames > 1 and span > 0 else 0.0
            stages = {
                name: StageLatency(_ms(window.p50), _ms(window.p95)) for name, window in self._stages.items()
            }
            return SourceStats(
                source=self.source,
                frames=self._frames,
                fps=self._fps.fps(now),
                mean_fps=mean_fps,
                people=self._people_sum / self._frames if self._frames else 0.0,
                people_last=self._people_last,
                tracks=self._distinct,
                dropped=self.dropped,
                stages=stages,
            )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0
