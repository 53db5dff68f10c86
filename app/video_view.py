"""A widget that paints the newest frame of one source, scaled to fit with its aspect ratio kept.

Frames arrive faster than a screen refreshes, so the view only keeps the latest QImage and asks Qt
for one repaint; Qt coalesces pending repaints, so a burst of frames costs one paint, never a queue.
The widget paints every pixel itself (opaque paint event) — no background erase, hence no flicker.
"""

from PyQt6.QtCore import QRect, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PyQt6.QtWidgets import QSizePolicy, QWidget

BACKGROUND = QColor(18, 18, 20)
CAPTION = QColor(235, 235, 235)


class VideoView(QWidget):
    """Shows one video stream; `set_image` may be called at any rate from the GUI thread."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._title = title
        self._badge = ""  # e.g. "PAUSED", drawn top-right
        self._message = "No video — open a webcam, stream or file above"
        self.frames_shown = 0  # images handed to the view (tests and the stats panel read it)
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

    def set_badge(self, text: str) -> None:
        self._badge = text
        self.update()

    def set_image(self, image: QImage) -> None:
        """Keep a reference to the newest frame (the QImage must own its pixels) and schedule a paint."""
        self._image = image
        self.frames_shown += 1
        self.update()

    def clear(self, message: str = "") -> None:
        self._image = None
        if message:
            self._message = message
        self.update()

    def image_rect(self) -> QRect:
        """Where the frame lands inside the widget: as large as fits, aspect ratio kept, centred."""
        if self._image is None or self._image.isNull():
            return QRect()
        size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) // 2
        y = (self.height() - size.height()) // 2
        return QRect(x, y, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._image is not None and not self._image.isNull():
            target = self.image_rect()
            downscaling = target.width() < self._image.width()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, downscaling)
            painter.drawImage(QRectF(target), self._image)
        else:
            painter.setPen(QColor(150, 150, 155))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
        if self._title:
            self._paint_caption(painter)
        if self._badge:
            self._paint_badge(painter)
        painter.end()

    def _paint_caption(self, painter: QPainter) -> None:
        """Source name in the top-left corner on a translucent strip, readable on any frame."""
        font = QFont(self.font())
        font.setPointSize(max(8, font.pointSize()))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        text = metrics.elidedText(self._title, Qt.TextElideMode.ElideMiddle, max(40, self.width() - 16))
        box = QRect(0, 0, metrics.horizontalAdvance(text) + 12, metrics.height() + 6)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(CAPTION)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_badge(self, painter: QPainter) -> None:
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSize(font.pointSize() + 4)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width, height = metrics.horizontalAdvance(self._badge) + 20, metrics.height() + 10
        box = QRect(self.width() - width - 8, 8, width, height)
        painter.fillRect(box, QColor(0, 0, 0, 170))
        painter.setPen(QColor(255, 200, 60))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._badge)
