"""Precomputed detections ("file:PATH"): a COCO results JSON or a MOTChallenge det.txt.

Which frame a stored detection belongs to:
- MOTChallenge det.txt (any non-JSON file): frame numbers are 1-based, so frame_index i reads the
  rows of frame i + 1.
- COCO results JSON (a list of {"image_id", "category_id", "bbox": [x, y, w, h], "score"}): frame_index
  i is the i-th smallest distinct image_id. A folder source yields images sorted by file name, and
  COCO file names are the zero-padded image id (000000000785.jpg is id 785), so on a folder of COCO
  images frame i is exactly that image. When the file lacks detections for some images, pass the
  full ordered id list as `image_ids` so the mapping does not shift. Only category 1 (person) counts.
"""

import json
from pathlib import Path

import numpy as np

from core.boxes import valid_boxes
from core.detect.base import to_detections
from core.errors import UserError
from core.records import Detection
from core.track.motchallenge import load_detections


class FileDetector:
    """Looks detections up by frame index; the frame itself is not needed (it may be None)."""

    SPEC = "file:PATH (COCO results JSON or MOT det.txt)"

    @classmethod
    def from_spec(cls, rest: str, device: str = "auto", **options) -> "FileDetector":
        return cls(rest, **options)

    def __init__(
        self, path: str | Path, score_threshold: float = -np.inf, image_ids: list[int] | None = None
    ):
        path = Path(path).expanduser()
        if not path.is_file():
            raise UserError(f"detections file not found: {path}")
        self.path = path
        self.score_threshold = score_threshold
        if path.suffix.lower() == ".json":
            self.by_frame, self.image_ids = _load_coco(path, image_ids)
        else:
            self.by_frame, self.image_ids = _load_mot(path), None

    def __call__(self, frame_bgr: np.ndarray | None = None, frame_index: int = 0) -> list[Detection]:
        boxes, scores = self.by_frame.get(int(frame_index), (np.zeros((0, 4)), np.zeros(0)))
        keep = scores >= self.score_threshold
        return to_detections(boxes[keep], scores[keep])

    @property
    def num_frames(self) -> int:
        return (max(self.by_frame) + 1) if self.by_frame else 0


def _load_mot(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    table = load_detections(path)
    return {number - 1: (rows.boxes, rows.scores) for number, rows in table.by_frame() if len(rows)}


def _load_coco(path: Path, image_ids: list[int] | None) -> tuple[dict, list[int]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM is not JSON
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:  # json's parser recurses once per nesting level
        raise UserError(f"{path}: JSON nested too deeply to be a COCO results list") from None
    if not isinstance(entries, list):
        raise UserError(f"{path}: a COCO results file is a JSON list of detections")
    rows: dict[int, list[tuple[list[float], float]]] = {}
    for k, entry in enumerate(entries):
        try:
            if entry.get("category_id", 1) != 1:
                continue
            x, y, w, h = (float(v) for v in entry["bbox"])
            image_id = entry["image_id"]
            if not isinstance(image_id, int) or isinstance(image_id, bool):
                raise ValueError("image_id is not an integer")
            rows.setdefault(image_id, []).append(([x, y, x + w, y + h], float(entry.get("score", 1.0))))
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
            raise UserError(
                f"{path}: entry {k} is not a COCO detection with an integer image_id and bbox [x, y, w, h]"
            ) from None
    ids = sorted(rows) if image_ids is None else [int(i) for i in image_ids]
    index = {image_id: i for i, image_id in enumerate(ids)}
    by_frame = {}
    for image_id, dets in rows.items():
        if image_id not in index:
            continue
        boxes = np.array([d[0] for d in dets], dtype=np.float64)
        scores = np.array([d[1] for d in dets], dtype=np.float64)
        good = valid_boxes(boxes)
        by_frame[index[image_id]] = (boxes[good], scores[good])
    return by_frame, ids
