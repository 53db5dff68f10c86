"""Who goes next into the slow stages when several sources share one pipeline.

One FIFO in front of the detector let a file, whose reader always has a frame ready, take every
place while cameras waited behind it: three cameras showed 0-1 frames in 3.5 minutes beside one
file (issue 20). Here each source has its own small queue, and the detect stage serves the sources
in turn: no source is served again while another that has a frame waiting has been served fewer
times (counted from when it joined), and among those that may go, the one served longest ago goes
first — a new source at once, a live one before a file at a tie. So every source gets an equal
share of frames through the pose model, whatever its frame rate, and a source slower than its
share is never owed a backlog; a file's reader waits only for its own queue.

A source may have only a bounded number of frames between this inbox and the end of the pose
model (`in flight`): one for a live source, whose next frame is chosen when the model is free for
it (the newest frame captured meanwhile replaces the waiting one, so what reaches the screen is as
fresh as the model allows), and one for every source while several share the pipeline (a pose
batch then holds at most one frame per source: equal shares). A file alone runs ahead freely, so
`run.py track` keeps its batches.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

POLL = 0.05  # seconds a blocked caller waits before it looks at its stop flag again


class FairInbox:
    """The detect stage's inbox: a queue per source (an `Item` has `.slot` and `.frame`, None
    marking the source's end; a slot has `.live`, `.dropped` and the `.removed` event)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))  # frames a file may have waiting here
        self._cond = threading.Condition()
        self._waiting: dict[Any, deque] = {}  # slot -> its items in order (registration order)
        self._served: dict[Any, int] = {}  # slot -> the turn it was last served in (-1: never)
        self._count: dict[Any, int] = {}  # slot -> frames served since it joined (+ the others' least)
        self._in_flight: dict[Any, int] = {}  # slot -> frames taken and not yet released
        self._turn = 0

    def add(self, slot) -> None:
        """A source joins: it is served before every source that has been served already."""
        with self._cond:
            if slot not in self._waiting:
                self._count[slot] = min(self._count.values(), default=0)  # owed nothing from before
            self._waiting.setdefault(slot, deque())
            self._served.setdefault(slot, -1)
            self._in_flight.setdefault(slot, 0)

    def put(self, item, stop: threading.Event) -> bool:
        """Queue a frame or end marker; a live frame replaces its source's waiting one (counted
        dropped), a file's waits for room in its own queue. False when `stop` came first. A frame of
        a removed source is dropped at once."""
        slot = item.slot
        with self._cond:
            waiting = self._waiting.get(slot)
            if waiting is None:  # not added (tests), or ended: a new turn
                self.add(slot)
                waiting = self._waiting[slot]
            if item.frame is not None:
                if slot.removed.is_set():
                    return True
                if slot.live:
                    stale = [old for old in waiting if old.frame is not None]
                    for old in stale:
                        waiting.remove(old)
                    slot.dropped += len(stale)
                else:
                    while len(waiting) >= self.capacity:
                        if stop.is_set():
                            return False
                        if slot.removed.is_set():
                            return True
                        self._cond.wait(POLL)
            waiting.append(item)
            self._cond.notify_all()
            return True

    def get(self, stop: threading.Event):
        """The next item by turn (see the module's docstring); None once `stop` is set."""
        with self._cond:
            while not stop.is_set():
                slot = self._choose()
                if slot is not None:
                    item = self._waiting[slot].popleft()
                    if item.frame is None:  # the source's end: it leaves the rotation
                        del self._waiting[slot], self._served[slot], self._count[slot]
                    else:
                        self._turn += 1
                        self._served[slot] = self._turn
                        self._count[slot] += 1
                        self._in_flight[slot] = self._in_flight.get(slot, 0) + 1
                    self._cond.notify_all()
                    return item
                self._cond.wait(POLL)
        return None

    def release(self, slot) -> None:
        """A frame of `slot` taken from here has left the pose model (or was dropped on the way)."""
        with self._cond:
            count = self._in_flight.get(slot, 0) - 1
            if count > 0 or slot in self._waiting:
                self._in_flight[slot] = max(0, count)
            else:
                self._in_flight.pop(slot, None)
            self._cond.notify_all()

    def discard(self, slot) -> int:
        """Drop the frames of a removed source waiting here (its end marker stays); how many."""
        with self._cond:
            waiting = self._waiting.get(slot, deque())
            frames = [item for item in waiting if item.frame is not None]
            for item in frames:
                waiting.remove(item)
            self._cond.notify_all()
            return len(frames)

    def qsize(self) -> int:
        with self._cond:
            return sum(len(waiting) for waiting in self._waiting.values())

    def in_flight(self, slot) -> int:
        with self._cond:
            return self._in_flight.get(slot, 0)

    def _limit(self, slot) -> float:
        return 1 if slot.live or len(self._waiting) > 1 else math.inf

    def _choose(self):
        """The slot to serve: least recently served, live before file at a tie, among those whose
        next item is an end marker, or a frame when the source is not ahead of any other with a
        frame waiting and its frames in flight are below its limit."""
        counts = [
            self._count[slot]
            for slot, waiting in self._waiting.items()
            if waiting and waiting[0].frame is not None
        ]
        least = min(counts, default=0)
        best, best_key = None, None
        for slot, waiting in self._waiting.items():
            if not waiting:
                continue
            if waiting[0].frame is not None and (
                self._count[slot] > least or self._in_flight.get(slot, 0) >= self._limit(slot)
            ):
                continue
            key = (self._served[slot], not slot.live)
            if best_key is None or key < best_key:
                best, best_key = slot, key
        return best
