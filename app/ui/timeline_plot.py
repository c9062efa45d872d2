"""A video's expression timeline as a picture (``ferlive analyze --plot``): what the main face showed, when.

Top: the largest face's smoothed probability of each class over the whole video, in the colours of the app's bars
and boxes; frames without a face leave a gap. Below: the label the app showed for it, as coloured runs. With more
than one face tracked, a strip per face follows (``face <track_id>``, as in the CSV; the faces seen longest, up to
``MAX_FACE_STRIPS``), so a group session shows who looked how, when. Event marks set while recording (M in the app)
are dashed lines through all of it, named at the top. Drawn with pyqtgraph (the live timeline's
library) and exported to PNG; ``ferlive analyze`` draws offscreen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import OutputError
from app.timeline import TimelineLog

WIDTH, HEIGHT = 1600, 560  # the picture for one face; each extra face strip adds FACE_STRIP_HEIGHT
FACE_STRIP_HEIGHT = HEIGHT // 6  # as tall as the main face's strip
MAX_FACE_STRIPS = 8


@dataclass(frozen=True)
class Run:
    """Frames in a row that showed one label: from ``start`` to ``end`` seconds (the next frame's time)."""

    start: float
    end: float
    label: int


def shown_runs(times: np.ndarray, labels: np.ndarray) -> list[Run]:
    """Consecutive frames with the same shown label (``-1``: no face) as runs; frames without a face end a run."""
    runs: list[Run] = []
    n = len(times)
    step = float(np.median(np.diff(times))) if n > 1 else 1 / 30
    i = 0
    while i < n:
        j = i
        while j + 1 < n and labels[j + 1] == labels[i]:
            j += 1
        if labels[i] >= 0:
            end = float(times[j + 1]) if j + 1 < n else float(times[j]) + step
            runs.append(Run(float(times[i]), end, int(labels[i])))
        i = j + 1
    return runs


def picture_height(face_strips: int) -> int:
    """The picture's height in pixels with ``face_strips`` per-face strips under the main face's."""
    return HEIGHT + FACE_STRIP_HEIGHT * face_strips


def _label_strip(layout, row: int, top, times: np.ndarray, labels: np.ndarray, colours: list, name: str):
    """A strip of coloured runs, one per stretch of frames that showed one label, x-linked to the curves."""
    import pyqtgraph as pg

    strip = layout.addPlot(row=row, col=0)
    strip.setXLink(top)
    strip.setYRange(0.0, 1.0, padding=0.0)
    strip.setLabel("left", name)
    strip.getAxis("left").setTicks([[]])
    runs = shown_runs(times, labels)
    if runs:
        strip.addItem(pg.BarGraphItem(
            x0=[r.start for r in runs], x1=[r.end for r in runs], y0=[0.0] * len(runs), height=[1.0] * len(runs),
            brushes=[colours[r.label] for r in runs], pens=[pg.mkPen(None)] * len(runs)))
    return strip


def _draw_marks(marks: list[tuple[float, str]], top, strips: list) -> None:
    """The operator's event marks as dashed vertical lines through every plot, named at the top."""
    import pyqtgraph as pg
    from PySide6.QtCore import Qt

    pen = pg.mkPen((40, 40, 40), width=1, style=Qt.PenStyle.DashLine)
    for t, text in marks:
        top.addItem(pg.InfiniteLine(pos=t, angle=90, pen=pen, label=text,
                                    labelOpts={"position": 0.86, "color": "k", "fill": (255, 255, 255, 210)}))
        for strip in strips:
            strip.addItem(pg.InfiniteLine(pos=t, angle=90, pen=pen))


def ensure_app():
    """The QApplication pyqtgraph draws with: the window's, or (``ferlive analyze``, which shows no window) an
    offscreen one, so a server without a screen or without Qt's X11 libraries draws the same picture."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    return app


def save_timeline(path: str | Path, timeline: TimelineLog, title: str = "", from_start: bool = False) -> Path:
    """Write ``timeline`` as a PNG picture at ``path``; ``OutputError`` when it cannot be written.

    ``from_start``: seconds count from the first frame (a recording, whose video starts at 0; a camera's timestamps
    are clock times), else the frames' own times (a video file's media time, as in its CSV).
    """
    import pyqtgraph as pg
    import pyqtgraph.exporters
    from PySide6.QtCore import QRectF

    from app.ui.probability_panel import class_colour

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"Cannot write the timeline to {path}: use a .png file name.")
    ensure_app()
    times, probabilities, labels = timeline.arrays()
    origin = float(times[0]) if from_start and len(times) else 0.0
    times = times - origin
    classes = timeline.classes
    colours = [class_colour(name, i) for i, name in enumerate(classes)]
    layout = pg.GraphicsLayout()
    top = layout.addPlot(row=0, col=0)
    faces = timeline.track_labels(MAX_FACE_STRIPS) if timeline.track_count > 1 else []
    if not classes:
        title = f"{title} · no face found"
    elif timeline.track_count > len(faces) > 0:
        title = f"{title} · strips: the {len(faces)} of {timeline.track_count} faces seen longest"
    title = title.lstrip(" ·")
    if title:
        top.setTitle(title, color="k", size="11pt")
    top.setYRange(0.0, 1.0, padding=0.02)
    top.setLabel("left", "probability")
    top.showGrid(x=True, y=True, alpha=0.25)
    top.addLegend(offset=(6, 4), colCount=max(1, len(classes)), labelTextColor="k", brush=(255, 255, 255, 200))
    for i, name in enumerate(classes):
        top.plot(times, probabilities[:, i], pen=pg.mkPen(colours[i], width=2), name=name, connect="finite")
    strips = [_label_strip(layout, 1, top, times, np.asarray(labels), colours, "largest" if faces else "shown")]
    strips += [_label_strip(layout, 2 + i, top, times, face_labels, colours, f"face {track}")
               for i, (track, face_labels) in enumerate(faces)]
    _draw_marks([(t - origin, text) for t, text in timeline.marks], top, strips)
    for strip in strips[:-1]:
        strip.hideAxis("bottom")
    strips[-1].setLabel("bottom", "seconds into the recording" if from_start else "seconds")
    top.setXRange(float(times[0]) if len(times) else 0.0, float(times[-1]) if len(times) else 1.0, padding=0.01)
    for plot in (top, *strips):
        plot.getAxis("left").setWidth(64)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setTextPen("k")
            plot.getAxis(axis).setPen("k")
    layout.layout.setRowStretchFactor(0, 5)
    for row in range(1, 1 + len(strips)):
        layout.layout.setRowStretchFactor(row, 1)
    height = picture_height(len(faces))
    view = pg.GraphicsView(background="w")  # never shown: the exporter needs a view on the scene
    view.setCentralItem(layout)
    view.resize(WIDTH, height)
    layout.setGeometry(QRectF(0, 0, WIDTH, height))
    exporter = pyqtgraph.exporters.ImageExporter(layout)
    exporter.parameters()["width"] = WIDTH
    exporter.parameters()["background"] = "w"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = exporter.export(str(path))
    except OSError as exc:
        raise OutputError(f"Cannot write the timeline to {path}: {exc.strerror or exc}.") from exc
    if ok is False or not path.exists():
        raise OutputError(f"Cannot write the timeline to {path}: Qt could not save the picture.")
    return path
