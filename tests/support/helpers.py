"""What many tests need: where the repository and the shared data are, skipping versus failing on a
missing system tool (CI must have every one), short clips to test on, and torch thread limits."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("POSE_SHARED_DATA", ROOT.parent / "shared" / "data"))
# In CI every system tool a test needs is installed by .ci/run, so a missing one is a failure there.
STRICT = bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    """Skip locally when an external prerequisite is missing; fail in CI, where it must exist."""
    if not condition:
        if STRICT:
            pytest.fail(f"missing in CI: {reason}")
        pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    return path


def loop_video(path: Path, source: Path, frames: int, size: tuple[int, int] = (320, 180)) -> Path:
    """A clip of `frames` frames looping a shared video, scaled down: long enough to stop, pause or
    kill mid-way, small enough to stay quick."""
    import cv2

    capture = cv2.VideoCapture(str(source))
    images = []
    while (read := capture.read())[0]:
        images.append(cv2.resize(read[1], size))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for i in range(frames):
        writer.write(images[i % len(images)])
    writer.release()
    return path


def limit_torch_threads(count: int | None):
    """An autouse fixture for a test module: at most `count` torch threads in each test (None: as
    many as the code under test sets), and the previous number back afterwards, so a module's
    setting never leaks into the next. Assign it to a module-level name to use it."""

    @pytest.fixture(autouse=True)
    def torch_threads():
        previous = torch.get_num_threads()
        if count is not None:
            torch.set_num_threads(min(count, previous))
        yield
        torch.set_num_threads(previous)

    return torch_threads


TINY_MODEL = ["--width", "8", "--input-size", "64x96", "--no-progress"]  # untrained W8: a second per video


def run_track(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    """`python run.py track ARGS` as a user runs it, one torch thread, output captured."""
    return subprocess.run(
        [sys.executable, "run.py", "track", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
