"""What a batch job works on: its inputs, their output names, this worker's shard, and whether an
input's outputs are complete already.

Every worker lists and sorts the inputs the same way, so `--shard i/n` (or torchrun's rank) picks a
disjoint share without any communication; atomic outputs make "all files exist" mean "done".
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.atomic import (
    NAME_MAX,
    check_writable,
    check_writable_folder,
    fit_name,
    shorter,
    special_kind,
)
from core.errors import UserError
from core.redact import redact_url
from core.video.capture import camera_index
from core.video.formats import FORMATS, SINKS
from core.video.sources import IMAGE_EXTENSIONS

__all__ = [
    "FORMATS",
    "Job",
    "check_no_overwrite",
    "check_out_dir",
    "distributed_env",
    "is_live_spec",
    "list_inputs",
    "outputs_complete",
    "parse_formats",
    "parse_shard",
    "shard_jobs",
]

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".m4v",
    ".webm",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".ts",
    ".mts",
    ".m2ts",
    ".3gp",
)

_GLOB_CHARS = "*?["
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One input of the batch: what open_source takes, and the stem its outputs are named after."""

    spec: str
    stem: str

    @property
    def display(self) -> str:
        return redact_url(self.spec)


def parse_formats(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        what = ", ".join(unknown) or repr(text)
        raise UserError(f"unknown output format {what}: choose from {','.join(FORMATS)}")
    return names


def parse_shard(text: str) -> tuple[int, int]:
    """'1/4' -> (1, 4): this worker takes every 4th input starting at the second (0-based index)."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise UserError(f"--shard must look like INDEX/COUNT (e.g. 0/4), got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise UserError(f"--shard {text}: the index must be 0 … COUNT-1 and COUNT at least 1")
    return index, count


def distributed_env() -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) when started by torchrun, else None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise UserError("RANK / WORLD_SIZE / LOCAL_RANK must be integers") from None
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"RANK={rank} does not fit WORLD_SIZE={world}")
    return rank, world, local


def list_inputs(specs: list[str], exclude: Path | None = None) -> list[Job]:
    """Expand sources into jobs, sorted by input so every worker sees the same order.

    A folder of videos or a glob matching videos gives one job per video; a folder or glob of images
    is one image-sequence job; URLs and camera indices pass through. A missing path is a UserError.
    A video reached twice (named twice, or through a symlink, or round a symlink loop under `**`) is
    one job. What a folder or glob finds under `exclude` (the output folder) is left out: a rerun
    must not take the previous run's annotated videos for new inputs.
    """
    found: dict[str, None] = {}
    seen: set[str] = set()
    unnamed: list[str] = []
    for spec in specs:
        for item in _expand(spec, exclude):
            if not _utf8(item):
                unnamed.append(item)
                continue
            identity = item if "://" in item or item.isdigit() else os.path.realpath(item)
            if identity not in seen:
                seen.add(identity)
                found.setdefault(item, None)
    for item in unnamed:
        log.warning("skipping %s: its name is not valid UTF-8 (rename it to track it)", shown(item))
    if not found and unnamed:
        raise UserError(f"no inputs with a valid UTF-8 name: rename {shown(unnamed[0])}")
    if not found:
        raise UserError("no inputs: give --source (a video, folder, glob, camera index or URL)")
    specs_sorted = sorted(found)
    return [Job(spec, stem) for spec, stem in zip(specs_sorted, _stems(specs_sorted), strict=True)]


def _utf8(name: str) -> bool:
    """False for a file name whose bytes are not UTF-8 (Python keeps them as lone surrogates): OpenCV
    crashes the process on such a name (segfault), and no output, log or summary could name it."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(name: str) -> str:
    """A file name fit to print, undecodable bytes as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _outside(paths: list[Path], exclude: Path | None) -> list[Path]:
    """`paths` that do not lie under the folder `exclude`."""
    if exclude is None:
        return paths
    folder = Path(os.path.realpath(exclude))
    return [p for p in paths if folder not in Path(os.path.realpath(p)).parents]


def _expand(spec: str, exclude: Path | None = None) -> list[str]:
    try:
        return _expand_path(spec, exclude)
    except OSError as error:  # a folder this user may not read or look into, a name too long
        raise UserError(f"cannot read {shorter(str(spec).strip())}: {error.strerror or error}") from None


def _expand_path(spec: str, exclude: Path | None) -> list[str]:
    text = str(spec).strip()
    if not text:
        raise UserError("empty --source")
    if text.isdigit():
        return [str(camera_index(text))]
    if "://" in text:
        return [text]
    path = Path(text).expanduser()
    if path.is_dir():
        files = _outside(sorted(p for p in path.iterdir() if p.is_file()), exclude)
        videos = [str(p) for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
        if videos:
            return videos
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in files):
            return [str(path)]
        raise UserError(f"no videos or images in folder {path}")
    if path.is_file():
        return [str(path)]
    kind = special_kind(path)
    if kind is not None:  # a FIFO, /dev/zero, /dev/urandom: there, but no video
        raise UserError(f"not a regular video file: {path} is a {kind}")
    if any(ch in text for ch in _GLOB_CHARS):
        matches = _outside(sorted(Path(p) for p in glob.glob(str(path), recursive=True)), exclude)
        videos = [str(p) for p in matches if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
        if videos:
            return videos
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in matches):
            return [text]
        raise UserError(f"glob {text!r} matches no videos or images")
    raise UserError(f"source not found: {text}")


def _stem_of(spec: str, shared: frozenset[Path] = frozenset()) -> str:
    if spec.isdigit():
        return f"camera{spec}"
    if "://" in spec:
        rest = redact_url(spec).split("://", 1)[1].replace("***@", "")
        return re.sub(r"[^A-Za-z0-9._-]+", "_", rest).strip("_") or "stream"
    path = Path(spec)
    if path.is_file():  # `clip[1].mp4` is a file name, not a glob
        if path in shared:  # clip.mp4 beside clip.mkv: clip_mp4 and clip_mkv
            return f"{path.stem}_{path.suffix.lstrip('.')}"
        return path.stem
    if any(ch in spec for ch in _GLOB_CHARS):
        return re.sub(r"[^A-Za-z0-9._-]+", "_", str(path.parent.name or "images")).strip("_") or "images"
    return path.name


def _sharing_a_stem(specs: list[str]) -> frozenset[Path]:
    """The input files that another video in the same folder shares a stem with (clip.mp4 and
    clip.mkv). Judged by the folder, not by the inputs of this run, so a video keeps its output
    name from run to run (`--resume` of one of the two must not find the other's outputs complete)."""
    files = [Path(spec) for spec in specs if "://" not in spec and not spec.isdigit()]
    shared = set()
    for folder in {path.parent for path in files}:
        try:
            names = [Path(entry.name) for entry in os.scandir(folder)]
        except OSError:
            continue
        stems = Counter(name.stem for name in names if name.suffix.lower() in VIDEO_EXTENSIONS)
        shared |= {folder / name for name in names if stems[name.stem] > 1}
    return frozenset(path for path in files if path in shared)


# Bytes an output stem may take: NAME_MAX less the longest suffix (.coco.json) and a counter (-2), so
# every output name fits in one file name; a stream's also leaves room for a recording's time stamp.
MAX_STEM = NAME_MAX - max(len(sink.SUFFIX) for sink in SINKS.values()) - 8
STAMP = len("_20250101-120000")


def _stems(specs: list[str]) -> list[str]:
    """Output names: the input's stem; inputs that share one get their parent folder as a prefix,
    then a counter (deterministic, because `specs` is sorted and the same for every worker)."""
    shared = _sharing_a_stem(specs)
    original = [_stem_of(spec, shared) for spec in specs]
    stems = list(original)
    for i, stem in enumerate(original):
        if original.count(stem) > 1 and "://" not in specs[i] and not specs[i].isdigit():
            parent = Path(specs[i]).resolve().parent.name
            stems[i] = f"{parent}_{stem}" if parent else stem
    limits = [MAX_STEM - STAMP if "://" in spec or spec.isdigit() else MAX_STEM for spec in specs]
    stems = [fit_name(stem, limit) for stem, limit in zip(stems, limits, strict=True)]  # stable for --resume
    seen: dict[str, int] = {}
    unique = []
    for stem in stems:
        seen[stem] = seen.get(stem, 0) + 1
        unique.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return unique


def shard_jobs(jobs: list[Job], index: int, count: int) -> list[Job]:
    """Every count-th job starting at index: shards are disjoint and together cover the list."""
    return jobs[index::count]


def check_out_dir(out_dir: Path, summary_names: tuple[str, ...] = ("summary.json",)) -> None:
    """Prove now, before any model is loaded, that the output folder can be made and written, and
    that no folder sits where a summary goes. Creates nothing: the folder is made when the run starts."""
    check_writable_folder(out_dir)
    for name in summary_names:
        check_writable(Path(out_dir) / name)


def check_no_overwrite(jobs: list[Job], out_dir: Path, formats) -> None:
    """UserError when an output of the run would replace one of its inputs (`--out` = a source's folder)."""
    from core.video.formats import output_paths

    inputs = {}
    for job in jobs:
        path = Path(job.spec)
        if "://" not in job.spec and not job.spec.isdigit() and path.is_file():
            inputs[path.resolve()] = job
    if not inputs:
        return
    for job in jobs:
        for output in output_paths(out_dir, job.stem, set(formats)).values():
            victim = inputs.get(output.resolve())
            if victim is not None:
                raise UserError(
                    f"--out {out_dir} would overwrite the input {victim.spec} with the output of "
                    f"{job.display}: choose an output folder apart from the inputs"
                )


def outputs_complete(out_dir: Path, stem: str, formats) -> bool:
    """True when every requested output exists: atomic writes make existence mean complete."""
    from core.video.formats import output_paths

    return all(path.is_file() for path in output_paths(out_dir, stem, set(formats)).values())


def is_live_spec(spec: str) -> bool:
    """Cameras and live-stream URLs: they never end, so they run together, after the files."""
    from core.video.capture import LIVE_SCHEMES

    return spec.isdigit() or ("://" in spec and spec.split("://", 1)[0].lower() in LIVE_SCHEMES)
