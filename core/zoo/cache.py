"""Where downloaded weights live and how a file proves it is the one the registry names.

Layout: `<cache>/<entry name>/<file name>` plus `<file name>.sha256` (the full digest, recorded when
the file entered the cache). The cache is `$POSE_WEIGHTS_DIR`, else `$POSE_CACHE_DIR/weights`, else
`$XDG_CACHE_HOME/attention-hrnet-pose/weights` (`~/.cache/…` by default). torchvision detectors live in
torch hub's `checkpoints/` folder, where torchvision itself would put and look for them.

A file enters the cache only whole and verified: it is written as `<file>.partial`, checked, its
digest recorded, and only then renamed (core.zoo.download, `import_file`). An entry is cached when its
file exists and, for a file without a published digest, its recorded digest exists too. Every load
re-hashes the file and compares it with the published digest (full, or mmpose's 8-hex prefix) and the
recorded one, so a file damaged on disk is refused, never half-used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_text_atomic
from core.errors import UserError, one_line
from core.zoo.registry import ZooEntry, entries

YOLOX_OUTPUTS = ("dets", "labels")


def cache_dir() -> Path:
    """The weights cache folder (read from the environment on every call, so it can be moved)."""
    if os.environ.get("POSE_WEIGHTS_DIR"):
        return Path(os.environ["POSE_WEIGHTS_DIR"]).expanduser()
    if os.environ.get("POSE_CACHE_DIR"):
        return Path(os.environ["POSE_CACHE_DIR"]).expanduser() / "weights"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "attention-hrnet-pose" / "weights"


def entry_path(entry: ZooEntry) -> Path:
    """Where the entry's file is (or will be) cached."""
    if entry.format == "torchvision":
        import torch

        return Path(torch.hub.get_dir()) / "checkpoints" / entry.file_name
    return cache_dir() / entry.name / entry.file_name


def digest_path(entry: ZooEntry) -> Path:
    """The recorded SHA-256 of the cached file (always in our cache, also for torchvision's files)."""
    return cache_dir() / entry.name / f"{entry.file_name}.sha256"


def partial_path(entry: ZooEntry) -> Path:
    return entry_path(entry).with_name(entry.file_name + ".partial")


def is_cached(entry: ZooEntry) -> bool:
    if not entry_path(entry).is_file():
        return False
    return entry.has_published_digest or digest_path(entry).is_file()


def sha256_of(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def recorded_digest(entry: ZooEntry) -> str | None:
    try:
        text = digest_path(entry).read_text(encoding="utf-8").split()
    except OSError:
        return None
    return text[0].lower() if text else None


def digest_problem(entry: ZooEntry, digest: str) -> str | None:
    """Why `digest` is not the entry's published one; None when it matches (or nothing is published)."""
    if entry.sha256 and digest != entry.sha256.lower():
        return f"SHA-256 {digest[:16]}… differs from the published {entry.sha256[:16]}…"
    if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix.lower()):
        return f"SHA-256 starts {digest[:8]}, the file name publishes {entry.sha256_prefix}"
    return None


def check_structure(entry: ZooEntry, path: Path) -> None:
    """What can be checked of a file without a published digest: the zip opens and holds one ONNX
    graph that onnxruntime loads with an image input and the `dets`/`labels` outputs."""
    if entry.format == "yolox-onnx-zip":
        model_bytes, member = read_onnx_from_zip(path)
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise UserError(f"{path}: {member} is not a loadable ONNX model ({one_line(error)})") from None
        inputs = session.get_inputs()
        outputs = {o.name for o in session.get_outputs()}
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise UserError(f"{path}: expected one N×3×H×W input, found {[i.shape for i in inputs]}")
        if not set(YOLOX_OUTPUTS) <= outputs:
            raise UserError(f"{path}: expected outputs dets and labels, found {', '.join(sorted(outputs))}")


def read_onnx_from_zip(path: Path) -> tuple[bytes, str]:
    """(the ONNX graph's bytes, its member name) from an mmdeploy SDK zip (end2end.onnx preferred)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.endswith(".onnx")]
            if not members:
                raise UserError(f"{path} holds no .onnx file")
            preferred = [n for n in members if n.rsplit("/", 1)[-1] == "end2end.onnx"]
            if len(preferred) != 1 and len(members) != 1:
                raise UserError(f"{path} holds several ONNX files and no single end2end.onnx")
            member = (preferred or members)[0]
            return archive.read(member), member
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise UserError(f"{path} is not a readable zip archive ({one_line(error)})") from None


def verify_file(entry: ZooEntry, path: Path, recorded: str | None = None) -> str:
    """The file's SHA-256 once it is proven to be the entry's file; UserError otherwise."""
    digest = sha256_of(path)
    problem = digest_problem(entry, digest)
    if problem is None and recorded is not None and digest != recorded:
        problem = f"SHA-256 {digest[:16]}… differs from the {recorded[:16]}… recorded when it was downloaded"
    if problem:
        raise UserError(f"{path} is not {entry.name}'s file: {problem}")
    if not entry.has_published_digest:
        check_structure(entry, path)
    return digest


def install(entry: ZooEntry, staged: Path) -> Path:
    """Put a verified staged file (beside its final place) into the cache: digest first, then the
    rename that makes it an entry, so an interruption never leaves a file that looks finished."""
    digest = verify_file(entry, staged)
    write_text_atomic(digest_path(entry), f"{digest}  {entry.file_name}\n")
    final = entry_path(entry)
    os.replace(staged, final)
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


def import_file(entry: ZooEntry, source: Path) -> Path:
    """A file the user fetched themselves -> the cache, verified like a download."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise UserError(f"file not found: {source}")
    staged = partial_path(entry)
    staged.parent.mkdir(parents=True, exist_ok=True)
    digest_path(entry).parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(source, staged)
        return install(entry, staged)
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()


def remove(entry: ZooEntry) -> list[Path]:
    """Delete the entry's file, recorded digest and any partial download; the paths removed."""
    removed = []
    for path in (entry_path(entry), digest_path(entry), partial_path(entry)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    prune_empty(entry)
    return removed


def prune_empty(entry: ZooEntry) -> None:
    """Remove the entry's cache folder when nothing is left in it."""
    with contextlib.suppress(OSError):
        digest_path(entry).parent.rmdir()  # fails (and is left) unless empty


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
