"""A frozen live stream is flagged when the documented time has passed without a frame, whatever
FFmpeg's read is doing.

A capture thread sits inside one blocking read while a camera is frozen; FFmpeg gave up only after
about three of its 5 s read timeouts, so "lost" came ~16 s after the last frame (issue 20). One
watch thread looks at every live source a few times a second instead and calls its `check_stall()`,
which flags the stream lost once it has been silent for its stall timeout; the capture thread then
reconnects as soon as FFmpeg lets go, rather than showing the frames that trickle out of its buffer.
"""

from __future__ import annotations

import threading
import weakref

CHECK_INTERVAL = 0.25  # seconds between two looks: a stall is flagged at most this late


class StallWatch:
    """Calls `check_stall()` of every watched source every CHECK_INTERVAL seconds, in one daemon
    thread that runs while there is something to watch."""

    def __init__(self, interval: float = CHECK_INTERVAL) -> None:
        self.interval = interval
        self._sources: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, source) -> None:
        with self._lock:
            self._sources.add(source)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="stall-watch", daemon=True)
                self._thread.start()

    def discard(self, source) -> None:
        with self._lock:
            self._sources.discard(source)

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.interval):
            with self._lock:
                sources = list(self._sources)
                if not sources:
                    self._thread = None
                    return
            for source in sources:
                source.check_stall()


WATCH = StallWatch()
