"""Output sinks: annotated video, JSONL, CSV, COCO keypoint results and MOTChallenge txt, written atomically.

Every sink writes into a hidden temporary file beside its target (`.NAME.partial-XXXX[.ext]`, made by
core.atomic like every output's temporary) and renames it into place only on `close()`; `abort()`
deletes it. A crash or SIGKILL therefore leaves only `.*.partial*` files, never a truncated file under
the final name — so "the output exists" means "the output is complete", which is what `--resume`
relies on.
"""

import csv
import errno
import io
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from core.atomic import temp_beside
from core.errors import UserError
from core.keypoints import NAMES
from core.records import Track
from core.track.motchallenge import result_row
from core.video.sources import Frame

# COCO rescoring (as HRNet does): mean score of the keypoints above this threshold, times the box score.
COCO_KEYPOINT_THRESHOLD = 0.2


@dataclass(frozen=True)
class Clip:
    """What a sink may need to know of the video it writes outputs of, beyond the frames themselves."""

    fps: float
    size: tuple[int, int]  # (width, height) of its frames
    header: dict | None = None  # the JSONL's first line {"header": ...} (weights trained or not, ...)
    image_ids: Mapping[int, int] | None = None  # frame index → COCO image_id (CocoSink)


class Sink(Protocol):
    """One output file of one clip (core.video.formats.SINKS names them): `SUFFIX` ends its file name,
    `for_clip` opens it; then a frame at a time, and close() or abort()."""

    SUFFIX: str
    path: Path

    @classmethod
    def for_clip(cls, path: Path, clip: Clip) -> "Sink": ...

    def write(self, frame: Frame, tracks: list[Track], annotated: np.ndarray | None) -> None: ...

    def close(self) -> None:
        """Finish and move the file into place."""

    def abort(self) -> None:
        """Delete the temporary file; the final name is never created."""


def abort_all(sinks: list[Sink]) -> None:
    for sink in sinks:
        sink.abort()


@contextmanager
def writing(sinks: list[Sink]) -> Iterator[list[Sink]]:
    """Write a clip's outputs in the block: all are closed (moved into place) when it ends, all
    aborted when it raises, Ctrl-C included, so none is left half-written under its final name."""
    try:
        yield sinks
    except BaseException:
        abort_all(sinks)
        raise
    for sink in sinks:
        sink.close()


def _temp_path(path: Path, suffix: str = "") -> Path:
    """Create a unique hidden temp file beside `path`; UserError if the folder is not writable."""
    try:
        return temp_beside(path, suffix)
    except OSError as exc:
        raise UserError(f"cannot write to output folder {path.parent}: {exc.strerror or exc}") from None


def _finite(value: float, digits: int) -> float | None:
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _box(box: np.ndarray) -> list[float | None]:
    return [_finite(v, 2) for v in np.asarray(box, dtype=float).reshape(4)]


def _keypoints(keypoints: np.ndarray | None) -> list[list[float | None]] | None:
    if keypoints is None:
        return None
    return [[_finite(x, 2), _finite(y, 2), _finite(s, 4)] for x, y, s in np.asarray(keypoints, dtype=float)]


