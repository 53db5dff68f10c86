"""How each source is doing, as the window tells it: what a tile says when its picture is missing or
old, a camera shown far below its own rate pointed out once with what would help, and the numbers
the event log gets once a second.

Qt-free apart from the views it reads, so the rules can be tested without a window.
"""

from __future__ import annotations

import math

from app.events import EventLog, NoEventLog
from core.pipeline import PipelineConfig

WAITING_TEXT = "Waiting for the first frame…"
STALE_AFTER_S = 3.0  # a tile says "no new frame for N s" after this long (or 3 usual intervals)
SLOW_RATIO, SLOW_FOR_S = 0.5, 10.0  # a camera shown below half its own rate for 10 s is pointed out


class HealthWatch:
    """What the window remembers between statistics refreshes (every 0.5 s): since when each camera
    has been slow, which were pointed out already, and when the numbers were last logged."""

    def __init__(self) -> None:
        self._slow_since: dict[str, float] = {}  # source -> since when it is shown far below its rate
        self._slow_said: set[str] = set()  # sources pointed out already (once each)
        self._stats_logged = -math.inf  # when the last "stats" event was written

    def forget(self, keys: list[str]) -> None:
        """Sources opened again start afresh: a camera pointed out before may be pointed out again."""
        for key in keys:
            self._slow_since.pop(key, None)
            self._slow_said.discard(key)

    def slow_cameras(
        self, stats: dict, health: dict, now: float, paused: bool, config: PipelineConfig
    ) -> list[str]:
        """Once per source: a camera shown far below its own frame rate for SLOW_FOR_S, and what to try
        with the settings in force."""
        messages = []
        for key, snapshot in stats.items():
            source = health.get(key)
            slow = (
                source is not None
                and source.live
                and source.rate
                and snapshot.frames > 0
                and snapshot.fps < SLOW_RATIO * source.rate
                and not paused
            )
            if not slow:
                self._slow_since.pop(key, None)
                continue
            since = self._slow_since.setdefault(key, now)
            if now - since >= SLOW_FOR_S and key not in self._slow_said:
                self._slow_said.add(key)
                messages.append(
                    f"{key}: {snapshot.fps:.1f} FPS on screen of the camera's {source.rate:.0f}: "
                    f"the model cannot keep up — try {lighter_settings(config)}"
                )
        return messages

    def log(self, events: EventLog | NoEventLog, views: dict, stats: dict, health: dict, now: float) -> None:
        """First frames on screen as they happen; every source's numbers once a second."""
        for key, view in views.items():
            if view.first_painted_at is not None and not view.first_logged:
                view.first_logged = True
                after = round(view.first_painted_at - view.created, 3)
                events.write("first_frame", source=key, after_s=after, at=round(view.first_painted_at, 3))
        if now - self._stats_logged < 1.0 or not stats:
            return
        self._stats_logged = now
        numbers = {}
        for key, snapshot in stats.items():
            view, source = views.get(key), health.get(key)
            numbers[key] = {
                "fps": round(snapshot.fps, 2),
                "frames": snapshot.frames,
                "dropped": snapshot.dropped,
                "age_s": None
                if source is None or source.last_frame_age is None
                else round(source.last_frame_age, 2),
                "tile_age_s": None
                if view is None or view.last_image_at is None
                else round(now - view.last_image_at, 2),
            }
        events.write("stats", sources=numbers)


def tile_texts(view, snapshot, now: float, resting: bool) -> tuple[str, str]:
    """(what an empty tile says, the notice over a picture) for a source's tile: it waits for its
    first frame, or its newest frame is older than STALE_AFTER_S or three usual intervals.
    `resting`: paused or finished, when an old picture is expected."""
    if view.last_image_at is None:
        waited = now - view.created
        return (f"{WAITING_TEXT} ({waited:.0f} s)" if waited >= 1.0 else WAITING_TEXT), ""
    age = now - view.last_image_at
    usual = 1.0 / snapshot.fps if snapshot is not None and snapshot.fps > 0 else 0.0
    if resting or age < max(STALE_AFTER_S, 3 * usual):
        return "", ""
    return "", f"no new frame for {age:.0f} s"


def lighter_settings(config: PipelineConfig) -> str:
    """What makes the pose stage faster from `config`, most effective first (at most three)."""
    ideas = []
    if config.flip:
        ideas.append("the flip test off")
    if config.width > 32:
        ideas.append("width W32")
    if tuple(config.input_size) != (192, 256):
        ideas.append("input 192x256")
    if config.preset != "baseline":
        ideas.append("the baseline preset")
    if config.interval < 3:
        ideas.append("detecting every 3 frames")
    if config.backend in ("auto", "eager", "eager-plain"):
        ideas.append("the onnxruntime or compile backend")
    return ", ".join(ideas[:3]) or "fewer sources in this window"
