"""Where downloaded weights live and how a file proves it is the one the registry names.

Layout: `<cache>/<entry name>/<file name>` plus `<file name>.sha256` (the full digest, recorded when
the file entered the cache), and `<cache>/.locks/<entry name>.lock` (core.zoo.lock: one writer per
entry). The cache is `$POSE_WEIGHTS_DIR`, else `$POSE_CACHE_DIR/weights`, else
`$XDG_CACHE_HOME/attention-hrnet-pose/weights` (`~/.cache/…` by default). torchvision detectors live in
torch hub's `checkpoints/` folder, where torchvision itself would put and look for them.

A file enters the cache only whole and verified: it is written under a temporary name, checked, its
digest recorded, and only then renamed (core.zoo.download, `import_file`), all while holding the
entry's lock. An entry is cached when its file exists and, for a file without a published digest, its
recorded digest exists too. Every load re-hashes the file and compares it with the published digest
(full, or mmpose's 8-hex prefix) and the recorded one, so a file damaged on disk is refused, never
half-used. Reading takes no lock, so a read-only cache that holds its models serves them. Every
OS error (a read-only cache, a file where a folder should be) is one line naming the path and the
environment variable that moves the cache.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.atomic import temp_beside, write_text_atomic
from core.errors import UserError, one_line
from core.zoo.lock import Busy, exclusive
from core.zoo.registry import ZooEntry, entries

YOLOX_OUTPUTS = ("dets", "labels")
# The largest ONNX graph read from a detector zip. The real ones are < 100 MB; a zip that unpacks to
# more is refused before it can exhaust memory (a 5 MB zip can unpack to 5 GB).
MAX_GRAPH_BYTES = 256 << 20
_WEB_PAGE_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<!--")


def cache_dir() -> Path:
    """The weights cache folder (read from the environment on every call, so it can be moved)."""
    if os.environ.get("POSE_WEIGHTS_DIR"):
        return Path(os.environ["POSE_WEIGHTS_DIR"]).expanduser()
    if os.environ.get("POSE_CACHE_DIR"):
        return Path(os.environ["POSE_CACHE_DIR"]).expanduser() / "weights"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "attention-hrnet-pose" / "weights"


def torch_hub_dir() -> Path:
    """torch.hub.get_dir(), without importing torch (seconds) when it is not loaded yet: the same
    `$TORCH_HOME/hub`, `$XDG_CACHE_HOME/torch/hub`, `~/.cache/torch/hub` rule torch applies."""
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir())
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(os.environ.get("TORCH_HOME") or os.path.join(base, "torch")).expanduser() / "hub"


def entry_path(entry: ZooEntry) -> Path:
    """Where the entry's file is (or will be) cached."""
    if entry.format == "torchvision":
        return torch_hub_dir() / "checkpoints" / entry.file_name
    return cache_dir() / entry.name / entry.file_name


def digest_path(entry: ZooEntry) -> Path:
    """The recorded SHA-256 of the cached file (always in our cache, also for torchvision's files)."""
    return cache_dir() / entry.name / f"{entry.file_name}.sha256"


def partial_path(entry: ZooEntry) -> Path:
    """An unfinished download, kept so that the next attempt resumes it."""
    return entry_path(entry).with_name(entry.file_name + ".partial")


def lock_path(entry: ZooEntry) -> Path:
    return cache_dir() / ".locks" / f"{entry.name}.lock"


def _is_file(path: Path) -> bool:
    """Path.is_file(), with a folder that cannot be searched counted as holding nothing."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_cached(entry: ZooEntry) -> bool:
    if not _is_file(entry_path(entry)):
        return False
    return entry.has_published_digest or _is_file(digest_path(entry))


def sha256_of(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def recorded_digest(entry: ZooEntry) -> str | None:
    try:
        text = digest_path(entry).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return None
    return text[0].lower() if text else None


def digest_problem(entry: ZooEntry, digest: str) -> str | None:
    """Why `digest` is not the entry's published one; None when it matches (or nothing is published)."""
    if entry.sha256 and digest != entry.sha256.lower():
        return f"SHA-256 {digest[:16]}… differs from the published {entry.sha256[:16]}…"
    if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix.lower()):
        return f"SHA-256 starts {digest[:8]}, the file name publishes {entry.sha256_prefix}"
    return None


def entry_with_digest(digest: str) -> ZooEntry | None:
    """The registry entry whose published digest `digest` matches (a file imported under the wrong name)."""
    return next((e for e in entries() if e.has_published_digest and digest_problem(e, digest) is None), None)


def is_web_page(path: Path) -> bool:
    """Whether the file starts like HTML: what a captive portal, a login page or a wrong URL returns
    instead of the file (weights and zips never start with `<`)."""
    try:
        with open(path, "rb") as file:
            head = file.read(1024)
    except OSError:
        return False
    return starts_like_web_page(head)