class _AtomicTextSink:
    """A text file written to a temp name and renamed into place on close()."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.temp = _temp_path(self.path)
        self._file: io.TextIOWrapper | None = open(self.temp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self.frames = 0

    @classmethod
    def for_clip(cls, path: Path, clip: Clip) -> "_AtomicTextSink":
        return cls(path)

    def write(self, frame: Frame, tracks: list[Track], annotated: np.ndarray | None = None) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path.name}: write after close/abort")
        self._write(self._file, frame, tracks)
        self.frames += 1

    def _write(self, file: io.TextIOWrapper, frame: Frame, tracks: list[Track]) -> None:
        raise NotImplementedError

    def _finish(self, file: io.TextIOWrapper) -> None:
        """Hook for a closing bracket or similar."""

    def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            self._finish(file)
            file.flush()
            os.fsync(file.fileno())
        finally:
            file.close()
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
        self.temp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close() if exc_type is None else self.abort()


class JsonlSink(_AtomicTextSink):
    """One JSON object per frame: {"frame", "time", "tracks": [{"id", "box", "score", "keypoints"}],
    "fps"} ("fps": the pipeline's output rate at that frame, when it ran through one).

    Coordinates are rounded to 2 decimals, scores to 4; `keypoints` is null for box-only tracks.
    An optional `header` dict becomes a first line {"header": {...}} (e.g. weights trained or not).
    """

    SUFFIX = ".jsonl"

    @classmethod
    def for_clip(cls, path: Path, clip: Clip) -> "JsonlSink":
        return cls(path, header=clip.header)

    def __init__(self, path: Path, header: dict | None = None):
        super().__init__(path)
        if header is not None:
            self._file.write(json.dumps({"header": header}, allow_nan=False) + "\n")

    def _write(self, file: io.TextIOWrapper, frame: Frame, tracks: list[Track]) -> None:
        record = {
            "frame": int(frame.index),
            "time": _finite(frame.time, 4),
            "tracks": [
                {
                    "id": int(t.id),
                    "box": _box(t.box),
                    "score": _finite(t.score, 4),
                    "keypoints": _keypoints(t.keypoints),
                }
                for t in tracks
            ],
        }
        if frame.fps is not None:  # the output rate when this frame was written (core.pipeline.stats)
            record["fps"] = _finite(frame.fps, 2)
        file.write(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n")


def csv_header() -> list[str]:
    columns = ["frame", "time", "id", "x1", "y1", "x2", "y2", "score"]
    for name in NAMES:
        columns += [f"{name}_x", f"{name}_y", f"{name}_score"]
    return columns


class CsvSink(_AtomicTextSink):
    """One row per track per frame; keypoint cells are empty for box-only tracks."""

    SUFFIX = ".csv"

    def __init__(self, path: Path):
        super().__init__(path)
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(csv_header())

    def _write(self, file: io.TextIOWrapper, frame: Frame, tracks: list[Track]) -> None:
        for t in tracks:
            row: list = [
                int(frame.index),
                _finite(frame.time, 4),
                int(t.id),
                *_box(t.box),
                _finite(t.score, 4),
            ]
            keypoints = _keypoints(t.keypoints)
            row += [v for point in keypoints for v in point] if keypoints else [""] * (3 * len(NAMES))
            self._writer.writerow(["" if v is None else v for v in row])


class CocoSink(_AtomicTextSink):
    """COCO keypoint results (pycocotools `loadRes`), streamed as a JSON list so memory stays flat.

    image_id = frame index + 1, or `image_ids[frame index]` when a map is given (frames not in the map
    are skipped). keypoints = flat [x, y, v, ...] with v = the keypoint score; score = track score ×
    mean score of the keypoints above 0.2 (HRNet's rescoring; 0 when none is). Box-only tracks are
    skipped. Each result also carries "track_id".
    """

    SUFFIX = ".coco.json"

    @classmethod
    def for_clip(cls, path: Path, clip: Clip) -> "CocoSink":
        return cls(path, image_ids=clip.image_ids)

    def __init__(self, path: Path, image_ids: Mapping[int, int] | None = None):
        super().__init__(path)
        self.image_ids = image_ids
        self._count = 0
        self._file.write("[")

    def _write(self, file: io.TextIOWrapper, frame: Frame, tracks: list[Track]) -> None:
        if self.image_ids is None:
            image_id = int(frame.index) + 1
        elif frame.index in self.image_ids:
            image_id = int(self.image_ids[frame.index])
        else:
            return
        for t in tracks:
            if t.keypoints is None:
                continue
            points = np.asarray(t.keypoints, dtype=float)
            confident = points[:, 2][points[:, 2] > COCO_KEYPOINT_THRESHOLD]
            keypoint_score = float(confident.mean()) if confident.size else 0.0
            result = {
                "image_id": image_id,
                "category_id": 1,
                "keypoints": [v for point in _keypoints(points) for v in point],
                "score": _finite(float(t.score) * keypoint_score, 4),
                "track_id": int(t.id),
            }
            file.write(("," if self._count else "") + "\n" + json.dumps(result, allow_nan=False))
            self._count += 1

    def _finish(self, file: io.TextIOWrapper) -> None:
        file.write("\n]\n")


class MotSink(_AtomicTextSink):
    """MOTChallenge rows `frame,id,x,y,w,h,score,-1,-1,-1` with 1-based frame numbers."""

    SUFFIX = ".mot.txt"

    def _write(self, file: io.TextIOWrapper, frame: Frame, tracks: list[Track]) -> None:
        file.writelines(result_row(frame.index + 1, t) for t in tracks)


# Sides MPEG-4 part 2 encodes: even (4:2:0 chroma), at most 8190 ("dimensions too large for MPEG-4"
# from 8192); at least 16 so that a 1x1 or 640x1 source still gives a video that plays.
VIDEO_SIDES = (16, 8190)


def writable_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size the annotated video is written at: the source's, scaled down to fit VIDEO_SIDES'
    largest side, then each side made even and at least the smallest (frames are resized to it)."""
    low, high = VIDEO_SIDES
    width, height = int(size[0]), int(size[1])
    scale = min(1.0, high / max(width, height, 1))
    sides = (max(1, round(width * scale)), max(1, round(height * scale)))
    return tuple(min(high, max(low, side + side % 2)) for side in sides)


class VideoSink:
    """MPEG-4 video (OpenCV's mp4v) of the annotated frames, or of the raw frames when none is given.

    The temp file keeps the .mp4 extension, since OpenCV picks the container from it.
    """

    SUFFIX = ".mp4"

    @classmethod
    def for_clip(cls, path: Path, clip: Clip) -> "VideoSink":
        return cls(path, clip.fps, clip.size)

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path = Path(path)
        self.size = writable_size(size)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.temp = _temp_path(self.path, suffix=self.path.suffix or ".mp4")
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
            str(self.temp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size
        )
        if not self._writer.isOpened():
            self._writer = None
            self.temp.unlink(missing_ok=True)
            raise UserError(f"cannot write video {self.path}: OpenCV's mp4v writer did not open")
        self.frames = 0

    def write(self, frame: Frame, tracks: list[Track], annotated: np.ndarray | None = None) -> None:
        if self._writer is None:
            raise RuntimeError(f"{self.path.name}: write after close/abort")
        image = frame.image if annotated is None else annotated
        if (image.shape[1], image.shape[0]) != self.size:  # VideoWriter silently drops mismatched frames
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        self._writer.write(np.ascontiguousarray(image, dtype=np.uint8))
        self.frames += 1

    def close(self) -> None:
        """Finish the file, prove it plays back whole, then rename it: OpenCV's writer reports no
        error (a full disk leaves an .mp4 without its index), so the finished file is read back."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.release()
            with open(self.temp, "rb+") as file:
                os.fsync(file.fileno())
            self._check_readable()
        except BaseException:
            self.temp.unlink(missing_ok=True)
            raise
        os.replace(self.temp, self.path)

    def _check_readable(self) -> None:
        if self.frames == 0:
            return
        capture = cv2.VideoCapture(str(self.temp), cv2.CAP_FFMPEG)
        try:
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
        finally:
            capture.release()
        if count != self.frames:
            free = shutil.disk_usage(self.temp.parent).free
            raise OSError(
                errno.EIO,
                f"the video writer produced an unreadable file ({count} of {self.frames} frames "
                f"readable; {free // 1024} KiB free on that disk)",
                str(self.path),
            )

    def abort(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
        self.temp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close() if exc_type is None else self.abort()
