"""The live picture: an annotated BGR frame scaled to the widget with its aspect ratio kept.

Painting is the only work done here (no OpenCV): the frame is wrapped as a QImage without conversion and
scaled while painting. Clicks are mapped back to frame pixels so the window can select the face under them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


def qimage_from_bgr(image: np.ndarray) -> QImage:
    """A QImage that owns a copy of ``image`` (H x W x 3 uint8 BGR), safe to keep after the array changes."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if image.ndim == 2:
        return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888).copy()


class VideoView(QWidget):
    """Shows the newest frame; emits ``clicked(x, y)`` in frame pixel coordinates."""

    clicked = Signal(float, float)
    doubleClicked = Signal()  # noqa: N815 (Qt naming) - the window toggles full-screen presentation

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = "No video"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.frames_shown = 0

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        return QSize(960, 540)

    @property
    def image(self) -> QImage | None:
        return self._image

    def set_frame(self, image: np.ndarray) -> None:
        self._image = qimage_from_bgr(image)
        self.frames_shown += 1
        self.update()

    def clear(self, placeholder: str = "No video") -> None:
        self._image = None
        self._placeholder = placeholder
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        if self._image is None:
            self.update()

    def target_rect(self) -> QRectF:
        """Where the frame is drawn: as large as fits, centred, aspect kept."""
        if self._image is None or self._image.isNull():
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(18, 18, 18))
        if self._image is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.target_rect(), self._image)

    def map_to_frame(self, pos: QPointF) -> tuple[float, float] | None:
        rect = self.target_rect()
        if rect.isEmpty() or not rect.contains(pos) or self._image is None:
            return None
        sx = self._image.width() / rect.width()
        return (pos.x() - rect.x()) * sx, (pos.y() - rect.y()) * sx

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Not passed on: QWidget's default treats a double-click as another press, which would select a face."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.doubleClicked.emit()
            event.accept()
        else:
            super().mouseDoubleClickEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        point = self.map_to_frame(event.position())
        if point is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(*point)
        super().mousePressEvent(event)