def starts_like_web_page(head: bytes) -> bool:
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith(_WEB_PAGE_STARTS) or (head.startswith(b"<") and b"<html" in head)


WEB_PAGE_CAUSE = "a captive portal, a proxy's login page or a wrong URL?"
WEB_PAGE = f"it is a web page (HTML), not the file: {WEB_PAGE_CAUSE}"


def check_structure(entry: ZooEntry, path: Path, shown_as: Path | None = None) -> None:
    """What can be checked of a file without a published digest: the zip opens and holds one ONNX
    graph that onnxruntime loads with an image input and the `dets`/`labels` outputs."""
    name = shown_as or path
    if entry.format == "yolox-onnx-zip":
        model_bytes, member = read_onnx_from_zip(path, shown_as)
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise UserError(f"{name}: {member} is not a loadable ONNX model ({one_line(error)})") from None
        inputs = session.get_inputs()
        outputs = {o.name for o in session.get_outputs()}
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise UserError(f"{name}: expected one N×3×H×W input, found {[i.shape for i in inputs]}")
        if not set(YOLOX_OUTPUTS) <= outputs:
            raise UserError(f"{name}: expected outputs dets and labels, found {', '.join(sorted(outputs))}")


def read_onnx_from_zip(path: Path, shown_as: Path | None = None) -> tuple[bytes, str]:
    """(the ONNX graph's bytes, its member name) from an mmdeploy SDK zip (end2end.onnx preferred);
    a member that unpacks to more than MAX_GRAPH_BYTES is refused without reading more than that."""
    name = shown_as or path
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.endswith(".onnx")]
            if not members:
                raise UserError(f"{name} holds no .onnx file")
            preferred = [n for n in members if n.rsplit("/", 1)[-1] == "end2end.onnx"]
            if len(preferred) != 1 and len(members) != 1:
                raise UserError(f"{name} holds several ONNX files and no single end2end.onnx")
            member = (preferred or members)[0]
            declared = archive.getinfo(member).file_size
            data = b""
            if declared <= MAX_GRAPH_BYTES:
                with archive.open(member) as stream:  # the header may lie: read no more than the cap
                    data = stream.read(MAX_GRAPH_BYTES + 1)
            if declared > MAX_GRAPH_BYTES or len(data) > MAX_GRAPH_BYTES:
                raise UserError(
                    f"{name}: {member} unpacks to more than {MAX_GRAPH_BYTES >> 20} MB, far more than any "
                    "detector graph (a zip bomb?); refused"
                )
            return data, member
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError) as error:
        if is_web_page(path):
            raise UserError(f"{name} is not a zip archive: {WEB_PAGE}") from None
        raise UserError(f"{name} is not a readable zip archive ({one_line(error)})") from None


def verify_file(
    entry: ZooEntry, path: Path, recorded: str | None = None, shown_as: Path | None = None
) -> str:
    """The file's SHA-256 once it is proven to be the entry's file; UserError otherwise. Messages name
    `shown_as` (the user's file, for a copy being imported) instead of `path`."""
    name = shown_as or path
    try:
        digest = sha256_of(path)
    except OSError as error:
        raise UserError(f"cannot read {name}: {error.strerror or error}") from None
    problem = digest_problem(entry, digest)
    if problem is None and recorded is not None and digest != recorded:
        problem = f"SHA-256 {digest[:16]}… differs from the {recorded[:16]}… recorded when it was downloaded"
    if problem and is_web_page(path):
        problem = WEB_PAGE
    elif problem and (other := entry_with_digest(digest)) is not None:
        problem += f": it is {other.name}'s file"
    if problem:
        raise UserError(f"{name} is not {entry.name}'s file: {problem}")
    if not entry.has_published_digest:
        check_structure(entry, path, shown_as)
    return digest


def install(entry: ZooEntry, staged: Path, shown_as: Path | None = None) -> Path:
    """Put a verified staged file (beside its final place) into the cache: digest first, then the
    rename that makes it an entry, so an interruption never leaves a file that looks finished. The
    caller holds the entry's lock."""
    digest = verify_file(entry, staged, shown_as=shown_as)
    final = entry_path(entry)
    try:
        digest_path(entry).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(digest_path(entry), f"{digest}  {entry.file_name}\n")
        os.replace(staged, final)
    except OSError as error:
        raise storage_error(error, f"write {entry.name} into the weights cache") from None
    if staged != partial_path(entry):
        discard(partial_path(entry))  # an older unfinished download of a file now cached
    return final


def cached_file(entry: ZooEntry) -> Path:
    """The cached file, re-verified; UserError naming the fix when it is damaged."""
    path = entry_path(entry)
    try:
        verify_file(entry, path, recorded_digest(entry))
    except UserError as error:
        fix = f"run `python run.py weights remove {entry.name}` and get it again"
        raise UserError(f"{error}; {fix}") from None
    return path


