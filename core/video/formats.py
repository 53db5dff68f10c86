"""Output formats by name: the sink class that writes each (its `SUFFIX` ends the file name).

Adding a format: a sink class (core.video.sinks.Sink: `SUFFIX`, `for_clip`, write, close, abort)
and one row in `SINKS`; `run.py track --formats`, its help, `--resume` and the summary follow.
"""

import glob
from collections.abc import Iterable, Mapping
from pathlib import Path

from core.atomic import temp_prefix
from core.errors import UserError
from core.video.sinks import Clip, CocoSink, CsvSink, JsonlSink, MotSink, Sink, VideoSink, abort_all

# Name → sink, in the order outputs are listed and opened.
SINKS: dict[str, type[Sink]] = {
    "video": VideoSink,
    "jsonl": JsonlSink,
    "csv": CsvSink,
    "coco": CocoSink,
    "mot": MotSink,
}
FORMATS = tuple(SINKS)


def check_formats(formats: Iterable[str]) -> None:
    unknown = sorted(set(formats) - set(SINKS))
    if unknown:
        raise UserError(f"unknown output format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")


def output_paths(out_dir: Path, stem: str, formats: Iterable[str]) -> dict[str, Path]:
    """Final file of each format: stem.mp4, stem.jsonl, stem.csv, stem.coco.json, stem.mot.txt."""
    formats = set(formats)
    check_formats(formats)
    return {name: Path(out_dir) / f"{stem}{sink.SUFFIX}" for name, sink in SINKS.items() if name in formats}


def partial_files(out_dir: Path, stem: str) -> list[Path]:
    """Temporary files left by killed runs for this stem (safe to delete when no run is writing it):
    those whose names start with the temporary prefix of one of the stem's outputs."""
    found: set[Path] = set()
    for path in output_paths(out_dir, stem, FORMATS).values():
        found.update(Path(out_dir).glob(glob.escape(temp_prefix(path.name)) + "*"))
    return sorted(found)


def open_sinks(
    out_dir: Path,
    stem: str,
    formats: Iterable[str],
    fps: float,
    size: tuple[int, int],
    *,
    header: dict | None = None,
    image_ids: Mapping[int, int] | None = None,
) -> list[Sink]:
    """Open one sink per requested format; if any fails to open, the others are aborted first."""
    clip = Clip(fps, size, header, image_ids)
    sinks: list[Sink] = []
    try:
        for name, path in output_paths(out_dir, stem, formats).items():
            sinks.append(SINKS[name].for_clip(path, clip))
    except BaseException:
        abort_all(sinks)
        raise
    return sinks
