"""Driving Qt from tests without pytest-qt: run the event loop until a condition holds."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
import time

from PyQt6.QtWidgets import QApplication


def wait_until(condition, timeout: float = 20.0) -> bool:
    """Run the Qt event loop until `condition()` holds (True) or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    QApplication.processEvents()
    return condition()


def settle(seconds: float) -> None:
    wait_until(lambda: False, seconds)


def stable(value, seconds: float) -> bool:
    """True when `value()` does not change for `seconds` (the event loop keeps running meanwhile)."""
    before = value()
    settle(seconds)
    return value() == before


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("pipeline-", "source "))]
