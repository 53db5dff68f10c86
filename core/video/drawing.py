"""Drawing poses, tracks and a status panel on BGR frames with OpenCV, in place.

Limbs are coloured by body side (left / right / centre) so a mirrored pose is obvious at a glance;
boxes and ID labels take a colour derived from the track ID alone, so a person keeps their colour
across frames, runs and machines. Line widths and text grow with the frame so 4K and 360p both read
well. Everything is plain ``cv2`` calls with anti-aliasing and sub-pixel coordinates, a few
milliseconds for ten people on a 1080p frame.

`DrawStyle` holds the settings of drawing (which joints show, whether the HUD is burned in): whoever
draws is handed one whole, and changing how frames look means handing over another; nothing that
computes poses sees it.
"""

import colorsys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from core.errors import UserError
from core.keypoints import NAMES, SKELETON
from core.records import Pose, Track, TrackState

Color = tuple[int, int, int]  # BGR

LEFT_COLOR: Color = (255, 160, 0)  # azure
RIGHT_COLOR: Color = (0, 140, 255)  # orange
CENTER_COLOR: Color = (80, 220, 80)  # green
POSE_BOX_COLOR: Color = (200, 200, 200)
PANEL_TEXT_COLOR: Color = (255, 255, 255)
BANNER_COLOR: Color = (0, 0, 200)  # red: a warning the user must not miss
DEFAULT_THRESHOLD = 0.3  # joints scored below this are hidden, with their limbs
UNTRAINED_BANNER = "untrained weights: poses are meaningless"

_SHIFT = 4  # sub-pixel bits for cv2 drawing: coordinates are multiplied by 16
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_ASCII = {
    "—": "-",
    "–": "-",
    "−": "-",
    "×": "x",
    "…": "...",
    "·": "-",
    "“": '"',
    "”": '"',
    "’": "'",
    "‘": "'",
}


def _side(name: str) -> str:
    return "left" if name.startswith("left_") else "right" if name.startswith("right_") else "center"


_SIDE_COLORS = {"left": LEFT_COLOR, "right": RIGHT_COLOR, "center": CENTER_COLOR}
JOINT_COLORS: tuple[Color, ...] = tuple(_SIDE_COLORS[_side(name)] for name in NAMES)
# A limb is left or right when both its ends are; links across the body (shoulders, hips, eyes) are centre.
LIMB_COLORS: tuple[Color, ...] = tuple(
    _SIDE_COLORS[_side(NAMES[a])] if _side(NAMES[a]) == _side(NAMES[b]) else CENTER_COLOR for a, b in SKELETON
)


@dataclass(frozen=True)
class DrawStyle:
    """How results are drawn on a frame (`annotate`): a record of its own, so that the app can change
    it between two frames (the next frame is drawn with the new one) and `run.py track` can set it
    from `--kpt-threshold`, without either touching the models or the pipeline's configuration."""

    kpt_threshold: float = DEFAULT_THRESHOLD  # joints scored below this are hidden, with their limbs
    hud: bool = True  # burn ID tags, FPS and the untrained banner in (the app paints them at screen size)

    def __post_init__(self) -> None:
        if not 0.0 <= self.kpt_threshold <= 1.0:
            raise UserError(f"keypoint threshold must be between 0 and 1, got {self.kpt_threshold:g}")


DEFAULT_STYLE = DrawStyle()  # frozen: one shared default is safe


@dataclass(frozen=True)
class Strokes:
    """Line widths and text size for one frame size (1.0 at 720p)."""

    line: int
    radius: int
    font_scale: float
    font_thickness: int

    @classmethod
    def for_frame(cls, frame: np.ndarray) -> "Strokes":
        scale = min(frame.shape[0], frame.shape[1]) / 720.0
        return cls(
            line=max(1, round(2 * scale)),
            radius=max(2, round(3 * scale)),
            font_scale=max(0.35, 0.6 * scale),
            font_thickness=max(1, round(1.5 * scale)),
        )


@lru_cache(maxsize=1024)
def id_color(track_id: int) -> Color:
    """A bright BGR colour from the ID alone: golden-ratio hue steps keep neighbouring IDs apart."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return (round(b * 255), round(g * 255), round(r * 255))


def ascii_text(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: dashes and the like become their ASCII look-alikes."""
    text = "".join(_ASCII.get(ch, ch) for ch in text)
    return unicodedata.normalize("NFKD", text).encode("ascii", "replace").decode("ascii")


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates to cv2's fixed-point integers (bounded, so no overflow)."""
    return np.round(np.clip(points, -1e5, 1e5) * (1 << _SHIFT)).astype(np.int64)


