"""A labelled photo folder's confusion matrix as a picture (``ferlive analyze faces/ --plot confusion.png``).

Rows are the classes the folders name, columns the label shown for each photo's largest face (and "no face" where
none was found in some photo); each cell holds the share of the row's photos and their count, shaded by the share,
so where a model goes wrong on a set of photos reads at a glance. Drawn with Qt's painter, offscreen without a
screen.
"""

from __future__ import annotations

from pathlib import Path

from app.dataset_score import DatasetScore
from app.errors import OutputError
from app.ui.timeline_plot import ensure_app

CELL = 86  # pixels a side
MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM = 130, 70, 30, 110


def save_confusion(path: str | Path, score: DatasetScore, title: str = "") -> Path:
    """Write ``score``'s confusion matrix as a PNG picture at ``path``; ``OutputError`` when it cannot be written."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"Cannot write the confusion matrix to {path}: use a .png file name.")
    ensure_app()
    classes = score.classes
    matrix = score.confusion if score.confusion[:, -1].any() else score.confusion[:, :-1]
    columns = [*classes, "no face"][:matrix.shape[1]]
    totals = matrix.sum(axis=1)
    width = MARGIN_LEFT + CELL * len(columns) + MARGIN_RIGHT
    height = MARGIN_TOP + CELL * len(classes) + MARGIN_BOTTOM
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        font = QFont()
        font.setPixelSize(15)
        painter.setFont(font)
        heading = f"{100 * score.accuracy:.1f}% of {score.scored} photos right" if score.scored else "no photo scored"
        painter.setPen(QColor("black"))
        painter.drawText(QRectF(0, 8, width, 26), Qt.AlignmentFlag.AlignCenter,
                         " · ".join(part for part in (title, heading) if part))
        font.setPixelSize(13)
        painter.setFont(font)
        for r, name in enumerate(classes):
            y = MARGIN_TOP + r * CELL
            painter.setPen(QColor("black"))
            painter.drawText(QRectF(0, y, MARGIN_LEFT - 10, CELL), Qt.AlignmentFlag.AlignRight
                             | Qt.AlignmentFlag.AlignVCenter, f"{name} ({totals[r]})")
            for c in range(len(columns)):
                share = matrix[r, c] / totals[r] if totals[r] else 0.0
                cell = QRectF(MARGIN_LEFT + c * CELL, y, CELL, CELL)
                shade = QColor.fromRgbF(1.0 - 0.85 * share, 1.0 - 0.6 * share, 1.0 - 0.25 * share)
                painter.fillRect(cell, shade if totals[r] else QColor(240, 240, 240))
                painter.setPen(QPen(QColor(200, 200, 200), 1))
                painter.drawRect(cell)
                if totals[r]:
                    painter.setPen(QColor("white") if share > 0.5 else QColor("black"))
                    painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, f"{share:.2f}\n({matrix[r, c]})")
        painter.setPen(QColor("black"))
        for c, name in enumerate(columns):
            painter.save()
            painter.translate(MARGIN_LEFT + (c + 0.5) * CELL, MARGIN_TOP + len(classes) * CELL + 8)
            painter.rotate(-35)
            painter.drawText(QRectF(-120, -10, 120, 20), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             name)
            painter.restore()
        painter.drawText(QRectF(MARGIN_LEFT, height - 28, CELL * len(columns), 22), Qt.AlignmentFlag.AlignCenter,
                         "label shown (the largest face of each photo)")
        painter.save()
        painter.translate(16, MARGIN_TOP + len(classes) * CELL / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-120, -10, 240, 20), Qt.AlignmentFlag.AlignCenter, "folder (true class)")
        painter.restore()
    finally:
        painter.end()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = image.save(str(path))
    except OSError as exc:
        raise OutputError(f"Cannot write the confusion matrix to {path}: {exc.strerror or exc}.") from exc
    if not ok:
        raise OutputError(f"Cannot write the confusion matrix to {path}: Qt could not save the picture.")
    return path
