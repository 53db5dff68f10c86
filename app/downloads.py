"""Model-zoo downloads for the app: one background thread per download, progress and the outcome as
Qt signals (delivered on the GUI thread), so the window stays live while 100+ MB arrive.

The download itself is core.zoo's (timeouts, retries, resume, verification); this module only moves
it off the GUI thread and labels registry entries with their state for the choosers.
"""

from __future__ import annotations

import threading

from PyQt6.QtCore import QObject, pyqtSignal

from core.errors import UserError, one_line
from core.zoo import ZooEntry, fetch, is_cached, lookup


def entry_label(entry: ZooEntry) -> str:
    """What a chooser shows: the name, what it is, and cached / the size to download."""
    state = "cached" if is_cached(entry) else f"download {entry.size_text()}"
    return f"{entry.name} — {entry.describe()} ({state})"


class Downloads(QObject):
    """Fetches registry entries in background threads; at most one download per entry at a time."""

    progress = pyqtSignal(str, int, int)  # name, bytes so far, total bytes (0 when unknown)
    finished = pyqtSignal(str)  # name: verified and in the cache
    failed = pyqtSignal(str, str)  # name, one line saying why

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: set[str] = set()
        self._threads: list[threading.Thread] = []

    def busy(self, name: str) -> bool:
        return name in self._running

    def start(self, name: str) -> bool:
        """Begin fetching `name` unless it is already being fetched; False when nothing was started."""
        entry = lookup(name)
        if entry is None or name in self._running:
            return False
        self._running.add(name)
        thread = threading.Thread(target=self._run, args=(entry,), name=f"download {name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Join the download threads (tests; the app lets daemon threads die with it, and a partial
        download resumes on the next start)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self, entry: ZooEntry) -> None:
        problem = None
        try:
            fetch(entry, lambda done, total: self.progress.emit(entry.name, done, total or 0))
        except UserError as error:
            problem = str(error)
        except Exception as error:  # a bug must still reach the window, not die with the thread
            problem = one_line(error)
        self._running.discard(entry.name)
        if problem is None:
            self.finished.emit(entry.name)
        else:
            self.failed.emit(entry.name, problem)
