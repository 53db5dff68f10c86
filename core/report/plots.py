"""One video's plots: people in view, a bar per identity, keypoint confidence and processing speed,
stacked on one time axis in seconds of video, so a moment reads straight down all four.

matplotlib's object API on the Agg canvas (no pyplot: no global state, no display). The panels are
placed in inches, not by tight_layout, which would draw the figure twice: one draw per video is
what keeps a 200-video report quick to build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.report.digest import VideoDigest
from core.report.images import Picture, palette_png
from core.report.series import BinnedValues
from core.video.drawing import id_color

MAX_IDENTITIES = 40  # bars in the track timeline; more would be too thin to read
DPI = 96
WIDTH_IN = 9.4
LEFT_IN, RIGHT_IN = 0.7, 0.2
TOP_IN, BOTTOM_IN, GAP_IN = 0.3, 0.5, 0.55
PANEL_IN = 1.25
BAR_IN = 0.17  # per identity row
LINE_COLOR = "#1f5fa8"
BAND_COLOR = "#9ec3ea"
REFERENCE_COLOR = "#b03030"


@dataclass(frozen=True)
class Panel:
    title: str
    height: float  # inches


def timeline_figure(digest: VideoDigest) -> Picture:
    """The four panels of one video as a PNG picture."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = identities_shown(digest)
    panels = [
        Panel("People in view (mean per time step; band: fewest to most)", PANEL_IN),
        Panel(_timeline_title(len(shown), len(digest.tracks)), max(PANEL_IN, BAR_IN * len(shown) + 0.3)),
        Panel("Keypoint confidence: mean score of every keypoint in view (0-1)", PANEL_IN),
        Panel(_speed_title(digest.fps), PANEL_IN),
    ]
    height = TOP_IN + BOTTOM_IN + sum(p.height for p in panels) + GAP_IN * (len(panels) - 1)
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes, top = [], height - TOP_IN
    for panel in panels:
        bottom = top - panel.height
        rect = (
            LEFT_IN / WIDTH_IN,
            bottom / height,
            1 - (LEFT_IN + RIGHT_IN) / WIDTH_IN,
            panel.height / height,
        )
        ax = figure.add_axes(rect, sharex=axes[0] if axes else None)
        ax.set_title(panel.title, loc="left", fontsize=10, y=1.0, pad=4)
        ax.yaxis.set_label_coords(-0.055, 0.5)
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        axes.append(ax)
        top = bottom - GAP_IN
    people, tracks, confidence, speed = axes
    _series(people, digest.people, "people", integer=True)
    _tracks(tracks, shown, digest.interval)
    _series(confidence, digest.confidence, "score")
    confidence.set_ylim(0, 1.02)
    _series(speed, digest.speed, "FPS")
    _real_time(speed, digest)
    people.set_xlim(0, max(digest.duration, digest.interval))
    speed.set_xlabel("time in the video (s)", fontsize=9)
    figure.canvas.draw()
    return palette_png(np.asarray(figure.canvas.buffer_rgba()))


def warm_up() -> None:
    """Import matplotlib and draw a little text at the plots' sizes: the font files and glyph caches
    load now, not in the first video's figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1), dpi=DPI)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.3, 0.3, 0.6, 0.6))
    ax.set_title("People 0123456789", fontsize=10)
    ax.set_ylabel("people", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.text(0, 0, "ID 7", fontsize=7)
    figure.canvas.draw()
    palette_png(np.asarray(figure.canvas.buffer_rgba()))


def identities_shown(digest: VideoDigest) -> list:
    """The identities the timeline draws: all, or the MAX_IDENTITIES seen in most frames; in order of
    first appearance, the first at the top."""
    spans = digest.tracks
    if len(spans) > MAX_IDENTITIES:
        keep = {id(s) for s in sorted(spans, key=lambda s: -s.frames)[:MAX_IDENTITIES]}
        spans = [s for s in spans if id(s) in keep]
    return spans


def _timeline_title(shown: int, total: int) -> str:
    what = f"the {shown} seen longest of {total} identities" if shown < total else "one bar per identity"
    return f"Track timeline: {what}, first to last frame (solid where seen, faint across gaps)"


def _speed_title(fps: float) -> str:
    return f"Processing speed: frames written per second of wall time (the video plays at {fps:g} FPS)"


def _series(ax, values: BinnedValues | None, label: str, integer: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_ylabel(label, fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=integer))
    ax.grid(True, color="#dddddd", linewidth=0.6)
    if values is None or not np.isfinite(values.mean).any():
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center", color="#888888")
        ax.set_ylim(0, 1)
        return
    if values.binned:
        ax.fill_between(values.times, values.low, values.high, step="mid", color=BAND_COLOR, lw=0)
    ax.step(values.times, values.mean, where="mid", color=LINE_COLOR, linewidth=1.3)
    ax.set_ylim(0, max(1.0, float(np.nanmax(values.high))) * 1.08)


def _tracks(ax, spans: list, interval: float) -> None:
    from matplotlib.collections import PolyCollection

    ax.set_ylabel("identity", fontsize=9)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    if not spans:
        ax.text(0.5, 0.5, "nobody tracked", transform=ax.transAxes, ha="center", va="center", color="#888888")
        ax.set_yticks([])
        ax.set_ylim(0, 1)
        return
    rows = len(spans)
    faint, solid, faint_colors, solid_colors = [], [], [], []
    for row, span in enumerate(spans):
        y = rows - 1 - row
        color = _rgb(id_color(span.id))
        faint.append(_rect(span.first, span.last + interval, y, 0.18))
        faint_colors.append((*color, 0.35))
        for start, end in span.segments:
            solid.append(_rect(start, end + interval, y, 0.36))
            solid_colors.append((*color, 1.0))
    ax.add_collection(PolyCollection(faint, facecolors=faint_colors, linewidths=0))
    ax.add_collection(PolyCollection(solid, facecolors=solid_colors, edgecolors="#333333", linewidths=0.3))
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_yticks(range(rows), [str(span.id) for span in reversed(spans)], fontsize=7 if rows > 12 else 8)


def _real_time(ax, digest: VideoDigest) -> None:
    """The video's own frame rate as a dashed line, when it is within sight of the measured rate."""
    top = ax.get_ylim()[1]
    if digest.fps <= top * 1.5:
        ax.axhline(digest.fps, color=REFERENCE_COLOR, linestyle="--", linewidth=1)
        ax.text(
            0.995,
            digest.fps,
            f" real time {digest.fps:g} FPS",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="bottom",
            fontsize=8,
            color=REFERENCE_COLOR,
        )
        ax.set_ylim(0, max(top, digest.fps * 1.15))


def _rect(start: float, end: float, y: float, half: float) -> list[tuple[float, float]]:
    return [(start, y - half), (end, y - half), (end, y + half), (start, y + half)]


def _rgb(bgr: tuple[int, int, int]) -> tuple[float, float, float]:
    return bgr[2] / 255, bgr[1] / 255, bgr[0] / 255
