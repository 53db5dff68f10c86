"""A widget that paints the newest frame of one source, scaled to fit with its aspect ratio kept, and
the HUD over it at screen resolution.

Frames arrive faster than a screen refreshes, so the view only keeps the latest QImage and asks Qt
for one repaint; Qt coalesces pending repaints, so a burst of frames costs one paint, never a queue.
The widget paints every pixel itself (opaque paint event) — no background erase, hence no flicker.

The HUD (FPS, track ID tags, the source caption, a state badge) is painted here in screen pixels
after the frame is scaled, so its text has the same size in a 2×2 grid as in full screen; only
skeletons and boxes are part of the (scaled) picture. Each paint also closes the frame's
capture-to-display latency (capture timestamp → this paint).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PyQt6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent
from PyQt6.QtWidgets import QSizePolicy, QWidget

from core.pipeline import LatencyWindow

BACKGROUND = QColor(18, 18, 20)
CAPTION = QColor(235, 235, 235)
HUD_PIXELS = 14  # text height of the HUD in screen pixels, whatever the view's size
BADGE_PIXELS = 18
LOST_TINT = QColor(40, 40, 44, 170)  # over the last frame of a stream that is gone
BANNER = QColor(179, 38, 30)  # the untrained-weights banner's red, as the window shows it


@dataclass(frozen=True)
class Tag:
    """A track's ID tag: its box's top-left corner in frame pixels, text and colour (BGR, as drawn)."""

    x: float
    y: float
    text: str
    color: tuple[int, int, int]


class VideoView(QWidget):
    """Shows one video stream; `set_image` may be called at any rate from the GUI thread."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._title = title
        self._badge = ""  # e.g. "PAUSED", drawn top-right
        self._stale = False  # the frame shown is the last of a stream that is gone: greyed
        self._tags: list[Tag] = []
        self._fps: float | None = None
        self._captured: float | None = None  # capture time of the frame not painted yet
        self.latency = LatencyWindow(120)  # capture → paint, seconds
        self._message = "No video — open a webcam, stream or file above"
        self._notice = ""  # e.g. "no new frame for 7 s", drawn bottom-centre
        self.created = time.monotonic()
        self.last_image_at: float | None = None  # monotonic time the newest frame was handed over
        self.first_painted_at: float | None = None  # monotonic time the first frame was painted
        self.first_logged = False  # the window's event log has said so
        self.frames_shown = 0  # images handed to the view (tests and the stats panel read it)
        self.frames_painted = 0
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def image(self) -> QImage | None:
        return self._image

    def title(self) -> str:
        return self._title

    def set_title(self, title: str) -> None:
        self._title = title
        self.update()

    def badge(self) -> str:
        return self._badge

    def set_badge(self, text: str, stale: bool = False) -> None:
        """A state shown top-right ("PAUSED", "STREAM LOST …"); `stale` greys the frame under it."""
        self._badge, self._stale = text, stale
        self.update()

    def stale(self) -> bool:
        return self._stale

    def message(self) -> str:
        return self._message

    def set_fps(self, fps: float | None) -> None:
        """The FPS the statistics panel shows (core.pipeline.stats), painted top-left of the frame."""
        self._fps = fps
        self.update()

    def set_image(self, image: QImage, captured: float | None = None, tags: list[Tag] | None = None) -> None:
        """Keep a reference to the newest frame (the QImage must own its pixels) and schedule a paint.

        `captured` (time.monotonic() at capture) makes the next paint record the frame's latency."""
        self._image = image
        self._captured = captured
        self._tags = list(tags or [])
        self.frames_shown += 1
        self.last_image_at = time.monotonic()
        self.update()

    def clear(self, message: str = "") -> None:
        self._image = None
        self._tags = []
        if message:
            self._message = message
        self.update()

    def set_message(self, message: str) -> None:
        """What an empty view says ("connecting to …", "loading model …")."""
        if message != self._message:
            self._message = message
            self.update()

    def notice(self) -> str:
        return self._notice

    def set_notice(self, text: str) -> None:
        """A line about the picture's freshness ("no new frame for 7 s"), bottom-centre; "" hides it."""
        if text != self._notice:
            self._notice = text
            self.update()

    def image_rect(self, area: QRect | None = None) -> QRect:
        """Where the frame lands inside `area` (the widget): as large as fits, aspect ratio kept, centred."""
        area = self.rect() if area is None else area
        if self._image is None or self._image.isNull():
            return QRect()
        size = self._image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = area.x() + (area.width() - size.width()) // 2
        y = area.y() + (area.height() - size.height()) // 2
        return QRect(x, y, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        self._paint(painter, self.rect(), 1.0)
        painter.end()
        self.frames_painted += 1
        if self.first_painted_at is None and self._image is not None:
            self.first_painted_at = time.monotonic()
        if self._captured is not None:
            self.latency.add(time.monotonic() - self._captured)
            self._captured = None

    def snapshot(self, banner: str = "") -> QImage | None:
        """What the view shows — the frame with its HUD (IDs, FPS, caption, badge, notice) and the
        window's `banner` (untrained weights) along the bottom — at the frame's own resolution, the
        HUD scaled as on a 960-pixel-wide view; None without a frame."""
        if self._image is None or self._image.isNull():
            return None
        picture = QImage(self._image.size(), QImage.Format.Format_RGB888)
        scale = max(1.0, picture.width() / 960)
        painter = QPainter(picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint(painter, picture.rect(), scale)
        if banner:
            painter.setFont(self._hud_font(bold=True, scale=scale))
            height = painter.fontMetrics().height() + round(8 * scale)
            strip = QRect(0, picture.height() - height, picture.width(), height)
            painter.fillRect(strip, BANNER)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(strip, Qt.AlignmentFlag.AlignCenter, banner)
        painter.end()
        return picture

    def _paint(self, painter: QPainter, area: QRect, scale: float) -> None:
        """Everything the view shows, into `area`, the HUD's text `scale` times its screen size."""
        painter.fillRect(area, BACKGROUND)
        if self._image is not None and not self._image.isNull():
            target = self.image_rect(area)
            downscaling = target.width() < self._image.width()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, downscaling)
            painter.drawImage(QRectF(target), self._image)
            if self._stale:
                painter.fillRect(target, LOST_TINT)
            else:
                self._paint_tags(painter, target, scale)
            self._paint_fps(painter, self._fps_rect(target, scale), scale)
        else:
            painter.setPen(QColor(170, 170, 175))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
        if self._title:
            self._paint_caption(painter, area, scale)
        if self._badge:
            self._paint_badge(painter, area, scale)
        if self._notice:
            self._paint_notice(painter, area, scale)

    def _hud_font(self, pixels: int = HUD_PIXELS, bold: bool = False, scale: float = 1.0) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(round(pixels * scale))  # pixels, not points: the same size at any view size and DPI
        font.setBold(bold)
        return font

    def _paint_tags(self, painter: QPainter, target: QRect, scale: float) -> None:
        if not self._tags:
            return
        zoom = target.width() / max(1, self._image.width())
        painter.setFont(self._hud_font(bold=True, scale=scale))
        metrics = painter.fontMetrics()
        for tag in self._tags:
            blue, green, red = tag.color
            width, height = metrics.horizontalAdvance(tag.text) + 8 * scale, metrics.height() + 2 * scale
            corner = QPointF(target.x() + tag.x * zoom, target.y() + tag.y * zoom)
            x = min(max(corner.x(), target.left()), target.right() - width)
            y = min(max(corner.y() - height, target.top()), target.bottom() - height)
            box = QRectF(x, y, width, height)
            painter.fillRect(box, QColor(red, green, blue))
            luminance = 0.114 * blue + 0.587 * green + 0.299 * red
            painter.setPen(QColor(0, 0, 0) if luminance > 140 else QColor(255, 255, 255))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, tag.text)

    def hud_fps_rect(self) -> QRect:
        """Where the FPS text is painted (empty when there is none): the HUD's size, for tests."""
        return self._fps_rect(self.image_rect(), 1.0)

    def _fps_rect(self, target: QRect, scale: float) -> QRect:
        if self._fps is None or self._image is None:
            return QRect()
        metrics = QFontMetrics(self._hud_font(bold=True, scale=scale))
        top = target.y() + round((metrics.height() + 10 * scale) if self._title else 4 * scale)
        width = metrics.horizontalAdvance(self._fps_text()) + round(12 * scale)
        return QRect(target.x() + round(4 * scale), top, width, metrics.height() + round(4 * scale))

    def _fps_text(self) -> str:
        return f"FPS {self._fps:.1f}"

    def _paint_fps(self, painter: QPainter, box: QRect, scale: float) -> None:
        if box.isNull():
            return
        painter.setFont(self._hud_font(bold=True, scale=scale))
        painter.fillRect(box, QColor(0, 0, 0, 160))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._fps_text())

    def _paint_caption(self, painter: QPainter, area: QRect, scale: float) -> None:
        """Source name in the top-left corner on a translucent strip, readable on any frame."""
        painter.setFont(self._hud_font(scale=scale))
        metrics = painter.fontMetrics()
        room = max(40, area.width() - round(16 * scale))
        text = metrics.elidedText(self._title, Qt.TextElideMode.ElideMiddle, room)
        pad = round(6 * scale)
        box = QRect(area.x(), area.y(), metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + pad)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(CAPTION)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_notice(self, painter: QPainter, area: QRect, scale: float) -> None:
        painter.setFont(self._hud_font(bold=True, scale=scale))
        metrics = painter.fontMetrics()
        room = max(60, area.width() - round(36 * scale))
        text = metrics.elidedText(self._notice, Qt.TextElideMode.ElideRight, room)
        pad = round(8 * scale)
        width, height = metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + pad
        x, y = area.x() + (area.width() - width) // 2, area.bottom() - height - round(10 * scale)
        box = QRect(x, y, width, height)
        painter.fillRect(box, QColor(0, 0, 0, 190))
        painter.setPen(QColor(255, 200, 60))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_badge(self, painter: QPainter, area: QRect, scale: float) -> None:
        painter.setFont(self._hud_font(BADGE_PIXELS, bold=True, scale=scale))
        metrics = painter.fontMetrics()
        room = max(60, area.width() - round(36 * scale))
        text = metrics.elidedText(self._badge, Qt.TextElideMode.ElideRight, room)
        pad = round(10 * scale)
        width, height = metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + pad
        below_caption = round(8 * scale) + (metrics.height() if self._title else 0)
        box = QRect(area.right() - width - round(8 * scale), area.y() + below_caption, width, height)
        painter.fillRect(box, QColor(0, 0, 0, 190))
        painter.setPen(QColor(255, 200, 60))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
