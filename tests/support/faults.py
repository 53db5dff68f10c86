"""What the fault tests of issue 22 share: running a command as a user does (in this process through
run.py's entry, or as a subprocess where signals, users or mounts matter), the one promise every
failure keeps (its exit code, exactly one `error:` line, no traceback), tiny inputs made on the spot,
and proof that inputs are unchanged."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import run
from tests.support.helpers import ROOT


@dataclass
class Done:
    """How a command ended: its exit code and what it printed."""

    code: int
    out: str
    err: str


def command(capsys, *argv) -> Done:
    """`python run.py ARGV` in this process (run.py's own entry: signal handlers, error lines)."""
    capsys.readouterr()
    code = run.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Done(code, captured.out, captured.err)


def subprocess_command(*argv, timeout: float = 180, env: dict | None = None, prefix=()) -> Done:
    """`python run.py ARGV` as a child process (`prefix`: setpriv, unshare …), one torch thread."""
    done = subprocess.run(
        [*prefix, sys.executable, "run.py", *map(str, argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )
    return Done(done.returncode, done.stdout, done.stderr)


def one_error(done: Done, *words: str, code: int = 2) -> str:
    """The one `error:` line of a failed command, holding every one of `words`."""
    errors = [line for line in done.err.splitlines() if line.startswith("error:")]
    assert done.code == code, done.err
    assert len(errors) == 1, done.err
    assert "Traceback" not in done.err + done.out, done.err
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def succeeded(done: Done) -> Done:
    assert done.code == 0, done.err
    assert "Traceback" not in done.err and "error:" not in done.err, done.err
    return done


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    """Every name under `folder` (relative), hidden temporaries included."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def write_video(path: Path, size=(64, 48), frames: int = 3, fourcc: str = "mp4v", fps: float = 25.0) -> Path:
    """A short clip of noise (OpenCV picks the container from the name)."""
    rng = np.random.default_rng(0)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), path
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    writer.release()
    return path


TINY_TRACK = ["--width", "8", "--input-size", "64x96", "--no-progress", "--checkpoint", "none"]
TINY_TRACK += ["--detector", "hog", "--no-report"]


def start_command(*argv) -> subprocess.Popen:
    """`python run.py ARGV` started as a child process, for a test that signals it mid-way."""
    return subprocess.Popen(
        [sys.executable, "run.py", *map(str, argv)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait_for_partial(process: subprocess.Popen, folder: Path, timeout: float = 120) -> None:
    """Until a `.NAME.partial-*` file is in `folder`: the command is writing its output."""
    deadline = time.monotonic() + timeout
    while not list(Path(folder).glob(".*.partial-*")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no output was started in time"
        time.sleep(0.02)


OTHER_USER = 65533  # owns what the test's command may not touch: neither 65534 nor root without DAC


def owned_by_another_user(path: Path, mode: int) -> Path:
    """`path` given to OTHER_USER with `mode`, so that its mode bits bind whichever way
    tests.support.sandbox.unprivileged runs the command (as user 65534, or as root without the
    capabilities that bypass file modes: root would still own a root-owned file)."""
    os.chown(path, OTHER_USER, OTHER_USER)
    os.chmod(path, mode)
    return path
