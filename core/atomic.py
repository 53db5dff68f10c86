"""Atomic output files: write a hidden temporary file beside the target, then os.replace it into place.

Readers never see half a file, and a crash leaves the previous version (or nothing) under the final
name. Every temporary file is named `.NAME.partial-XXXX[SUFFIX]`, so what a killed process leaves
behind is recognisable (core.video.sinks.partial_files, which `--resume` cleans up, relies on it).
atomic_path() serves writers that write a whole file at once; streaming writers (core.video.sinks) keep
the temp_beside() file open for a whole video and rename it themselves. An OS error while writing
(a full disk, a read-only folder, a folder in the way) becomes one UserError line naming the file;
check_writable() / check_writable_folder() find most of them before a command starts its work.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import UserError

# Read once: os.umask can only be read by setting it, and a moment of umask 0 would race other threads.
_UMASK = os.umask(0)
os.umask(_UMASK)


def temp_beside(path: str | Path, suffix: str = "") -> Path:
    """Create an empty `.NAME.partial-XXXX{suffix}` beside `path` (same filesystem, so the final
    os.replace is atomic), creating the folder if needed.

    The file gets the permissions a plain open() would give it: mkstemp's are owner-only, and an
    output must be as readable as any other file the user writes. `suffix` is for writers that pick
    their format from the name (OpenCV's video container, ONNX, torch.export's .pt2).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.partial-", suffix=suffix, dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on an exception it is removed.

    Readers never see half a file, and a failure leaves the previous version intact.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder")
    try:
        tmp = temp_beside(path, suffix)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        raise write_error(path, error) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_error(path: str | Path, error: OSError) -> UserError:
    """`cannot write PATH: REASON`, the one line every failed output write becomes."""
    return UserError(f"cannot write {path}: {error.strerror or error}")


def check_writable_folder(folder: str | Path) -> None:
    """UserError unless `folder` is, or can be created as, a folder this process may write into.

    Creates nothing: a command checks its outputs before its work and makes them only after."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == folder else f"lies under the file {probe}"
        raise UserError(f"cannot write to output folder {folder}: it {what}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to output folder {folder}: {probe} is not writable")


def check_writable(path: str | Path) -> None:
    """UserError unless the file `path` could be written now (its folder writable, no folder in the way)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder")
    check_writable_folder(path.parent)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """`path` holds exactly `text` (UTF-8), or its previous content if writing fails."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
