"""A frozen live stream is flagged lost at its stall timeout although its reader is still stuck
inside one blocking read (FFmpeg took ~16 s), and what trickles out afterwards is not shown."""

import threading
import time

import numpy as np

from core.video.capture import Probe
from core.video.sources import FrameSource
from core.video.stall import StallWatch

IMAGE = np.zeros((24, 32, 3), np.uint8)


class FreezingReader:
    """Gives `frames` frames, then blocks in read() until `thaw` is set, then gives one old frame."""

    def __init__(self, frames: int) -> None:
        self.left = frames
        self.thaw = threading.Event()
        self.released = False

    def read(self):
        if self.left > 0:
            self.left -= 1
            time.sleep(0.02)
            return IMAGE, None
        self.thaw.wait(30)
        return IMAGE, None  # a frame from before the freeze, out of the decoder's buffer

    def release(self) -> None:
        self.released = True
        self.thaw.set()


def frozen_camera(stall_timeout: float):
    first = FreezingReader(5)
    fresh = FreezingReader(1000)
    probe = Probe("cam", "stream", first, IMAGE, None, True, 25.0, None, reopen=lambda cancel: fresh)
    phases: list[tuple[float, str]] = []
    source = FrameSource(
        probe, stall_timeout=stall_timeout, on_state=lambda s: phases.append((time.monotonic(), s.phase))
    )
    return source, first, fresh, phases


def test_a_frozen_stream_is_lost_at_the_stall_timeout_not_when_its_read_returns():
    source, first, _fresh, phases = frozen_camera(stall_timeout=1.0)
    with source:
        while first.left:
            source.read(timeout=1)
        last = time.monotonic()
        deadline = last + 5
        while not any(p == "lost" for _, p in phases) and time.monotonic() < deadline:
            source.read(timeout=0.05)
        lost_at = next(t for t, p in phases if p == "lost")
        assert 0.9 <= lost_at - last <= 1.6, lost_at - last  # the read is still blocked
        assert "no frame for" in source.state().describe()
        assert 1.0 <= source.last_frame_age() < 2.0
        first.thaw.set()  # FFmpeg lets go with an old buffered frame: reconnect instead of showing it
        deadline = time.monotonic() + 5
        while source.reconnects == 0 and time.monotonic() < deadline:
            source.read(timeout=0.05)
        assert source.reconnects == 1 and first.released
        assert source.read(timeout=2) is not None and source.state().phase == "showing"
    order = [p for i, (_, p) in enumerate(phases) if i == 0 or phases[i - 1][1] != p]
    assert order[:3] == ["lost", "reconnecting", "reconnected"], order  # "lost" once, not twice


def test_the_watch_thread_ends_when_nothing_is_left_to_watch():
    watch = StallWatch(interval=0.02)
    checked = threading.Event()

    class Source:
        def check_stall(self):
            checked.set()

    source = Source()
    watch.add(source)
    assert checked.wait(2)
    watch.discard(source)
    time.sleep(0.2)
    assert watch._thread is None
