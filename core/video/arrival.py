"""When a live frame really arrived, from its stream timestamp: the start of its on-screen latency.

A frame's capture time used to be the moment FFmpeg handed it over. A reader that falls behind
(a busy CPU) or a burst after a (re)connect gets frames that waited inside FFmpeg's buffers for up
to seconds, and the app's "on screen" latency read 0.4-1.5 s below the lag seen with a clock burned
into the stream (issue 20). A stream's presentation timestamps advance with the camera's clock, so
arrival minus timestamp is smallest for frames handed over as soon as they came; that minimum, over
the last WINDOW_S seconds (so clock drift between camera and machine cannot accumulate), maps every
timestamp to the moment its frame came in. Without usable timestamps (webcams without them, a jump
after a reconnect) the hand-over time stands, as before.
"""

from __future__ import annotations

from collections import deque

WINDOW_S = 60.0  # seconds of arrivals the smallest delay is taken over
MAX_GAP_S = 10.0  # a timestamp that jumps further (or back) starts afresh: a new stream


class ArrivalClock:
    """Maps (hand-over time, stream timestamp in ms) to the frame's arrival time, both monotonic s."""

    def __init__(self, window: float = WINDOW_S) -> None:
        self.window = window
        self._offsets: deque[tuple[float, float]] = deque()  # (hand-over, hand-over - timestamp), rising
        self._last_stamp: float | None = None

    def arrived(self, handed_over: float, stamp_ms: float | None) -> float:
        stamp = None if stamp_ms is None or not stamp_ms > 0 else stamp_ms / 1000.0
        if stamp is None or self._last_stamp is None or not 0 < stamp - self._last_stamp < MAX_GAP_S:
            self._offsets.clear()  # no timestamps, the first frame, or a new stream
        self._last_stamp = stamp
        if stamp is None:
            return handed_over
        offset = handed_over - stamp
        while self._offsets and self._offsets[-1][1] >= offset:  # a sliding minimum
            self._offsets.pop()
        self._offsets.append((handed_over, offset))
        while self._offsets[0][0] < handed_over - self.window:
            self._offsets.popleft()
        return min(handed_over, stamp + self._offsets[0][1])
