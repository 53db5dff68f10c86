"""Fixtures of the app tests: Qt on its offscreen platform, a tiny checkpoint, short clips, windows
that are closed (and their threads checked gone) after each test."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
import torch

PyQt6 = pytest.importorskip("PyQt6")
from PyQt6.QtWidgets import QApplication  # noqa: E402

from core.model.checkpoint import save_checkpoint  # noqa: E402
from core.model.hrnet import build_model  # noqa: E402
from core.pipeline import PipelineConfig  # noqa: E402
from tests.support.helpers import loop_video  # noqa: E402
from tests.support.qt import pipeline_threads, wait_until  # noqa: E402

torch.set_num_threads(1)

INPUT_SIZE = (64, 96)  # a small crop keeps the CPU time of the untrained model negligible


@pytest.fixture(scope="module")
def qapp():
    return QApplication.instance() or QApplication([])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "w8.pt"
    save_checkpoint(build_model(width=8, input_size=INPUT_SIZE), path)
    return path


@pytest.fixture(scope="module")
def street(shared_data) -> Path:
    return shared_data / "video" / "street.mp4"


@pytest.fixture(scope="module")
def long_video(street, tmp_path_factory) -> Path:
    """The street clip looped to 400 small frames: long enough to pause, resume and stop mid-way."""
    return loop_video(tmp_path_factory.mktemp("video") / "long.mp4", street, 400)


@pytest.fixture
def make_window(qapp, tmp_path):
    from app.window import MainWindow, WindowOptions

    windows = []

    def make(checkpoint: Path | None = None, **changes) -> MainWindow:
        config = PipelineConfig(checkpoint=checkpoint, width=8, input_size=INPUT_SIZE, detector="hog")
        for key, value in changes.items():
            setattr(config, key, value)
        window = MainWindow(WindowOptions(config, tmp_path / "recordings"))
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    assert wait_until(lambda: not pipeline_threads(), 10), f"threads left running: {pipeline_threads()}"
