"""MOTChallenge text files: detections (det.txt), ground truth (gt.txt) and tracker results.

Every file is comma-separated, one box per line: `frame, id, left, top, width, height, conf, ...`,
frames 1-based. What the columns after the box mean depends on the file:

- det.txt: `conf` is the detector score; id is -1.
- gt.txt, MOT15 (2D): `conf` is the *consider* flag (1 = evaluate, 0 = ignore); columns 8-10 are
  world coordinates or -1.
- gt.txt, MOT16/17/20: `conf` is the consider flag, column 8 the class (1 = pedestrian), column 9
  the visibility ratio. We detect this layout when column 8 holds only integer classes 1-13 and
  column 9 only ratios in [0, 1]; then only pedestrians are kept. (The official MOT17 devkit also
  drops predictions matched to distractor classes before counting; we do not.)
- results: `frame, id, left, top, width, height, score, -1, -1, -1` as written by `write_results`.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import write_text_atomic
from core.boxes import xywh_to_xyxy, xyxy_to_xywh
from core.errors import UserError
from core.records import Detection, Track

# Frame numbers and ids beyond this are not a video's (10 h at 250 fps is 9 million frames); larger
# ones would overflow or wrap when converted to integers, and the per-frame loops would never end.
MAX_NUMBER = 10_000_000
# Box coordinates and sizes beyond this are no image's (a 16K frame is 15360 wide); larger ones overflow
# the tracker's squared distances and areas.
MAX_COORDINATE = 1_000_000


@dataclass
class MotTable:
    """Rows of one MOTChallenge file as arrays; `boxes` are converted to xyxy."""

    frames: np.ndarray  # (N,) int, 1-based
    ids: np.ndarray  # (N,) int
    boxes: np.ndarray  # (N, 4) xyxy float
    scores: np.ndarray  # (N,) float (score, or the consider flag in gt files)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def num_frames(self) -> int:
        return int(self.frames.max()) if len(self.frames) else 0

    def frame(self, number: int) -> "MotTable":
        keep = self.frames == number
        return MotTable(self.frames[keep], self.ids[keep], self.boxes[keep], self.scores[keep])

    def by_frame(self, num_frames: int | None = None) -> Iterator[tuple[int, "MotTable"]]:
        """(frame number, rows) for every frame 1..num_frames, empty frames included."""
        last = self.num_frames if num_frames is None else num_frames
        order = np.argsort(self.frames, kind="stable")
        frames = self.frames[order]
        starts = np.searchsorted(frames, np.arange(1, last + 2))
        for number in range(1, last + 1):
            rows = order[starts[number - 1] : starts[number]]
            yield number, MotTable(self.frames[rows], self.ids[rows], self.boxes[rows], self.scores[rows])


def read_table(path: str | Path) -> np.ndarray:
    """The numeric (N, C) array of a MOTChallenge file, C >= 6; UserError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"MOTChallenge file not found: {path}")
    try:
        with path.open(encoding="utf-8-sig") as handle:  # a BOM (Windows editors) is no column
            rows = _parse_rows(path, handle)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a MOTChallenge text file (binary or not UTF-8)") from None
    if not rows:
        return np.zeros((0, 10))
    table = np.asarray(rows)
    if not np.isfinite(table[:, :7]).all():
        bad = int(np.flatnonzero(~np.isfinite(table[:, :7]).all(axis=1))[0])
        raise UserError(f"{path}: row {bad + 1} has NaN or infinite values in frame/id/box/score")
    if (np.abs(table[:, 2:6]) > MAX_COORDINATE).any():
        bad = int(np.flatnonzero((np.abs(table[:, 2:6]) > MAX_COORDINATE).any(axis=1))[0])
        raise UserError(f"{path}: row {bad + 1} has a box beyond {MAX_COORDINATE:,} pixels")
    if (table[:, 0] < 1).any() or (table[:, 0] != np.round(table[:, 0])).any():
        raise UserError(f"{path}: frame numbers must be integers starting at 1")
    if (table[:, 0] > MAX_NUMBER).any() or (np.abs(table[:, 1]) > MAX_NUMBER).any():
        bad = int(np.flatnonzero((table[:, 0] > MAX_NUMBER) | (np.abs(table[:, 1]) > MAX_NUMBER))[0])
        raise UserError(f"{path}: row {bad + 1} has a frame number or id beyond {MAX_NUMBER:,}")
    if (table[:, 4] <= 0).any() or (table[:, 5] <= 0).any():
        bad = int(np.flatnonzero((table[:, 4] <= 0) | (table[:, 5] <= 0))[0])
        raise UserError(f"{path}: row {bad + 1} has a box without positive width and height")
    return table


