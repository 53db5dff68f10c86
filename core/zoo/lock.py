"""An exclusive lock between processes on a lock file: one writer per cache entry (core.zoo.cache).

An advisory `flock`, so the kernel releases it when its holder exits, however it exits: a killed
download never leaves a stale lock. Lock files are never deleted: deleting one while another process
waits on it would let a third process lock a new file of the same name and write beside the second.
The file is opened read-only (flock needs no more), so another user's lock file in a shared cache
locks as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

POLL_SECONDS = 0.25  # how often a waiting process tries again (and reports, through `waiting`)


class Busy(Exception):
    """Another process holds the lock and the caller chose not to wait."""


@contextlib.contextmanager
def exclusive(
    path: Path, waiting: Callable[[float], None] | None = None, wait: bool = True
) -> Iterator[bool]:
    """Hold the lock on `path` (created with its folder if needed; OSError when it cannot be);
    yields whether another process held it first. `waiting(seconds so far)` is called while waiting;
    with `wait=False` a held lock raises Busy instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        waited = not _try_lock(handle)
        if waited and not wait:
            raise Busy(str(path))
        started = time.monotonic()
        while waited and not _try_lock(handle):
            if waiting is not None:
                waiting(time.monotonic() - started)
            time.sleep(POLL_SECONDS)
        yield waited
    finally:
        os.close(handle)  # releases the lock


def _try_lock(handle: int) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
