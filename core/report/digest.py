"""One video's JSONL output read once, line by line, into what the report shows about it.

Memory does not grow with the video's length: the time series are binned (core.report.series), the
foot points go into a fixed grid, and each identity keeps its first and last time and at most
MAX_SEGMENTS stretches of presence. Times are the JSONL's `time`, the video's own timestamps in
seconds, so the plots read in seconds of video, not frame numbers.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.keypoints import NAMES
from core.report.series import DEFAULT_BINS, BinnedSeries, BinnedValues
from core.video.drawing import DEFAULT_THRESHOLD

MAX_SEGMENTS = 200  # stretches kept per identity; beyond, the shortest gaps close
HEAT_CELLS = 96  # foot-point grid cells along the frame's longer side
FALLBACK_FPS = 25.0  # a JSONL without a header (written outside `track`)


@dataclass
class TrackSpan:
    """One identity: when it was first and last seen, in how many frames, and the stretches of
    consecutive frames it was seen in (a gap is a frame it was missing from)."""

    id: int
    first: float
    last: float
    frames: int
    segments: list[list[float]] = field(default_factory=list)  # [start, end] times, in order

    def duration(self, interval: float) -> float:
        """Seconds from its first frame to the end of its last."""
        return self.last - self.first + interval


@dataclass
class VideoDigest:
    """What the report knows of one video after reading its JSONL."""

    header: dict
    fps: float  # the video's frame rate (header), the real-time reference
    size: tuple[int, int] | None  # frame width, height
    records: int = 0  # frames in the JSONL
    people_frames: int = 0  # sum over frames of the people in view
    first_time: float | None = None
    last_time: float | None = None
    people: BinnedValues | None = None
    confidence: BinnedValues | None = None
    speed: BinnedValues | None = None
    tracks: list[TrackSpan] = field(default_factory=list)
    heat: np.ndarray | None = None  # foot points per grid cell (rows, columns) over the frame
    kept: dict[int, dict] = field(default_factory=dict)  # record position -> record, for thumbnails
    bad_lines: int = 0  # lines that were not JSON objects (a file edited by hand)

    @property
    def interval(self) -> float:
        return 1.0 / self.fps

    @property
    def duration(self) -> float:
        """Seconds of video the JSONL covers (0 for none)."""
        if self.last_time is None:
            return 0.0
        return self.last_time + self.interval

    def track_durations(self) -> list[float]:
        return [span.duration(self.interval) for span in self.tracks]

    def counts(self) -> dict[str, float | int | None]:
        durations = self.track_durations()
        return {
            "frames": self.records,
            "people_frames": self.people_frames,
            "identities": len(self.tracks),
            "longest_track_s": max(durations) if durations else None,
            "median_track_s": statistics.median(durations) if durations else None,
        }


class _Spans:
    """Identities' presence, folded frame by frame."""

    def __init__(self) -> None:
        self.spans: dict[int, TrackSpan] = {}
        self.last_record: dict[int, int] = {}

    def add(self, track_id: int, record: int, time: float) -> None:
        span = self.spans.get(track_id)
        if span is None:
            self.spans[track_id] = TrackSpan(track_id, time, time, 1, [[time, time]])
        else:
            span.frames += 1
            span.last = time
            if self.last_record[track_id] == record - 1:
                span.segments[-1][1] = time
            else:
                span.segments.append([time, time])
                if len(span.segments) > MAX_SEGMENTS:
                    _close_shortest_gap(span.segments)
        self.last_record[track_id] = record


def _close_shortest_gap(segments: list[list[float]]) -> None:
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(segments)]
    i = int(np.argmin(gaps))
    segments[i][1] = segments[i + 1][1]
    del segments[i + 1]