def draw_skeleton(
    frame: np.ndarray,
    keypoints: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    strokes: Strokes | None = None,
    color: Color | None = None,
) -> None:
    """Limbs and joints of one person; (J, 3) keypoints (x, y, score), or (J, 2) all shown.

    Joints scored below ``threshold`` (or not finite) are hidden together with their limbs.
    ``color`` overrides the per-side colours.
    """
    strokes = strokes or Strokes.for_frame(frame)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    xy = keypoints[:, :2]
    shown = np.isfinite(xy).all(axis=1)
    if keypoints.shape[1] > 2:
        shown &= keypoints[:, 2] >= threshold
    points = [tuple(p) for p in _fixed(np.where(shown[:, None], xy, 0.0)).tolist()]
    for (a, b), limb_color in zip(SKELETON, LIMB_COLORS, strict=True):
        if a < len(points) and b < len(points) and shown[a] and shown[b]:
            cv2.line(frame, points[a], points[b], color or limb_color, strokes.line, cv2.LINE_AA, _SHIFT)
    for index in np.flatnonzero(shown):
        joint_color = color or JOINT_COLORS[index % len(JOINT_COLORS)]
        cv2.circle(frame, points[index], strokes.radius << _SHIFT, joint_color, -1, cv2.LINE_AA, _SHIFT)


def draw_box(frame: np.ndarray, box: np.ndarray, color: Color, thickness: int) -> None:
    """An (x1, y1, x2, y2) rectangle; nothing for a box with non-finite corners.

    Axis-aligned edges need no anti-aliasing: whole pixels keep them crisp and cost a third."""
    box = np.asarray(box, dtype=np.float64)
    if not np.isfinite(box).all():
        return
    x1, y1, x2, y2 = np.round(np.clip(box, -1e5, 1e5)).astype(int).tolist()
    cv2.rectangle(frame, (x1, y1), (x2, y2), color, thickness, cv2.LINE_8)


def draw_label(
    frame: np.ndarray, text: str, anchor: tuple[float, float], color: Color, strokes: Strokes
) -> None:
    """Text on a filled tag in ``color``, sitting on top of ``anchor`` (a box's top-left corner)."""
    text = ascii_text(text)
    (width, height), baseline = cv2.getTextSize(text, _FONT, strokes.font_scale, strokes.font_thickness)
    pad = max(2, strokes.font_thickness * 2)
    x = int(np.clip(anchor[0], 0, max(0, frame.shape[1] - width - 2 * pad)))
    y = int(np.clip(anchor[1], height + baseline + 2 * pad, frame.shape[0]))
    cv2.rectangle(frame, (x, y - height - baseline - 2 * pad), (x + width + 2 * pad, y), color, -1)
    luminance = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(
        frame,
        text,
        (x + pad, y - baseline - pad),
        _FONT,
        strokes.font_scale,
        ink,
        strokes.font_thickness,
        cv2.LINE_AA,
    )


