"""One video's part of the report, built from its files and kept in `OUT/.report-cache/` so the page
can be put together again in moments: `track` builds each video's section as soon as the video is
done, and the page at the end (or on Ctrl-C) only joins the sections.

A cached section is used while its key matches: the report's version, the picture sizes, the
video's summary entry and the size and time of each file it was made from. A JSONL rewritten later
(a second tracking pass, a resumed run) changes the key and the section is made anew.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_text_atomic
from core.errors import one_line
from core.report.digest import VideoDigest, read_digest
from core.report.images import (
    Picture,
    colormap_stops,
    draw_record,
    heat_map,
    jpeg,
    read_frames,
    resize_to_width,
    spread,
)
from core.report.outputs import video_files

log = logging.getLogger(__name__)

CACHE_DIR = ".report-cache"
VERSION = 3  # of the section's content: a change here invalidates every cached section


@dataclass(frozen=True)
class Sizes:
    """Picture sizes: the more videos, the smaller the thumbnails, so the page stays small."""

    thumbs: int
    thumb_width: int
    heat_width: int
    quality: int  # JPEG


SIZES: tuple[tuple[int | float, Sizes], ...] = (  # up to this many videos -> sizes
    (20, Sizes(6, 320, 480, 82)),
    (200, Sizes(6, 180, 360, 66)),
    (math.inf, Sizes(4, 160, 320, 62)),
)


def sizes_for(videos: int) -> Sizes:
    return next(sizes for limit, sizes in SIZES if videos <= limit)


@dataclass
class Section:
    """A video's section: its row in the table of contents and its HTML (without the anchor)."""

    stem: str
    status: str
    row: dict  # status, duration_s, frames, people, identities, fps, error
    html: str


def section(out_dir: Path, video: dict, sizes: Sizes, use_cache: bool = True) -> Section:
    """The section of `video` (a summary entry), from the cache when it is still valid."""
    stem = str(video["stem"])
    files = video_files(out_dir, video) if video.get("status") in ("done", "skipped") else {}
    key = _key(video, files, sizes)
    path = cache_path(out_dir, stem)
    if use_cache:
        cached = _read_cache(path)
        if cached is not None and cached.get("key") == key:
            return Section(stem, cached["status"], cached["row"], cached["html"])
    try:
        built = _build(video, files, sizes)
    except Exception as error:  # a broken file costs its own section, never the report
        log.debug("section of %s", stem, exc_info=True)
        built = _failed_section(video, f"this section could not be made: {one_line(error)}")
    try:
        payload = {"key": key, "status": built.status, "row": built.row, "html": built.html}
        write_text_atomic(path, json.dumps(payload))
    except Exception as error:  # a read-only folder: the report is still written where it can be
        log.info("cannot cache the report section of %s: %s", stem, one_line(error))
    return built


def cache_path(out_dir: Path, stem: str) -> Path:
    return Path(out_dir) / CACHE_DIR / f"{stem}.json"


