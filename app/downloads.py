"""Model-zoo choosers and downloads for the app: one background thread per download, progress and
the outcome as Qt signals (delivered on the GUI thread), so the window stays live while 100+ MB arrive.

The download itself is core.zoo's (timeouts, retries, resume, verification); this module only moves
it off the GUI thread and labels registry entries with their state for the choosers.
"""

from __future__ import annotations

import threading

from PyQt6.QtCore import QObject, QSignalBlocker, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QLabel, QProgressBar

from core.errors import UserError, one_line
from core.zoo import DETECTOR, POSE, ZooEntry, entries, fetch, is_cached, lookup


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


class ZooChoosers:
    """The model panel's registry part (a mixin of app.panels.ModelPanel, which provides `changed`
    and the `detector` combo): the Weights chooser, registry detectors in the detector chooser, and
    downloads in the background with a status line and a progress bar."""

    changed: pyqtSignal
    detector: QComboBox

    def _build_zoo_choosers(self) -> None:
        """The Weights chooser (pose entries) and the registry detectors in the detector chooser;
        an entry that is not cached downloads in the background, with progress below the controls."""

        self.downloads = Downloads(self)
        self.downloads.progress.connect(self._download_progress)
        self.downloads.finished.connect(self._download_finished)
        self.downloads.failed.connect(self._download_failed)
        self._pending: dict[str, str] = {}  # entry name -> the config field it is for
        self.zoo_model = QComboBox()
        self.zoo_model.setToolTip("Trained pose models by name: a cached one loads at once, others download")
        self.zoo_model.activated.connect(lambda index: self._zoo_chosen("checkpoint", self.zoo_model, index))
        for position, entry in enumerate(entries(DETECTOR), start=1):  # after hog
            self.detector.insertItem(position, entry_label(entry), entry.name)
        self.download_status = QLabel("")
        self.download_status.setWordWrap(True)
        self.download_status.setVisible(False)
        self.download_bar = QProgressBar()
        self.download_bar.setVisible(False)
        self.refresh_zoo()

    def refresh_zoo(self) -> None:
        """Relabel every registry entry with its current state (cached / size to download)."""

        with QSignalBlocker(self.zoo_model):
            current = self.zoo_model.currentData()
            self.zoo_model.clear()
            self.zoo_model.addItem("— a file below, or untrained —", None)
            for entry in entries(POSE):
                self.zoo_model.addItem(entry_label(entry), entry.name)
            self.zoo_model.setCurrentIndex(max(0, self.zoo_model.findData(current)))
        for index in range(self.detector.count()):
            name = self.detector.itemData(index)
            if isinstance(name, str) and (entry := lookup(name)) is not None:
                self.detector.setItemText(index, entry_label(entry))

    def _zoo_chosen(self, field: str, combo: QComboBox, index: int) -> None:
        name = combo.itemData(index)
        if not isinstance(name, str):
            return
        entry = lookup(name)
        if entry is not None and is_cached(entry):
            self.changed.emit(field, name)
            return
        self._pending[name] = field
        if self.downloads.start(name):
            self.download_status.setText(f"downloading {name}…")
            self.download_status.setVisible(True)
            self.download_bar.setRange(0, 0)  # busy until the size is known
            self.download_bar.setVisible(True)

    def _download_progress(self, name: str, done: int, total: int) -> None:
        mib = 1 << 20
        if total > 0:
            self.download_bar.setRange(0, max(1, total // 1024))
            self.download_bar.setValue(done // 1024)
            self.download_status.setText(f"downloading {name}: {done / mib:.1f} of {total / mib:.1f} MB")
        else:
            self.download_status.setText(f"downloading {name}: {done / mib:.1f} MB")

    def _download_finished(self, name: str) -> None:
        self.download_bar.setVisible(False)
        self.download_status.setText(f"{name}: downloaded and verified")
        self.refresh_zoo()
        field = self._pending.pop(name, None)
        if field is not None:
            self.changed.emit(field, name)

    def _download_failed(self, name: str, message: str) -> None:
        self._pending.pop(name, None)
        self.download_bar.setVisible(False)
        self.download_status.setText(f"error: {message}")
        self.download_status.setVisible(True)
        self.refresh_zoo()