@contextlib.contextmanager
def entry_lock(
    entry: ZooEntry, action: str, waiting: Callable[[float], None] | None = None, wait: bool = True
) -> Iterator[bool]:
    """core.zoo.lock.exclusive on the entry's lock file (yields whether another process held it
    first), with every failure one line: `cannot ACTION: …`."""
    with contextlib.ExitStack() as stack:
        try:
            waited = stack.enter_context(exclusive(lock_path(entry), waiting, wait))
        except Busy:
            raise UserError(
                f"cannot {action}: another process is downloading it; try again when that has finished"
            ) from None
        except OSError as error:
            raise storage_error(error, action) from None
        yield waited


def import_file(entry: ZooEntry, source: Path) -> Path:
    """A file the user fetched themselves -> the cache, verified like a download; the user's file is
    only read, and a refused file leaves nothing behind (not even an empty entry folder)."""
    source = Path(source).expanduser()
    if not source.exists():
        raise UserError(f"file not found: {source}")
    if not source.is_file():
        raise UserError(f"{source} is not a file")
    if _same_file(source, partial_path(entry)):
        raise UserError(
            f"{source} is the unfinished download of {entry.name} in the cache; "
            f"`python run.py weights get {entry.name}` resumes it"
        )
    action = f"import {source} as {entry.name}"
    staged = None
    try:
        with entry_lock(entry, action):
            try:
                staged = temp_beside(entry_path(entry))
            except OSError as error:
                raise storage_error(error, action) from None
            _copy(source, staged, action)
            return install(entry, staged, shown_as=source)
    finally:
        if staged is not None:
            discard(staged)
        prune_empty(entry)


def _copy(source: Path, target: Path, action: str) -> None:
    try:
        reader = source.open("rb")
    except OSError as error:
        raise UserError(f"cannot read {source}: {error.strerror or error}") from None
    with reader:
        try:
            with open(target, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
        except OSError as error:
            if error.filename is None:  # a failed write names no file: the cache's disk is the problem
                error.filename = str(target)
            raise storage_error(error, action) from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def remove(entry: ZooEntry) -> list[Path]:
    """Delete the entry's file, recorded digest and any partial download; the paths removed. A
    download in progress is not cut from under its process: that is one line instead."""
    action = f"remove {entry.name} from the weights cache"
    present = [p for p in (entry_path(entry), digest_path(entry), partial_path(entry)) if _present(p, action)]
    if not present:
        return []
    removed = []
    with entry_lock(entry, action, wait=False):
        for path in present:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                raise storage_error(error, action) from None
            removed.append(path)
    prune_empty(entry)
    return removed


def _present(path: Path, action: str) -> bool:
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as error:
        raise storage_error(error, action) from None
    return True


def discard(path: Path) -> None:
    """Delete a temporary file if it is there and can be deleted (clean-up never hides the real error)."""
    with contextlib.suppress(OSError):
        path.unlink()


def prune_empty(entry: ZooEntry) -> None:
    """Remove the entry's cache folder when nothing is left in it."""
    with contextlib.suppress(OSError):
        digest_path(entry).parent.rmdir()  # fails (and is left) unless empty


def storage_error(error: OSError, action: str) -> UserError:
    """`cannot ACTION: WHERE: WHY; HOW TO MOVE THE CACHE` for an OS error inside the cache (or torch
    hub's folder): the path is the first one that exists on the way to the failing one, so a file
    where a folder should be is named as such."""
    path = Path(error.filename) if error.filename else cache_dir()
    blocker = path
    while not os.path.lexists(blocker) and blocker.parent != blocker:
        blocker = blocker.parent
    hub = torch_hub_dir()
    variable = "TORCH_HOME" if path == hub or hub in path.parents else "POSE_WEIGHTS_DIR"
    if os.path.lexists(blocker) and not blocker.is_dir() and (blocker != path or error.errno == errno.EEXIST):
        problem = (
            f"{blocker} is a file where a folder should be; move it away or set {variable} to another folder"
        )
    else:
        problem = f"{blocker}: {error.strerror or error}; set {variable} to a writable folder to cache there"
    return UserError(f"cannot {action}: {problem}")


@dataclass(frozen=True)
class EntryState:
    entry: ZooEntry
    cached: bool
    path: Path

    def text(self) -> str:
        return "cached" if self.cached else f"download {self.entry.size_text()}"


def state(entry: ZooEntry) -> EntryState:
    return EntryState(entry, is_cached(entry), entry_path(entry))


def default_entry(kind: str) -> ZooEntry | None:
    """The first cached entry of `kind` in the registry's order of preference, or None."""
    return next((entry for entry in entries(kind) if is_cached(entry)), None)
