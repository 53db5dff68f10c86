"""Atomic output files: write a hidden temporary file beside the target, then os.replace it into place.

Readers never see half a file, and a crash leaves the previous version (or nothing) under the final
name. Every temporary file is named `.NAME.partial-XXXX[SUFFIX]`, so what a killed process leaves
behind is recognisable (core.video.formats.partial_files, which `--resume` cleans up, relies on it).
atomic_path() serves writers that write a whole file at once; streaming writers (core.video.sinks) keep
the temp_beside() file open for a whole video and rename it themselves. An OS error while writing
(a full disk, a read-only folder, a folder in the way) becomes one UserError line naming the file;
check_writable() / check_writable_folder() find most of them before a command starts its work.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from core.errors import UserError

# Read once: os.umask can only be read by setting it, and a moment of umask 0 would race other threads.
_UMASK = os.umask(0)
os.umask(_UMASK)


NAME_MAX = 255  # bytes in a file name (Linux, macOS)
_RANDOM = 8  # characters mkstemp adds
_SUFFIX_ROOM = 16  # bytes kept for a temporary's suffix (.mp4, .onnx, .pt2)


def temp_prefix(name: str) -> str:
    """`.NAME.partial-`, the start of every temporary file of the output `name`, whatever its suffix.
    A name too long to carry these extra bytes within NAME_MAX (a 240-character video name) is cut
    and marked with a hash of the whole name, so the prefix stays unique and the same from run to
    run (core.video.formats.partial_files finds a killed run's leftovers by it)."""
    return f".{fit_name(name, NAME_MAX - len('.') - len('.partial-') - _RANDOM - _SUFFIX_ROOM)}.partial-"


def fit_name(name: str, limit: int) -> str:
    """`name` when it takes at most `limit` bytes, else its start and `~` and a hash of the whole
    name within `limit`: unique, and the same from run to run."""
    if len(os.fsencode(name)) <= limit:
        return name
    mark = "~" + hashlib.sha1(os.fsencode(name)).hexdigest()[:8]
    cut = name
    while cut and len(os.fsencode(cut + mark)) > limit:
        cut = cut[:-1]
    return cut + mark


def temp_beside(path: str | Path, suffix: str = "") -> Path:
    """Create an empty `.NAME.partial-XXXX{suffix}` beside `path` (same filesystem, so the final
    os.replace is atomic), creating the folder if needed.

    The file gets the permissions a plain open() would give it: mkstemp's are owner-only, and an
    output must be as readable as any other file the user writes. `suffix` is for writers that pick
    their format from the name (OpenCV's video container, ONNX, torch.export's .pt2).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(os.fsencode(suffix)) > _SUFFIX_ROOM:
        raise ValueError(f"temporary suffix {suffix!r} longer than {_SUFFIX_ROOM} bytes")
    handle, name = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=suffix, dir=path.parent)
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
    stream = _check_kind(path)
    try:
        tmp = _temp_elsewhere(suffix) if stream else temp_beside(path, suffix)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        yield tmp
        if stream:
            with open(tmp, "rb") as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target)
        else:
            os.replace(tmp, path)
    except OSError as error:
        raise write_error(path, error) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _temp_elsewhere(suffix: str) -> Path:
    """A temporary file in the system's temporary folder, for a target that is a device (no file
    may be created beside /dev/null)."""
    handle, name = tempfile.mkstemp(prefix=".output.partial-", suffix=suffix)
    os.close(handle)
    return Path(name)


def special_kind(path: str | Path) -> str | None:
    """What `path` is when it exists and is not a regular file or folder ("character device", …)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    kinds = {
        stat.S_ISCHR: "character device",
        stat.S_ISFIFO: "FIFO",
        stat.S_ISBLK: "block device",
        stat.S_ISSOCK: "socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), None)


def _check_kind(path: Path) -> bool:
    """True when `path` is a stream to write through (a character device or a FIFO); UserError when
    it is another kind of special file; False for a regular file or a new name."""
    kind = special_kind(path)
    if kind in ("character device", "FIFO"):
        return True
    if kind is not None:
        raise UserError(f"cannot write {path}: it is a {kind}, not a regular file")
    return False


def write_error(path: str | Path, error: OSError) -> UserError:
    """`cannot write PATH: REASON`, the one line every failed output write becomes."""
    return UserError(f"cannot write {path}: {error.strerror or error}")


def check_writable_folder(folder: str | Path) -> None:
    """UserError unless `folder` is, or can be created as, a folder this process may write into.

    Creates nothing: a command checks its outputs before its work and makes them only after. A
    name the system refuses (a path of 4096 characters, a folder it may not look into) is one line
    too."""
    folder = Path(folder)
    try:
        probe = folder
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            what = "is a file" if probe == folder else f"lies under the file {shorter(probe)}"
            raise UserError(f"cannot write to output folder {shorter(folder)}: it {what}")
    except OSError as error:
        raise UserError(
            f"cannot write to output folder {shorter(folder)}: {error.strerror or error}"
        ) from None
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to output folder {shorter(folder)}: {shorter(probe)} is not writable")


def shorter(path: str | Path, limit: int = 120) -> str:
    """A path fit for one line: its start and end around "…" when it is longer than `limit`."""
    text = str(path)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}…{text[-(limit // 2) :]}"


def check_writable(path: str | Path, inputs: Iterable[str | Path | None] = ()) -> None:
    """UserError unless the file `path` could be written now (its folder writable, no folder in the
    way, a device writable) and is none of `inputs`: the files the command reads, which writing the
    output would destroy (`--out` = the checkpoint or the detections file). Same file means same
    inode, so a symlink or hard link to an input counts too."""
    path = Path(path)
    try:
        folder = path.is_dir()
    except OSError as error:  # a name too long, a folder it may not look into
        raise UserError(f"cannot write {shorter(path)}: {error.strerror or error}") from None
    if folder:
        raise UserError(f"cannot write {path}: it is a folder")
    check_not_input(path, inputs)
    if _check_kind(path):
        if not os.access(path, os.W_OK):
            raise UserError(f"cannot write {path}: permission denied")
        return
    check_writable_folder(path.parent)


def check_not_input(path: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """UserError when the output `path` is one of `inputs` (the same file, under any name)."""
    path = Path(path)
    for item in inputs:
        if item is not None and _same_file(path, Path(item)):
            which = "one of the inputs" if Path(item) == path else f"the input {item}"
            raise UserError(
                f"cannot write {path}: it is {which}, which would be destroyed; choose another output"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet), or a name the OS refuses
        return False


def write_text_atomic(path: str | Path, text: str) -> Path:
    """`path` holds exactly `text` (UTF-8), or its previous content if writing fails."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
