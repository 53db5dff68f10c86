"""Recording from the app: annotated video + JSONL tracks per source, through core.video.sinks.

Frames arrive on the pipeline's sink thread, while start/stop come from the worker thread, so one
lock guards the open sinks. Each source's files open at its first recorded frame (that is when its
frame size is known) and are finalised atomically by core.video.sinks on stop — or aborted on failure,
so a recording is either complete or absent.

The video is stamped by wall time: it plays at a fixed rate (the source's, or DEFAULT_FPS) and each
frame is written as often as the wall time since the previous one fills (or not at all when frames
come faster), from the moment recording started (for a source that joins later, its first frame) to
the moment it stopped, the last frame held until then: 9 s recorded play 9 s, at 25 FPS or at 0.4
(issue 20: 8.9 s became 5.5 s at 0.46 FPS). The JSONL keeps every frame with its own time.
Recorded frames have the HUD burned in (ID tags, FPS, the untrained banner), since a file has no
screen to paint it on.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.video import burn_hud

FORMATS = ("video", "jsonl")
DEFAULT_FPS = 25.0  # for sources that report no frame rate (some webcams and streams)


def file_stem(name: str) -> str:
    """A file-name-safe stem from a (redacted) source name: 'rtsp://***@cam/x' -> 'cam_x'."""
    name = name.split("://", 1)[-1].split("@")[-1]
    name = Path(name).stem if "/" not in name.rstrip("/") or Path(name).suffix else name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return stem[:60] or "source"


class Recorder:
    """One recording session into `folder`; `write` is called for every frame of every source."""

    def __init__(
        self,
        folder: Path,
        weights: str,
        clock: Callable[[], float] = time.monotonic,
        present: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        """`present`: the sources running when recording starts; their videos start now, those
        of sources that join later at their first frame."""
        self.folder = folder
        self.weights = weights  # "trained" | "untrained", written into the JSONL header
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self._clock = clock
        self.started = clock()
        self._present = set(present)
        self._closed = False
        self._until: float | None = None  # when the user stopped it (end_at): the videos end there
        self._sinks: dict[str, list] = {}
        self._clips: dict[str, _Clip] = {}  # the video of each source, stamped by wall time
        self._finished: set[str] = set()  # sources whose files are closed (they left or ended)
        self._paths: list[Path] = []
        self._lock = threading.Lock()
        self.failed = False

    def write(self, key: str, frame, tracks: list, image: np.ndarray, fps: float | None) -> None:
        """Append one frame of source `key`; raises on failure after aborting every file."""
        with self._lock:
            if self.failed or self._closed or key in self._finished:
                return
            if self._until is not None and self._clock() >= self._until:
                return  # asked to stop already: what comes while the threads wind down is not recorded
            try:
                sinks = self._sinks.get(key)
                if sinks is None:
                    sinks = self._sinks[key] = self._open(key, image, fps)
                video, data = sinks
                data.write(frame, tracks, image)
                clip = self._clips[key]
                repeats = clip.repeats(self._clock())
                if repeats:
                    shown = burn_hud(image.copy(), tracks, frame.fps, self.weights == "trained")
                    clip.last = (frame, tracks, shown)
                    for _ in range(repeats):
                        video.write(frame, tracks, shown)
            except Exception:
                self.failed = True
                self._abort_all()
                raise

    def finish(self, keys: list[str]) -> None:
        """Sources that left or ended: close their files now, keep recording the others."""
        with self._lock:
            self._finished.update(keys)
            if not self.failed:
                with contextlib.suppress(Exception):
                    self._hold_last_frames(keys)
            groups = [self._sinks.pop(key, []) for key in keys]
        for group in groups:
            for sink in group:
                with contextlib.suppress(Exception):
                    sink.close()

    def close(self) -> str:
        """Finalise every file; returns a one-line summary for the status bar."""
        with self._lock:
            self._closed = True  # a frame still on its way must not open a new file
            if not self.failed:
                with contextlib.suppress(Exception):
                    self._hold_last_frames(list(self._sinks))
            groups, self._sinks = list(self._sinks.values()), {}
            failed = self.failed
        errors = []
        for group in groups:
            for sink in group:
                try:
                    sink.close()
                except Exception as error:
                    errors.append(error)
                    with contextlib.suppress(Exception):
                        sink.abort()
        if failed:
            return "recording failed: nothing saved"
        if errors:
            raise errors[0]
        names = sorted(p.name for p in self._paths)
        return f"saved {', '.join(names)} in {self.folder}" if names else "nothing recorded"

    def end_at(self, moment: float) -> None:
        """The recording ends at `moment` (the clock's time the user asked), whenever close() comes:
        later frames are not recorded and the videos are filled up to it, not to the close."""
        with self._lock:
            self._until = moment if self._until is None else min(self._until, moment)

    def _hold_last_frames(self, keys: list[str]) -> None:
        """Fill each video up to now (or the end asked for) with its last frame: it ends when the
        recording did."""
        now = self._clock() if self._until is None else min(self._clock(), self._until)
        for key in keys:
            clip, sinks = self._clips.get(key), self._sinks.get(key)
            if clip is not None and sinks and clip.last is not None:
                for _ in range(clip.padding(now)):
                    sinks[0].write(*clip.last)

    def _open(self, key: str, image: np.ndarray, fps: float | None) -> list:
        from core.video import open_sinks, output_paths

        stem = f"{file_stem(key)}-{self.stamp}"
        size = (int(image.shape[1]), int(image.shape[0]))
        rate = float(fps or DEFAULT_FPS)
        header = {"source": key, "weights": self.weights, "video_fps": rate, "video_timing": "wall clock"}
        (video,) = open_sinks(self.folder, stem, {"video"}, rate, size)
        try:
            (data,) = open_sinks(self.folder, stem, {"jsonl"}, rate, size, header=header)
        except BaseException:
            video.abort()
            raise
        self._clips[key] = _Clip(rate, self.started if key in self._present else self._clock())
        self._paths += output_paths(self.folder, stem, set(FORMATS)).values()
        return [video, data]

    def _abort_all(self) -> None:
        for group in self._sinks.values():
            for sink in group:
                with contextlib.suppress(Exception):
                    sink.abort()
        self._sinks.clear()
        self._paths.clear()


class _Clip:
    """How many times to write each arriving frame so the video's length follows the wall clock:
    frame k of the video stands for the wall time [start + k/rate, start + (k+1)/rate)."""

    def __init__(self, rate: float, start: float) -> None:
        self.rate, self.start, self.written = rate, start, 0
        self.last: tuple | None = None  # (frame, tracks, image) written last, held at the end

    def repeats(self, now: float) -> int:
        """Frames to write now: up to the frame due at `now` (the first frame is always written)."""
        due = int((now - self.start) * self.rate) + 1
        count = max(0, due - self.written)
        self.written += count
        return count

    def padding(self, now: float) -> int:
        """Frames to add at the end so the video lasts from its start to `now`."""
        count = max(0, round((now - self.start) * self.rate) - self.written)
        self.written += count
        return count