def _key(video: dict, files: dict[str, Path], sizes: Sizes) -> str:
    stats = {}
    for fmt, path in sorted(files.items()):
        stat = path.stat()
        stats[fmt] = [stat.st_size, stat.st_mtime_ns]
    text = json.dumps([VERSION, sizes.__dict__, video, stats], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cache(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"key", "status", "row", "html"} <= data.keys() else None


# ---------------------------------------------------------------------------------------- building
def _build(video: dict, files: dict[str, Path], sizes: Sizes) -> Section:
    status = str(video.get("status"))
    if status not in ("done", "skipped"):
        return _failed_section(video, str(video.get("error") or status))
    digest = None
    frames = video.get("frames")
    positions = spread(sizes.thumbs, frames) if isinstance(frames, int) else []
    if "jsonl" in files:
        digest = read_digest(files["jsonl"], keep=positions)
        if not positions:
            positions = spread(sizes.thumbs, digest.records)
    parts = [_header(video), _counts_table(video, digest)]
    notes = []
    if status == "skipped":
        notes.append("Skipped in this run (--resume): its outputs come from an earlier run.")
    if digest is None:
        notes.append("No JSONL output (--formats without jsonl): the plots are made from it.")
    elif digest.bad_lines:
        notes.append(f"{digest.bad_lines} lines of the JSONL were not JSON objects and were left out.")
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    parts.append(_thumbnails(video, files, digest, positions, sizes))
    if digest is not None and digest.records:
        from core.report.plots import timeline_figure

        plots = _img(timeline_figure(digest), f"plots over time of {video['stem']}", "plot")
        parts.append(
            f'<div class="pair"><div class="plots"><h3>Over time</h3>{plots}</div>'
            f'<div class="where">{_heat(video, files, digest, sizes)}</div></div>'
        )
    return Section(str(video["stem"]), status, _row(video, digest), "\n".join(p for p in parts if p))


def _failed_section(video: dict, message: str) -> Section:
    status = str(video.get("status"))
    body = f'{_header(video)}\n<p class="error-line">{html.escape(message)}</p>'
    return Section(str(video["stem"]), status, _row(video, None, message), body)


def _header(video: dict) -> str:
    status = str(video.get("status"))
    return (
        f'<h2>{html.escape(str(video["stem"]))} <span class="status {html.escape(status)}">'
        f"{html.escape(status)}</span></h2>\n"
        f'<p class="source">{html.escape(str(video.get("source", "")))}</p>'
    )


def _row(video: dict, digest: VideoDigest | None, error: str | None = None) -> dict:
    counts = digest.counts() if digest is not None else {}
    return {
        "status": video.get("status"),
        "duration_s": round(digest.duration, 2) if digest is not None else None,
        "frames": video.get("frames") if video.get("frames") is not None else counts.get("frames"),
        "people": video.get("people"),
        "identities": counts.get("identities", video.get("tracks")),
        "fps": video.get("fps"),
        "error": error or video.get("error"),
        "mode": (digest.header.get("tracker_mode") or digest.header.get("mode")) if digest else None,
    }


def _counts_table(video: dict, digest: VideoDigest | None) -> str:
    cells: list[tuple[str, str]] = []
    if digest is not None:
        counts = digest.counts()
        cells += [
            ("video time", f"{digest.duration:.1f} s"),
            ("frames", f"{counts['frames']:,}"),
            ("people-frames", f"{counts['people_frames']:,}"),
            ("identities", f"{counts['identities']:,}"),
            ("longest track", _seconds(counts["longest_track_s"])),
            ("median track", _seconds(counts["median_track_s"])),
        ]
    elif video.get("frames") is not None:
        cells += [("frames", f"{video['frames']:,}"), ("identities", str(video.get("tracks", "–")))]
    if video.get("fps") is not None:
        cells.append(("mean processing FPS", f"{video['fps']:.2f}"))
    if video.get("wall_s") is not None:
        cells.append(("wall time", f"{video['wall_s']:.1f} s"))
    if not cells:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k, _ in cells)
    body = "".join(f"<td>{html.escape(v)}</td>" for _, v in cells)
    return f'<table class="counts"><tr>{head}</tr><tr>{body}</tr></table>'


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _thumbnails(
    video: dict, files: dict[str, Path], digest: VideoDigest | None, positions: list[int], sizes: Sizes
) -> str:
    """Frames spread over the video with skeletons and IDs: the annotated video's own frames, or the
    input's frames drawn from the JSONL."""
    if not positions:
        return ""
    if "video" in files:
        images = read_frames(files["video"], positions)
    elif digest is not None and _source_file(video) is not None:
        records = {p: digest.kept[p] for p in positions if p in digest.kept}
        by_frame = {int(r.get("frame", p)): p for p, r in records.items()}
        raw = read_frames(_source_file(video), list(by_frame))
        images = {by_frame[f]: draw_record(image, records[by_frame[f]]) for f, image in raw.items()}
    else:
        return ""
    if not images:
        return ""
    figures = []
    for position, image in sorted(images.items()):
        record = digest.kept.get(position) if digest is not None else None
        when = record.get("time") if record else None
        caption = f"{when:.1f} s" if isinstance(when, int | float) else f"frame {position + 1}"
        picture = jpeg(resize_to_width(image, sizes.thumb_width), sizes.quality)
        image_tag = _img(picture, f"frame at {caption}", "thumb")
        figures.append(f"<figure>{image_tag}<figcaption>{caption}</figcaption></figure>")
    title = "Frames across the video" + (" (from the annotated video)" if "video" in files else "")
    return f'<h3>{title}</h3>\n<div class="thumbs">{"".join(figures)}</div>'


def _heat(video: dict, files: dict[str, Path], digest: VideoDigest, sizes: Sizes) -> str:
    if digest.heat is None or digest.size is None or not digest.people_frames:
        return ""
    middle = [max(0, digest.records // 2)]
    background = None
    source = _source_file(video)
    for path in ([source] if source is not None else []) + ([files["video"]] if "video" in files else []):
        background = read_frames(path, middle).get(middle[0])
        if background is not None:
            break
    picture = jpeg(heat_map(background, digest.heat, digest.size, sizes.heat_width), sizes.quality)
    stops = ", ".join(colormap_stops())
    return (
        "<h3>Where people stood</h3>\n"
        f"{_img(picture, 'heat map of foot points', 'heat')}\n"
        f'<div class="legend"><span class="ramp" '
        f'style="background:linear-gradient(to right, {stops})"></span>'
        "<span>seldom</span><span>most often (the busiest spot)</span></div>\n"
        f'<p class="caption">Foot points (between the ankles, else the bottom of the box) of all '
        f"{digest.people_frames:,} person-frames over a frame of the video; the brightest spot is where "
        "people spent the most time.</p>"
    )


def _source_file(video: dict) -> Path | None:
    source = Path(str(video.get("source", "")))
    return source if source.is_file() else None


def _img(picture: Picture, alt: str, css: str) -> str:
    return (
        f'<img class="{css}" src="{picture.uri}" width="{picture.width}" height="{picture.height}" '
        f'alt="{html.escape(alt)}" decoding="async">'
    )