def _parse_rows(path: Path, handle) -> list[list[float]]:
    rows = []
    for number, line in enumerate(handle, 1):
        line = line.strip()
        if not line:
            continue
        try:  # the format has 10 columns; what some files add after them (a tag, a note) is not read
            values = [float(v) for v in line.replace(" ", "").split(",")[:10] if v != ""]
        except ValueError:
            raise UserError(f"{path}:{number}: not a comma-separated row of numbers: {line[:60]!r}") from None
        if len(values) < 6:
            raise UserError(
                f"{path}:{number}: needs at least 6 columns (frame,id,x,y,w,h), got {len(values)}"
            )
        rows.append(values[:10] + [-1.0] * (10 - min(len(values), 10)))
    return rows


def _to_mot_table(table: np.ndarray) -> MotTable:
    return MotTable(
        frames=table[:, 0].astype(np.int64),
        ids=table[:, 1].astype(np.int64),
        boxes=xywh_to_xyxy(table[:, 2:6]) if len(table) else np.zeros((0, 4)),
        scores=table[:, 6].copy(),
    )


def has_class_columns(table: np.ndarray) -> bool:
    """True for MOT16/17/20 ground truth (class in column 8, visibility in column 9)."""
    if len(table) == 0:
        return False
    classes, visibility = table[:, 7], table[:, 8]
    integer = (classes == np.round(classes)).all()
    return bool(
        integer
        and (classes >= 1).all()
        and (classes <= 13).all()
        and ((visibility >= 0) & (visibility <= 1)).all()
    )


def load_ground_truth(path: str | Path) -> MotTable:
    """Ground-truth rows to evaluate: consider flag 1, and class pedestrian when the file has classes."""
    table = read_table(path)
    keep = table[:, 6] == 1
    if has_class_columns(table):
        keep &= table[:, 7] == 1
    return _to_mot_table(table[keep])


def load_results(path: str | Path) -> MotTable:
    """Tracker results (every row counts)."""
    return _to_mot_table(read_table(path))


def load_detections(path: str | Path, min_score: float = -np.inf) -> MotTable:
    """Public detections (det.txt); rows below `min_score` dropped."""
    table = read_table(path)
    return _to_mot_table(table[table[:, 6] >= min_score])


def detections_by_frame(
    table: MotTable, num_frames: int | None = None
) -> Iterator[tuple[int, list[Detection]]]:
    for number, rows in table.by_frame(num_frames):
        yield (
            number,
            [
                Detection(box=box.copy(), score=float(s))
                for box, s in zip(rows.boxes, rows.scores, strict=True)
            ],
        )


def result_row(number: int, track: Track) -> str:
    """One results line `frame,id,x,y,w,h,score,-1,-1,-1` (frame 1-based), newline included."""
    x, y, w, h = xyxy_to_xywh(track.box)[0]
    return f"{number},{int(track.id)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{float(track.score):.4f},-1,-1,-1\n"


def format_results(tracks_by_frame: Iterable[tuple[int, list[Track]]]) -> str:
    return "".join(result_row(number, track) for number, tracks in tracks_by_frame for track in tracks)


def write_results(path: str | Path, tracks_by_frame: Iterable[tuple[int, list[Track]]]) -> None:
    """MOTChallenge results `frame,id,x,y,w,h,score,-1,-1,-1`, written atomically.

    The folder must exist: a mistyped --out should fail, not create a stray folder."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise UserError(f"output folder does not exist: {folder}")
    write_text_atomic(path, format_results(tracks_by_frame))


def sequence_frame_rate(sequence: Path) -> float | None:
    """`frameRate` from a sequence folder's seqinfo.ini (MOTChallenge), or None when it has none."""
    info = sequence / "seqinfo.ini"
    if not info.is_file():
        return None
    try:
        text = info.read_text(errors="replace")
    except OSError as error:
        raise UserError(f"cannot read {info}: {error.strerror or error}") from None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() == "framerate":
            try:
                rate = float(value)
            except ValueError:
                raise UserError(f"{info}: frameRate is not a number: {value.strip()!r}") from None
            if not (rate > 0 and np.isfinite(rate)):
                raise UserError(f"{info}: frameRate must be positive, got {value.strip()}")
            return rate
    return None


def sequence_file(sequence: Path, kind: str) -> Path | None:
    """A sequence folder's `kind` file ("gt" or "det"): `SEQ/gt/gt.txt` (MOTChallenge) or `SEQ/gt.txt`."""
    for candidate in (sequence / kind / f"{kind}.txt", sequence / f"{kind}.txt"):
        if candidate.is_file():
            return candidate
    return None
