"""Model builds in a thread of their own, which the user can give up on.

Switching to the `compile` backend took 5-8 minutes on a CPU with only "loading model…" on screen,
no way back, and the Backend box already saying compile (issue 20). A `ModelBuild` runs the build
(core.pipeline.rebuild_models) beside the running pipeline, which goes on with the models it has;
the window shows what is being built and for how long, and Cancel gives it up at once: the panel
returns to what runs, and the build thread is stopped at its next Python step (an exception raised
in it; a step inside C — a C++ compiler run, a TensorRT engine — finishes first, then it stops).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from core.pipeline import BUILT_FIELDS, PipelineConfig

log = logging.getLogger(__name__)

SLOW_BACKENDS = {"compile": "compiling takes minutes on a CPU", "tensorrt": "building engines takes minutes"}

# A change in the panel's words, not the configuration's field names (other fields: "name value").
CHANGE_WORDS: dict[str, Callable[[object], str]] = {
    "checkpoint": lambda value: f"checkpoint {Path(value).name}" if value else "untrained model",
    "input_size": lambda value: f"input {value[0]}x{value[1]}",
    "width": lambda value: f"width W{value}",
    "interval": lambda value: "detector on every frame" if value == 1 else f"detector every {value} frames",
    "flip": lambda value: f"flip test {'on' if value else 'off'}",
}


def describe_change(changes: dict) -> str:
    """A status line such as "applied: detector every 3 frames" (CHANGE_WORDS)."""
    words = [
        CHANGE_WORDS[key](value) if key in CHANGE_WORDS else f"{key} {value}"
        for key, value in changes.items()
    ]
    return "applied: " + ", ".join(words)


def built_parts(config: PipelineConfig) -> dict:
    """The settings whose change builds something: a build goes on while only the others change."""
    return {name: getattr(config, name) for name in BUILT_FIELDS}


class BuildCancelled(BaseException):
    """Raised inside a build thread that was given up on (a BaseException: no `except Exception`
    on the way swallows it)."""


class ModelBuild(QObject):
    """One build: `build()` runs in a daemon thread; `done(result, error)` comes back as a signal
    (delivered in the thread of whoever connected it), never for a cancelled build."""

    done = pyqtSignal(object, object)  # the build's result or None, the exception or None

    def __init__(
        self, build: Callable[[], object], describe: str, target: object = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.describe = describe  # what is being built, in the panel's words
        self.target = target  # what it is built for (the worker's PipelineConfig)
        self._build = build
        self._thread: threading.Thread | None = None
        self.started = 0.0
        self.cancelled = False

    def start(self) -> ModelBuild:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="model-build", daemon=True)
        self._thread.start()
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cancel(self) -> None:
        """Give the build up: nothing it makes is used, and its thread stops at its next Python step."""
        self.cancelled = True
        thread = self._thread
        if thread is not None and thread.is_alive() and thread.ident is not None:
            raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc
            raise_in(ctypes.c_ulong(thread.ident), ctypes.py_object(BuildCancelled))

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running()

    def _run(self) -> None:
        try:  # the cancel may land anywhere in here, even after the build itself has returned
            result, error = None, None
            try:
                result = self._build()
            except BuildCancelled:
                raise
            except BaseException as error_:  # reported by whoever waits for the build, as one line
                error = error_
            if not self.cancelled:
                self.done.emit(result, error)
        except BuildCancelled:
            log.info("model build cancelled: %s", self.describe)
