"""The report's pictures made from video frames (thumbnails with skeletons and IDs, the heat map of
where people stood) and how every picture is packed into the page.

Frames come from the annotated video when `track` wrote one (skeletons, IDs and the status panel
exactly as in that video); otherwise from the input video, drawn here from the JSONL. Photos are
JPEG and plots are PNG reduced to a palette of 64 colours, a third of the bytes of a full-colour
PNG with no visible change: what keeps a 200-video report small.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.records import Track
from core.video.drawing import draw_tracks

SEEK_AFTER = 12  # frames: read on to a frame this close, seek to one further away
HEAT_COLORMAP = cv2.COLORMAP_INFERNO
HEAT_START = 0.35  # of the colour map: where the least-visited spot's colour sits
PLOT_COLORS = 64


def read_frames(path: Path, positions: list[int]) -> dict[int, np.ndarray]:
    """Frames at these 0-based positions of a video file; any that does not decode is left out."""
    frames: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            return frames
        current = 0  # the position the next read() returns
        for position in sorted(set(positions)):
            if position - current > SEEK_AFTER:
                capture.set(cv2.CAP_PROP_POS_FRAMES, position)
                current = position
            while current < position and capture.grab():
                current += 1
            ok, image = capture.read()
            if not ok:
                break
            current += 1
            frames[position] = image
    finally:
        capture.release()
    return frames


def spread(count: int, total: int) -> list[int]:
    """`count` positions spread evenly over `total` frames (the middle of each equal part)."""
    if total <= 0:
        return []
    return sorted({min(total - 1, int((i + 0.5) * total / count)) for i in range(count)})


def draw_record(image: np.ndarray, record: dict) -> np.ndarray:
    """A JSONL record's tracks drawn as `track` draws them (for a run without the annotated video)."""
    tracks = []
    for t in record.get("tracks") or ():
        box = t.get("box")
        if not box or None in box:
            continue
        points = t.get("keypoints")
        keypoints = None
        if points:
            keypoints = np.array([[np.nan if v is None else v for v in p] for p in points], dtype=float)
        tracks.append(
            Track(int(t.get("id", 0)), np.array(box, dtype=float), float(t.get("score") or 0), keypoints)
        )
    return draw_tracks(image.copy(), tracks)


def resize_to_width(image: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    if width >= image.shape[1]:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def heat_map(
    background: np.ndarray | None, grid: np.ndarray, size: tuple[int, int], width: int
) -> np.ndarray:
    """Foot points per grid cell as a glow over a greyed, darkened frame of the video, `width` pixels
    wide: the colour scale runs from none to the busiest cell, and the photo stays visible where
    nobody stood."""
    frame_width, frame_height = size
    height = max(1, round(frame_height * width / frame_width))
    if background is None:
        base = np.full((height, width, 3), 40, np.uint8)
    else:
        grey = cv2.cvtColor(
            cv2.resize(background, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        base = cv2.cvtColor((grey * 0.55).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    peak = float(grid.max()) if grid.size else 0.0
    if peak <= 0:
        return base
    smooth = cv2.GaussianBlur(grid.astype(np.float32), (0, 0), sigmaX=1.0)
    density = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_CUBIC)
    density = np.clip(density / max(float(smooth.max()), 1e-9), 0.0, 1.0)
    colour = cv2.applyColorMap(_levels(density), HEAT_COLORMAP).astype(np.float32)
    alpha = np.clip(1.6 * np.sqrt(density), 0.0, 0.85)[..., None]  # fades out at the edges, no halo
    return (base * (1 - alpha) + colour * alpha).astype(np.uint8)


def colormap_stops(count: int = 6) -> list[str]:
    """The heat map's colours from none to most, as CSS colours for the legend under it."""
    bgr = cv2.applyColorMap(_levels(np.linspace(0, 1, count).reshape(-1, 1)), HEAT_COLORMAP).reshape(-1, 3)
    return [f"#{r:02x}{g:02x}{b:02x}" for b, g, r in bgr.tolist()]


def _levels(density: np.ndarray) -> np.ndarray:
    """Density 0-1 to colour-map levels, skipping the map's near-black start, which would vanish
    on the darkened frame."""
    return (255 * (HEAT_START + (1 - HEAT_START) * density)).astype(np.uint8)


# ------------------------------------------------------------------------------------- encoding
@dataclass(frozen=True)
class Picture:
    """An encoded image and its size in pixels (the page states it, so the layout never waits for
    the image to decode)."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def jpeg(image: np.ndarray, quality: int) -> Picture:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return Picture(data.tobytes(), "image/jpeg", image.shape[1], image.shape[0])


def palette_png(rgba: np.ndarray) -> Picture:
    """A plot (RGBA, e.g. a matplotlib canvas) as a PNG of PLOT_COLORS colours."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3])).quantize(
        PLOT_COLORS, method=Image.Quantize.FASTOCTREE
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return Picture(buffer.getvalue(), "image/png", rgba.shape[1], rgba.shape[0])
