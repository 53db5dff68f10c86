"""Frame sources: webcams, network streams, video files and image sequences, each captured in its own thread.

`open_source(spec)` probes the input synchronously (bad input fails fast with one `UserError` line),
and returns a `FrameSource` whose capture thread fills a small bounded buffer once started:
- files and image sequences never drop a frame: the capture thread waits for the consumer, and
  frames carry their file timestamps;
- live sources (webcams, streams) keep only the newest frame (LIVE_BUFFER): a full buffer drops the
  OLDEST frame (counted in `dropped`), so a slow consumer always sees the present, not a backlog;
- streams that fail or stall reconnect with bounded exponential backoff and log one line each time;
  a live source silent for `stall_timeout` is flagged lost then, not when FFmpeg's read gives up
  (core.video.stall);
  `state()` (and the `on_state` callback) tell a window what is happening: showing, lost,
  reconnecting (attempt N, next try at T), reconnected.
Stream credentials are redacted (core.redact) everywhere a source is named.
"""

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.errors import UserError
from core.redact import redact_text, redact_url
from core.video.arrival import ArrivalClock
from core.video.capture import (
    IMAGE_EXTENSIONS,
    STREAM_SCHEMES,
    Probe,
    Reader,
    camera_index,
    probe_path,
    probe_stream,
    probe_webcam,
)
from core.video.stall import WATCH

__all__ = [
    "IMAGE_EXTENSIONS",
    "Frame",
    "FrameSource",
    "SourceState",
    "open_source",
    "redact_text",
    "redact_url",
]

log = logging.getLogger(__name__)

DEFAULT_IMAGE_FPS = 30.0  # image sequences carry no rate of their own
FILE_BUFFER = 4  # frames a file's decode thread may run ahead (it never drops)
LIVE_BUFFER = 1  # a live source keeps the newest frame only: anything older is latency

_running: "weakref.WeakSet[FrameSource]" = weakref.WeakSet()


@atexit.register
def _stop_running_sources() -> None:
    """A capture thread still inside FFmpeg at interpreter exit can abort the process: stop them first."""
    for source in list(_running):
        source.stop()


@dataclass
class Frame:
    """One captured image. `time` is the file timestamp in seconds, or seconds since start for live."""

    index: int
    time: float
    image: np.ndarray  # BGR uint8, H×W×3
    source: str  # redacted display name
    captured: float = 0.0  # time.monotonic() when it was captured: the start of its on-screen latency
    fps: float | None = None  # the output rate when it was written (set by the pipeline's sink stage)


@dataclass(frozen=True)
class SourceState:
    """Where a source stands: "showing", "lost", "reconnecting", "reconnected", "ended" or "failed".

    `attempt` counts reconnection attempts; `retry_at` (time.monotonic()) is when the next one
    starts; `detail` is why the last one failed (redacted), e.g. "authentication failed".
    """

    phase: str
    attempt: int = 0
    retry_at: float | None = None
    detail: str = ""

    def describe(self, now: float | None = None) -> str:
        """One line for a status bar: "reconnecting (attempt 2, next try in 1 s)"."""
        if self.phase == "reconnecting":
            wait = max(0.0, (self.retry_at or 0.0) - (time.monotonic() if now is None else now))
            when = f"next try in {wait:.0f} s" if wait >= 0.5 else "connecting"
            why = f"; {self.detail}" if self.detail else ""
            return f"reconnecting (attempt {self.attempt}, {when}{why})"
        if self.phase == "lost":
            return f"stream lost ({self.detail})" if self.detail else "stream lost"
        return self.phase


