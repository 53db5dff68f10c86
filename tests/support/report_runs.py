"""Output folders as `track` leaves them, made in a moment without a model: frames of the shared
street video, people walking across it as tracks with skeletons, written by the real sinks (so the
JSONL, the annotated video and the summary have exactly track's format)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from core.keypoints import NAMES
from core.records import Track
from core.video import Frame, open_sinks
from core.video.drawing import draw_tracks
from tests.support.helpers import SHARED_DATA

FPS = 25.0
SIZE = (320, 180)


def walker(track_id: int, index: int, frames: int) -> Track:
    """A person crossing the frame left to right, lower in the frame the higher the ID."""
    x = 20 + (SIZE[0] - 60) * index / max(1, frames - 1)
    y = 40 + 12 * (track_id % 8)
    box = np.array([x, y, x + 30, y + 80], dtype=float)
    keypoints = np.zeros((len(NAMES), 3))
    keypoints[:, 0] = x + 15 + 8 * np.sin(np.arange(len(NAMES)))
    keypoints[:, 1] = np.linspace(y + 5, y + 78, len(NAMES))
    keypoints[:, 2] = 0.5 + 0.4 * np.cos(index / 5 + track_id) ** 2
    return Track(track_id, box, 0.9, keypoints)


def write_video_outputs(
    out: Path, stem: str, frames: int, people: int = 3, gap: tuple[int, int] = (8, 12)
) -> dict:
    """One video's outputs (annotated video and JSONL): `people` walkers, the first missing for the
    frames in `gap`. Returns its summary entry."""
    capture = cv2.VideoCapture(str(SHARED_DATA / "video" / "street.mp4"))
    images = []
    while (read := capture.read())[0] and len(images) < frames:
        images.append(cv2.resize(read[1], SIZE))
    capture.release()
    header = {
        "source": f"{stem}.mp4",
        "weights": "trained",
        "fps": FPS,
        "size": list(SIZE),
        "keypoints": list(NAMES),
    }
    sinks = open_sinks(out, stem, {"video", "jsonl"}, FPS, SIZE, header=header)
    seen: set[int] = set()
    for index in range(frames):
        tracks = [
            walker(track_id, index, frames)
            for track_id in range(1, people + 1)
            if not (track_id == 1 and gap[0] <= index < gap[1])
        ]
        seen.update(t.id for t in tracks)
        image = images[index % len(images)]
        frame = Frame(index, index / FPS, image, stem, fps=10.0 + index % 3)
        annotated = draw_tracks(image.copy(), tracks)
        for sink in sinks:
            sink.write(frame, tracks, annotated)
    for sink in sinks:
        sink.close()
    return {
        "source": f"{stem}.mp4",
        "stem": stem,
        "status": "done",
        "frames": frames,
        "error": None,
        "fps": 11.0,
        "people": float(people),
        "tracks": len(seen),
        "wall_s": frames / 11.0,
    }


def failed_entry(stem: str, error: str = "cannot decode broken.mp4: moov atom not found") -> dict:
    return {"source": f"{stem}.mp4", "stem": stem, "status": "error", "frames": 0, "error": error}


def write_summary(out: Path, videos: list[dict], **fields) -> Path:
    """summary.json as `track` writes it; `fields` override (finished, interrupted, failure, ...)."""
    summary = {
        "started": "2026-01-02T03:04:05+0000",
        "inputs": len(videos),
        "weights": "trained",
        "checkpoint": "hrnet-w32",
        "model": {"width": 32, "preset": "baseline", "input_size": [192, 256]},
        "backend": "eager",
        "device": "cpu",
        "detector": "hog",
        "interval": 1,
        "tracker": {"min_hits": 3, "max_age": 3.0, "smoothing": True, "motion": "steady"},
        "formats": ["video", "jsonl"],
        "shard": [0, 1],
        "finished": True,
        "interrupted": False,
        "wall_s": 12.5,
        "videos": videos,
        **fields,
    }
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2))
    return path


def make_run(out: Path, frames: tuple[int, ...] = (20, 12), failed: int = 1, **fields) -> Path:
    """A whole output folder: a video per entry of `frames`, `failed` failed inputs, summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    videos = [write_video_outputs(out, f"clip{i + 1}", count) for i, count in enumerate(frames)]
    videos += [failed_entry(f"broken{i + 1}") for i in range(failed)]
    write_summary(out, videos, **fields)
    return out
