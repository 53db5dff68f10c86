"""Generated test material for checks that must run where no data set is: frames with person-sized
figures, the boxes around them, a video of them walking and its MOTChallenge det.txt (for
`--detector file:`). Deterministic (seeded), so two runs measure the same work.

The frames are smooth random textures (natural images are mostly low-frequency) with filled
head-and-body figures; nothing here looks like a person to a detector, which is why the video comes
with its detections: `track` then runs the real pose, tracking, drawing and writing stages on a
known number of people per frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def texture(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A BGR uint8 image of `size` (w, h): random colours at 1/16 scale, upsampled smoothly."""
    w, h = size
    small = rng.integers(0, 256, size=(max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def people_boxes(index: int, size: tuple[int, int], people: int) -> np.ndarray:
    """(people, 4) xyxy boxes at frame `index`: figures of 0.4-0.7 frame heights walking left and
    right at different speeds; the last one steps partly out of the frame (crops past the border)."""
    w, h = size
    boxes = []
    for k in range(people):
        height = h * (0.4 + 0.3 * ((k * 37) % 10) / 10)
        width = 0.4 * height
        speed = (1 + k % 3) * (1 if k % 2 == 0 else -1) * w / 200
        x = (w * (k + 0.5) / people + speed * index) % (w + width) - width / 2
        y = h * 0.15 + (k % 2) * h * 0.1
        boxes.append([x, y, x + width, y + height])
    if people:
        boxes[-1][2] = max(boxes[-1][2], w + 0.25 * (boxes[-1][2] - boxes[-1][0]))
    return np.array(boxes, dtype=np.float64)


def frame(index: int, size: tuple[int, int], people: int, seed: int = 0) -> np.ndarray:
    """Frame `index`: a fixed textured background (from `seed`) with a figure in each box."""
    rng = np.random.default_rng(seed)
    image = texture(size, rng)
    for k, (x1, y1, x2, y2) in enumerate(people_boxes(index, size, people)):
        colour = tuple(int(c) for c in rng.integers(40, 220, size=3))
        cx, bw, bh = (x1 + x2) / 2, x2 - x1, y2 - y1
        cv2.circle(image, (int(cx), int(y1 + 0.1 * bh)), int(0.1 * bh), colour, -1)
        cv2.ellipse(
            image, (int(cx), int(y1 + 0.5 * bh)), (int(bw / 2), int(0.35 * bh)), 0, 0, 360, colour, -1
        )
        cv2.putText(image, str(k), (int(cx), int(y1 + 0.5 * bh)), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
    return image


def write_video(
    path: Path, frames: int, size: tuple[int, int], people: int, fps: float = 25.0, seed: int = 0
) -> tuple[Path, Path]:
    """(video, det.txt): `frames` frames of `people` walking figures, and their boxes in MOTChallenge
    format (frame numbers from 1, score 1) for `--detector file:DET`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    lines = []
    for index in range(frames):
        writer.write(frame(index, size, people, seed))
        for x1, y1, x2, y2 in people_boxes(index, size, people):
            lines.append(f"{index + 1},-1,{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1")
    writer.release()
    det = path.with_suffix(".det.txt")
    det.write_text("\n".join(lines) + "\n")
    return path, det