def draw_poses(
    frame: np.ndarray,
    poses: Iterable[Pose],
    threshold: float = DEFAULT_THRESHOLD,
    draw_boxes: bool = True,
    box_color: Color = POSE_BOX_COLOR,
) -> np.ndarray:
    """Skeletons (and boxes) of untracked poses, in place; returns ``frame`` for chaining."""
    strokes = Strokes.for_frame(frame)
    for pose in poses:
        if draw_boxes:
            draw_box(frame, pose.box, box_color, max(1, strokes.line // 2))
        draw_skeleton(frame, pose.keypoints, threshold, strokes)
    return frame


def draw_tracks(
    frame: np.ndarray,
    tracks: Iterable[Track],
    threshold: float = DEFAULT_THRESHOLD,
    draw_boxes: bool = True,
    draw_labels: bool = True,
    skeleton_in_id_color: bool = False,
) -> np.ndarray:
    """Tracks in place: box and ID tag in the ID's colour, skeleton by body side (or in the ID's
    colour). Tracks that are not confirmed get a thin box. Returns ``frame`` for chaining."""
    strokes = Strokes.for_frame(frame)
    tracks = list(tracks)
    for track in tracks:
        color = id_color(track.id)
        if draw_boxes:
            thickness = strokes.line if track.state == TrackState.CONFIRMED else max(1, strokes.line // 2)
            draw_box(frame, track.box, color, thickness)
        if track.keypoints is not None:
            draw_skeleton(frame, track.keypoints, threshold, strokes, color if skeleton_in_id_color else None)
    if draw_labels:
        draw_track_labels(frame, tracks, strokes)
    return frame


def draw_track_labels(
    frame: np.ndarray, tracks: Iterable[Track], strokes: Strokes | None = None
) -> np.ndarray:
    """Each track's ID tag on its box's top-left corner, in the ID's colour; in place."""
    strokes = strokes or Strokes.for_frame(frame)
    for track in tracks:
        if np.isfinite(np.asarray(track.box, dtype=np.float64)).all():
            corner = (float(track.box[0]), float(track.box[1]))
            draw_label(frame, f"{track.id}", corner, id_color(track.id), strokes)
    return frame


def draw_fps(
    frame: np.ndarray,
    fps: float | None = None,
    lines: Sequence[str] = (),
    banner: str | None = None,
    opacity: float = 0.6,
) -> np.ndarray:
    """A status panel at the top left ("FPS 29.8" and any further lines) on a darkened background,
    and an optional full-width red ``banner`` above it, e.g. "UNTRAINED WEIGHTS — poses are
    meaningless". Only the panel's pixels are blended, which keeps this cheap on large frames."""
    strokes = Strokes.for_frame(frame)
    texts = ([f"FPS {fps:.1f}"] if fps is not None else []) + [ascii_text(t) for t in lines]
    (_, line_height), baseline = cv2.getTextSize("Ag", _FONT, strokes.font_scale, strokes.font_thickness)
    step = line_height + baseline + max(4, line_height // 2)
    pad = max(4, step // 3)
    top = 0
    if banner:
        band = step + 2 * pad
        cv2.rectangle(frame, (0, 0), (frame.shape[1] - 1, min(band, frame.shape[0]) - 1), BANNER_COLOR, -1)
        cv2.putText(
            frame,
            ascii_text(banner),
            (pad, (band + line_height) // 2),
            _FONT,
            strokes.font_scale,
            PANEL_TEXT_COLOR,
            strokes.font_thickness,
            cv2.LINE_AA,
        )
        top = band
    if not texts:
        return frame
    width = max(cv2.getTextSize(t, _FONT, strokes.font_scale, strokes.font_thickness)[0][0] for t in texts)
    x2 = min(frame.shape[1], width + 2 * pad)
    y2 = min(frame.shape[0], top + len(texts) * step + pad)
    if y2 > top and x2 > 0:
        region = frame[top:y2, :x2]
        region[:] = (region * (1.0 - opacity)).astype(frame.dtype)  # darken toward black
    for i, text in enumerate(texts):
        baseline_y = top + pad + line_height + i * step
        cv2.putText(
            frame,
            text,
            (pad, baseline_y),
            _FONT,
            strokes.font_scale,
            PANEL_TEXT_COLOR,
            strokes.font_thickness,
            cv2.LINE_AA,
        )
    return frame


def annotate(
    image: np.ndarray,
    tracks: list[Track],
    trained: bool,
    fps: float | None = None,
    style: DrawStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """A drawn copy of the frame (the frame itself stays clean for other consumers).

    Skeletons and boxes belong to the picture; the HUD (ID tags, FPS, the untrained banner) is
    burned in only with `style.hud`: the app paints it over the scaled view instead, at screen size."""
    annotated = image.copy()
    draw_tracks(annotated, tracks, style.kpt_threshold, draw_labels=False)
    if style.hud:
        burn_hud(annotated, tracks, fps, trained)
    return annotated


def burn_hud(image: np.ndarray, tracks: list[Track], fps: float | None, trained: bool) -> np.ndarray:
    """ID tags, the FPS panel and, for untrained weights, the banner, drawn into `image` in place
    (annotated files; the app paints the same over its view, at screen size)."""
    draw_track_labels(image, tracks)
    banner = None if trained else UNTRAINED_BANNER
    if fps is not None or banner:
        draw_fps(image, fps, banner=banner)
    return image