class _FootHeat:
    """Where people stood: foot points counted in a grid over the frame."""

    def __init__(self, size: tuple[int, int], ankles: tuple[int, int] | None) -> None:
        width, height = size
        self.cell = max(width, height) / HEAT_CELLS
        self.grid = np.zeros((max(1, math.ceil(height / self.cell)), max(1, math.ceil(width / self.cell))))
        self.ankles = ankles

    def add(self, track: dict) -> None:
        point = foot_point(track, self.ankles)
        if point is None:
            return
        col, row = int(point[0] / self.cell), int(point[1] / self.cell)
        if 0 <= row < self.grid.shape[0] and 0 <= col < self.grid.shape[1]:
            self.grid[row, col] += 1


def foot_point(track: dict, ankles: tuple[int, int] | None) -> tuple[float, float] | None:
    """Where a person stands: between the ankles scored at least the drawing threshold, else the
    one such ankle, else the bottom centre of the box."""
    keypoints = track.get("keypoints")
    if keypoints and ankles is not None:
        feet = [
            (p[0], p[1])
            for p in (keypoints[i] for i in ankles if i < len(keypoints))
            if None not in p[:3] and p[2] >= DEFAULT_THRESHOLD
        ]
        if feet:
            return sum(x for x, _ in feet) / len(feet), sum(y for _, y in feet) / len(feet)
    box = track.get("box")
    if not box or None in box:
        return None
    return (box[0] + box[2]) / 2, box[3]


def _ankle_indices(names: list[str]) -> tuple[int, int] | None:
    try:
        return names.index("left_ankle"), names.index("right_ankle")
    except ValueError:
        return None


def _keypoint_mean(tracks: list[dict]) -> float | None:
    """Mean score of every keypoint of every person in a frame (None without keypoints)."""
    scores = [p[2] for t in tracks for p in (t.get("keypoints") or ()) if p[2] is not None]
    return sum(scores) / len(scores) if scores else None


def read_digest(path: Path, keep: Iterable[int] = (), bins: int = DEFAULT_BINS) -> VideoDigest:
    """Read a `track` JSONL once. `keep`: record positions (0-based) whose records are kept whole,
    for drawing thumbnails when the annotated video is missing."""
    keep = set(keep)
    with open(path, encoding="utf-8") as file:
        return _fold(file, keep, bins)


def _fold(lines: Iterable[str], keep: set[int], bins: int) -> VideoDigest:
    digest: VideoDigest | None = None
    people = confidence = speed = None
    spans, heat = _Spans(), None
    record = -1
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if digest is not None and line.strip():
                digest.bad_lines += 1
            continue
        if "header" in data and digest is None:
            digest = _start(data["header"] if isinstance(data["header"], dict) else {})
            continue
        if digest is None:
            digest = _start({})
        if people is None:
            people, confidence, speed = (BinnedSeries(digest.interval, bins) for _ in range(3))
            if digest.size is not None:
                heat = _FootHeat(digest.size, _ankle_indices(digest.header.get("keypoints") or list(NAMES)))
        record += 1
        tracks = [t for t in data.get("tracks") or () if isinstance(t, dict)]
        time = data.get("time")
        if not isinstance(time, int | float) or not math.isfinite(time):
            time = record * digest.interval
        digest.records += 1
        digest.people_frames += len(tracks)
        digest.first_time = time if digest.first_time is None else digest.first_time
        digest.last_time = time
        people.add(time, len(tracks))
        confidence.add(time, _keypoint_mean(tracks))
        speed.add(time, data.get("fps"))
        for track in tracks:
            if isinstance(track.get("id"), int):
                spans.add(track["id"], record, time)
            if heat is not None:
                heat.add(track)
        if record in keep:
            digest.kept[record] = data
    if digest is None:
        digest = _start({})
    if people is not None:
        digest.people, digest.confidence, digest.speed = people.values(), confidence.values(), speed.values()
    digest.tracks = sorted(spans.spans.values(), key=lambda span: (span.first, span.id))
    digest.heat = heat.grid if heat is not None else None
    return digest


def _start(header: dict) -> VideoDigest:
    fps = header.get("fps")
    fps = float(fps) if isinstance(fps, int | float) and math.isfinite(fps) and fps > 0 else FALLBACK_FPS
    size = header.get("size")
    valid = isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)
    return VideoDigest(header=header, fps=fps, size=(size[0], size[1]) if valid else None)
