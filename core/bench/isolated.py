"""Run a function in a child process with a hard time limit: a step that raises, crashes the
interpreter or hangs inside a C call (a CUDA kernel, a TensorRT build, a deadlocked driver) cannot
take the caller down or keep it waiting past its limit.

Children are forked from a forkserver: a clean interpreter started once, with the heavy imports
preloaded, that never touches CUDA itself, so each child starts in a fraction of a second and may
initialise CUDA afresh (a child forked from a process that had, could not). Each child leads its own
process group, so a timeout kills it together with anything it started (inductor's compile workers,
ffmpeg). A child hands back a JSON-able value through a file; its stdout and stderr go to a log.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_text_atomic
from core.errors import one_line

PRELOAD = ["torch", "cv2", "numpy", "core.bench.gpu_steps"]


@dataclass
class Outcome:
    """How a child ended: "done" (with `value`), "failed" (raised or died) or "timeout"."""

    status: str
    value: object = None
    error: str = ""
    seconds: float = 0.0


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")  # Windows and macOS without forkserver: slower, as safe


def _child(function: Callable, args: tuple, result: str, log: str) -> None:
    if hasattr(os, "setsid"):
        os.setsid()  # its own process group: a timeout kills what it started too
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    try:
        value = function(*args)
        write_text_atomic(Path(result), json.dumps({"value": value}, default=str))
        code = 0
    except BaseException as error:  # everything a step can raise becomes its failed row
        traceback.print_exc()
        write_text_atomic(Path(result), json.dumps({"error": one_line(error) or type(error).__name__}))
        code = 1
    with contextlib.suppress(Exception):
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)  # no atexit handlers, no interpreter teardown that could hang


def _kill(process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, AttributeError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.kill()
    process.join(10)


def run_isolated(function: Callable, args: tuple, limit_s: float, log: Path) -> Outcome:
    """`function(*args)` in a child process, killed after `limit_s` seconds; its output in `log`."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    result = log.with_suffix(".result.json")
    result.unlink(missing_ok=True)
    start = time.monotonic()
    process = _context().Process(target=_child, args=(function, args, str(result), str(log)), daemon=True)
    process.start()
    process.join(max(0.0, limit_s))
    seconds = time.monotonic() - start
    if process.is_alive():
        _kill(process)
        return Outcome("timeout", error=f"timed out after {limit_s:.0f} s (killed)", seconds=seconds)
    data = json.loads(result.read_text()) if result.is_file() else {}
    if process.exitcode == 0 and "value" in data:
        return Outcome("done", data["value"], seconds=seconds)
    error = data.get("error") or f"the process died (exit code {process.exitcode}); see {log.name}"
    return Outcome("failed", error=error, seconds=seconds)