class FrameSource:
    """A capture thread feeding a bounded buffer; iterate it, or `read()` frames one by one.

    Use `open_source()` to make one. `start()` is implied by `with`, iteration and `read()`.
    """

    def __init__(
        self,
        probe: Probe,
        *,
        live: bool | None = None,
        reconnect: bool = True,
        queue_size: int | None = None,
        max_backoff: float = 8.0,
        stall_timeout: float = 5.0,
        max_reconnects: int | None = None,
        on_state: Callable[["SourceState"], None] | None = None,
    ):
        self._name = probe.name
        self.kind = probe.kind  # "file" | "images" | "webcam" | "stream"
        self._reader: Reader | None = probe.reader
        self._is_live = probe.live if live is None else bool(live)
        # A file's probe frame is its first frame; a camera's is stale by the time start() comes: it goes.
        stale = probe.kind in ("webcam", "stream") and self._is_live
        self._pending = None if stale else (probe.first_image, probe.first_msec)
        self._fps = probe.fps
        self._frame_count = probe.frame_count
        self._size = (int(probe.first_image.shape[1]), int(probe.first_image.shape[0]))
        # Only live cameras and streams reconnect; a file that ends has simply ended.
        self._reopen = probe.reopen if reconnect and stale else None
        default_buffer = LIVE_BUFFER if self._is_live else FILE_BUFFER
        self._queue_size = max(1, int(queue_size or default_buffer))
        self._max_backoff = max_backoff
        self._stall_timeout = stall_timeout
        self._max_reconnects = max_reconnects
        self._secrets = probe.secrets

        self._buffer: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._lifecycle = threading.Lock()  # start() and stop() from different threads
        self._producer_done = False
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._dropped = 0
        self._reconnects = 0
        self._captured = 0
        self._error: str | None = None
        # A file that ends before its container's frame count: a warning, or (False) an error.
        self.allow_partial = True
        self._last_frame = 0.0  # monotonic time of the last captured frame
        self._last_stamp: float | None = None  # a file's timestamp of its last frame, in seconds
        self._state = SourceState("showing")
        self._state_lock = threading.Lock()
        self._stalled = False  # flagged lost by check_stall while the reader is still blocked
        self._arrival = ArrivalClock()  # a live frame's arrival, from its stream timestamp
        self.on_state = on_state  # called from the capture thread at every change of state()

    # -- properties ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Display name with credentials redacted."""
        return self._name

    @property
    def is_live(self) -> bool:
        return self._is_live

    @property
    def fps(self) -> float | None:
        """Frame rate from the container or camera; the nominal rate for image sequences; None if unknown."""
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Frames in a file or image sequence (the container's count); None for live sources."""
        return self._frame_count

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames, from the probe."""
        return self._size

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def reconnects(self) -> int:
        """Successful reconnections after a failure or stall."""
        return self._reconnects

    @property
    def captured(self) -> int:
        """Frames captured so far (delivered + dropped + still buffered)."""
        return self._captured

    @property
    def error(self) -> str | None:
        """Why the capture ended, when it ended by failure (redacted); None otherwise."""
        return self._error

    @property
    def ended(self) -> bool:
        """True after stop(), or once the capture has finished and every buffered frame has been read."""
        with self._cond:
            return self._stop.is_set() or (self._producer_done and not self._buffer)

    def state(self) -> SourceState:
        """What the source is doing now (a reconnecting stream says which attempt and when the next)."""
        return self._state

    def last_frame_age(self, now: float | None = None) -> float | None:
        """Seconds since the last captured frame (since start before the first); None before start."""
        if self._thread is None:
            return None
        return max(0.0, (time.monotonic() if now is None else now) - self._last_frame)

    def check_stall(self, now: float | None = None) -> bool:
        """Flag a live source lost once it has been silent for `stall_timeout` (core.video.stall's
        watch calls this); True when it did so now."""
        now = time.monotonic() if now is None else now
        with self._state_lock:
            silent = now - self._last_frame
            if self._stalled or self._stop.is_set() or self._state.phase not in ("showing", "reconnected"):
                return False
            if self._thread is None or silent < self._stall_timeout:
                return False
            self._stalled = True
        log.warning("%s: no frame for %.1f s: stream lost", self._name, silent)
        self._set_state(SourceState("lost", detail=f"no frame for {silent:.1f} s"))
        return True

    def _set_state(self, state: SourceState) -> None:
        self._state = state
        callback = self.on_state
        if callback is not None:
            try:
                callback(state)
            except Exception:  # a window's bookkeeping must never end the capture
                log.exception("%s: state callback failed", self._name)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "FrameSource":
        """Start the capture thread (idempotent; a stopped source stays stopped)."""
        with self._lifecycle:
            if self._thread is None and not self._stop.is_set():
                self._t0 = self._last_frame = time.monotonic()
                self._thread = threading.Thread(target=self._run, name=f"source {self._name}", daemon=True)
                self._thread.start()
                _running.add(self)
                if self._is_live:
                    WATCH.add(self)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop capturing, join the thread and release the capture. Buffered frames are discarded."""
        with self._lifecycle:
            self._stop.set()
            thread = self._thread
        WATCH.discard(self)
        with self._cond:
            self._buffer.clear()
            self._cond.notify_all()
        if thread is None:
            self._release()
            with self._cond:
                self._producer_done = True
                self._cond.notify_all()
            return
        if thread is not threading.current_thread():
            # The thread can be inside one blocking read (bounded by stall_timeout for streams).
            thread.join(self._stall_timeout + 2.0 if timeout is None else timeout)

    def __enter__(self) -> "FrameSource":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __repr__(self) -> str:
        return f"FrameSource({self._name!r}, kind={self.kind}, live={self._is_live})"

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame; None at the end (or after stop()), or when `timeout` seconds pass first.

        With a timeout, tell the two apart with `ended`: a reconnecting stream returns None here
        while it waits, yet is not over.
        """
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buffer:
                if self._producer_done or self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 0.5)
            frame = self._buffer.popleft()
            self._cond.notify_all()
            return frame

    # -- capture thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._capture_loop()
        except Exception as exc:  # never let a capture thread die silently
            self._error = redact_text(f"capture failed: {exc}", self._secrets)
            log.error("%s: %s", self._name, self._error)
        finally:
            self._release()
            with self._cond:
                self._producer_done = True
                self._cond.notify_all()
            self._set_state(
                SourceState("failed", detail=self._error) if self._error else SourceState("ended")
            )

    def _release(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.release()

    def _capture_loop(self) -> None:
        while not self._stop.is_set():
            if self._pending is not None:
                image, msec = self._pending
                self._pending = None
            else:
                image, msec = self._reader.read()
                if self._stalled and self._reopen is not None:
                    image = None  # what trickles out of a frozen stream's buffer is old: reconnect
            if image is None:
                if self._reopen is None or self._stop.is_set():
                    if self._is_live and self.kind in ("stream", "webcam") and not self._stop.is_set():
                        self._error = f"{self._name}: stream ended (reconnect disabled)"
                    elif self.kind == "file" and self._short_of_its_length():
                        short = (
                            f"decoding stopped at frame {self._captured} of {self._frame_count} "
                            "(truncated or corrupt file?)"
                        )
                        if self.allow_partial:
                            log.warning("%s: %s", self._name, short)
                        else:  # the source ends in error: its outputs are discarded, not kept as done
                            self._error = f"incomplete: {short}"
                    return
                if not self._reconnect():
                    return
                continue
            self._emit(image, msec)

    def _short_of_its_length(self) -> bool:
        """True when a file stopped decoding before its end. Its frame count is the container's
        duration times its nominal rate, so a variable-rate file with a gap in its timestamps
        (MKV, WebM) has fewer frames than that and is whole all the same: whole means that the
        last frame's timestamp reaches the duration (to within two frames)."""
        if not self._frame_count or self._captured >= self._frame_count:
            return False
        if not self._fps or self._last_stamp is None:
            return True
        return self._last_stamp + 2.0 / self._fps < self._frame_count / self._fps

    def _emit(self, image: np.ndarray, msec: float | None) -> None:
        with self._state_lock:
            self._last_frame = time.monotonic()
            self._stalled = False
        if self._state.phase != "showing":
            self._set_state(SourceState("showing"))
        index = self._captured
        self._captured += 1
        if self._is_live:
            stamp = time.monotonic() - self._t0
        elif msec is not None and msec >= 0 and (index == 0 or msec > 0):
            stamp = self._last_stamp = msec / 1000.0
        else:
            stamp = index / self._fps if self._fps else float(index)
        captured = self._arrival.arrived(self._last_frame, msec) if self._is_live else self._last_frame
        frame = Frame(index=index, time=stamp, image=image, source=self._name, captured=captured)
        with self._cond:
            if self._is_live:
                while len(self._buffer) >= self._queue_size:
                    self._buffer.popleft()
                    self._dropped += 1
            else:
                while len(self._buffer) >= self._queue_size and not self._stop.is_set():
                    self._cond.wait(0.1)
                if self._stop.is_set():
                    return
            self._buffer.append(frame)
            self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Reopen a failed or stalled stream with backoff 0.5 s, 1 s, 2 s … max_backoff; False to give up."""
        self._release()
        if not self._stalled:  # else check_stall has said so already, at the stall timeout
            silent = time.monotonic() - self._last_frame
            log.warning("%s: stream lost (no frame for %.1f s); reconnecting", self._name, silent)
            self._set_state(SourceState("lost", detail=f"no frame for {silent:.1f} s"))
        delay, attempt, why = 0.5, 0, ""
        while not self._stop.is_set():
            attempt += 1
            if self._max_reconnects is not None and attempt > self._max_reconnects:
                self._error = f"{self._name}: gave up after {self._max_reconnects} reconnection attempts"
                log.error("%s", self._error)
                return False
            self._set_state(SourceState("reconnecting", attempt, time.monotonic() + delay, why))
            if self._stop.wait(delay):
                return False
            self._set_state(SourceState("reconnecting", attempt, time.monotonic(), why))
            try:
                reader = self._reopen(self._stop)
            except UserError as exc:  # messages from the openers are already redacted
                why = redact_text(str(exc), self._secrets).rsplit(": ", 1)[-1]
                log.warning(
                    "reconnect attempt %d failed (%s); next in %.1f s",
                    attempt,
                    redact_text(str(exc), self._secrets),
                    min(delay * 2, self._max_backoff),
                )
                delay = min(delay * 2, self._max_backoff)
                continue
            if self._stop.is_set():
                reader.release()
                return False
            self._reader = reader
            self._reconnects += 1
            with self._state_lock:
                self._last_frame, self._stalled = time.monotonic(), False  # its first frame was read
            log.info("%s: reconnected after %d attempt(s)", self._name, attempt)
            self._set_state(SourceState("reconnected", attempt))
            return True
        return False


def open_source(
    spec: str | int,
    *,
    queue_size: int | None = None,
    live: bool | None = None,
    reconnect: bool = True,
    connect_timeout: float = 10.0,
    max_backoff: float = 8.0,
    stall_timeout: float = 5.0,
    max_reconnects: int | None = None,
    image_fps: float = DEFAULT_IMAGE_FPS,
    cancel: threading.Event | None = None,
) -> FrameSource:
    """Probe `spec` and return a (not yet started) FrameSource; bad input raises UserError at once.

    spec: webcam index (0 or "0"), rtsp/rtmp/http(s) URL, video file, image folder, single image or
    glob of images ("frames/*.jpg"). `live` overrides the automatic choice (webcams and streams are
    live). Streams reconnect forever unless `max_reconnects` is set; a stream silent for
    `stall_timeout` seconds counts as failed. `image_fps` is the nominal rate of image sequences.
    `queue_size`: frames buffered ahead (default: FILE_BUFFER for files, LIVE_BUFFER for live ones).
    Setting `cancel` gives up a stream's connect at once (the app's Stop button).
    """
    text = str(spec).strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if isinstance(spec, int) or text.isdigit():
        probe = probe_webcam(camera_index(text))
    elif scheme in STREAM_SCHEMES:
        probe = probe_stream(text, connect_timeout, stall_timeout, cancel)
    elif scheme:
        raise UserError(f"unsupported source {redact_url(text)!r}: use one of {', '.join(STREAM_SCHEMES)}")
    else:
        probe = probe_path(text, image_fps)
    return FrameSource(
        probe,
        live=live,
        reconnect=reconnect,
        queue_size=queue_size,
        max_backoff=max_backoff,
        stall_timeout=stall_timeout,
        max_reconnects=max_reconnects,
    )
