"""Icons drawn or taken from the style instead of symbol characters.

Glyphs such as a pause or reload sign render as empty boxes where the font lacks them (a bare Xvfb, many Linux
installs); a drawn pixmap or a ``QStyle`` standard icon always shows.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

RECORD_RED = "#e5484d"


def dot_icon(color: str = RECORD_RED, size: int = 16) -> QIcon:
    """A filled circle: the record sign."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(2, 2, size - 4, size - 4)
    painter.end()
    return QIcon(pixmap)


def standard_icon(name: str) -> QIcon:
    """``QStyle.StandardPixmap.SP_<name>`` from the application style, e.g. "MediaPause", "BrowserReload"."""
    return QApplication.style().standardIcon(getattr(QStyle.StandardPixmap, f"SP_{name}"))
