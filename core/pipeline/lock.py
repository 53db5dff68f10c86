"""One `track` run per output folder (per shard): a lock file holding the owner's pid and host.

Without it, a second run's start-up removes the first run's in-progress partial files and both
rewrite summary.json. The lock is a file created with O_EXCL, so two runs cannot both take it; a
lock whose process is gone (same host, pid no longer alive) is stale and taken over. Shards of one
torchrun job write to the same folder, so each shard has its own lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from core.errors import UserError


def lock_path(out_dir: Path, shard: tuple[int, int]) -> Path:
    index, count = shard
    return Path(out_dir) / (".track.lock" if count == 1 else f".track.rank{index}.lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class OutputLock:
    """`with OutputLock(out_dir, shard):` holds the folder for this run; UserError when another holds it."""

    def __init__(self, out_dir: Path, shard: tuple[int, int] = (0, 1)):
        self.path = lock_path(out_dir, shard)
        self.owner = {"pid": os.getpid(), "host": socket.gethostname()}
        self.held = False

    def acquire(self) -> None:
        for _ in range(2):  # the second try follows the removal of a stale lock
            try:
                handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._stale(holder):
                    self._remove_stale(holder)
                    continue
                who = f"pid {holder['pid']} on {holder['host']}" if holder else "another run"
                raise UserError(
                    f"{self.path.parent} is in use by another track run ({who}); wait for it to end or "
                    f"choose another --out (remove {self.path.name} if that run is gone)"
                ) from None
            except OSError as error:
                raise UserError(f"cannot lock output folder {self.path.parent}: {error.strerror}") from None
            with os.fdopen(handle, "w") as file:
                json.dump(self.owner, file)
            self.held = True
            return
        raise UserError(f"cannot lock output folder {self.path.parent}: another run keeps taking it")

    def _remove_stale(self, holder: dict) -> None:
        """Take over the lock of a run that is gone; one line when it is another user's to remove."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise UserError(
                f"{self.path} is left by pid {holder['pid']}, which has ended, but this user cannot "
                f"remove it ({error.strerror}): remove it as its owner, or choose another --out"
            ) from None

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
            return {"pid": int(holder["pid"]), "host": str(holder["host"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # being written right now, or not ours: treat as held

    def _stale(self, holder: dict) -> bool:
        return holder["host"] == self.owner["host"] and not _alive(holder["pid"])

    def release(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
