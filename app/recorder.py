"""Recording from the app: annotated video + JSONL tracks per source, through core.video.sinks.

Frames arrive on the pipeline's sink thread, while start/stop come from the worker thread, so one
lock guards the open sinks. Each source's files open at its first recorded frame (that is when its
frame size is known) and are finalised atomically by core.video.sinks on stop — or aborted on failure,
so a recording is either complete or absent.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path

import numpy as np

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

    def __init__(self, folder: Path, weights: str) -> None:
        self.folder = folder
        self.weights = weights  # "trained" | "untrained", written into the JSONL header
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self._sinks: dict[str, list] = {}
        self._finished: set[str] = set()  # sources whose files are closed (they left or ended)
        self._paths: list[Path] = []
        self._lock = threading.Lock()
        self.failed = False

    def write(self, key: str, frame, tracks: list, image: np.ndarray, fps: float | None) -> None:
        """Append one frame of source `key`; raises on failure after aborting every file."""
        with self._lock:
            if self.failed or key in self._finished:
                return
            try:
                sinks = self._sinks.get(key)
                if sinks is None:
                    sinks = self._sinks[key] = self._open(key, image, fps)
                for sink in sinks:
                    sink.write(frame, tracks, image)
            except Exception:
                self.failed = True
                self._abort_all()
                raise

    def finish(self, keys: list[str]) -> None:
        """Sources that left or ended: close their files now, keep recording the others."""
        with self._lock:
            self._finished.update(keys)
            groups = [self._sinks.pop(key, []) for key in keys]
        for group in groups:
            for sink in group:
                with contextlib.suppress(Exception):
                    sink.close()

    def close(self) -> str:
        """Finalise every file; returns a one-line summary for the status bar."""
        with self._lock:
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

    def _open(self, key: str, image: np.ndarray, fps: float | None) -> list:
        from core.video import open_sinks, output_paths

        stem = f"{file_stem(key)}-{self.stamp}"
        size = (int(image.shape[1]), int(image.shape[0]))
        header = {"source": key, "weights": self.weights}
        sinks = open_sinks(self.folder, stem, set(FORMATS), float(fps or DEFAULT_FPS), size, header=header)
        self._paths += output_paths(self.folder, stem, set(FORMATS)).values()
        return sinks

    def _abort_all(self) -> None:
        for group in self._sinks.values():
            for sink in group:
                with contextlib.suppress(Exception):
                    sink.abort()
        self._sinks.clear()
        self._paths.clear()
