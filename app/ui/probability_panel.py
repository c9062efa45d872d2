"""Per-face read-out: one probability bar per class and a scrolling timeline of the last seconds.

The panel follows one face (the clicked one, else the largest); the window decides which and hands over the
``FaceResult``. The timeline uses the frame timestamps, so a paused or dropping stream shows real time gaps.
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from app.render import EXPRESSION_COLORS, color_for
from app.types import FaceResult

TIMELINE_SECONDS = 10.0
AWAITED = "Clicked person: out of view"
AWAITED_NOTE = "followed again when back (or click their face); click beside the faces: the largest"
NOTES_HELP = (
    f"{AWAITED}: the panel and the single-subject outputs wait for them (no face) until they are back, found again "
    "by their look (in dim or changing light it may not be: click their face); a click beside every face follows "
    "the largest face instead.\n"
    "held: the label shown waits until another expression leads by a margin or for a moment (Display > Stability), "
    "so it does not flicker.\n"
    "neutral calibrated: this face's resting expression is weighed to read neutral (Calibrate neutral).\n"
    "talking: frames with parted lips count less, so speech is not read as surprise or fear.\n"
    "dim: too dark for a reliable label; light the face.\n"
    "turned: more than 30° to the side, also less reliable; face the camera."
)
REDRAW_S = 1 / 15  # curves are redrawn at most this often; every frame still enters the history


# For class names the renderer has no colour for (a model with other classes), so curves stay distinguishable.
_SPARE = ["#e5484d", "#46a758", "#8e4ec6", "#ffc53d", "#3e63dd", "#f76b15", "#a0a0a0", "#12a594", "#d6409f"]


def class_colour(name: str, index: int = 0) -> str:
    """The renderer's colour for a class (BGR there), as "#rrggbb", so bars, curves and video agree."""
    if name not in EXPRESSION_COLORS:
        return _SPARE[index % len(_SPARE)]
    b, g, r = color_for(name)
    return f"#{r:02x}{g:02x}{b:02x}"


class ProbabilityPanel(QWidget):
    """Bars + timeline for one face; ``set_classes`` rebuilds both when the model changes.

    The bars are this widget; the timeline is ``self.timeline``, a separate widget the window places where a
    wide chart fits (under the video), fed by the same ``update_face`` calls.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._classes: tuple[str, ...] = ()
        self._bars: list[QProgressBar] = []
        self._names: list[QLabel] = []  # the class names beside the bars; the shown label's is bold
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._title = QLabel("No face")
        self._title.setStyleSheet("font-weight: bold;")
        # what makes this reading otherwise than expected, under the title: two lines kept, so bars never jump
        self._notes = QLabel("")
        self._notes.setWordWrap(True)
        self._notes.setStyleSheet("font-style: italic;")
        self._notes.setMinimumHeight(2 * self._notes.fontMetrics().lineSpacing())
        self._notes.setToolTip(NOTES_HELP)
        self._grid = QGridLayout()
        self._grid.setHorizontalSpacing(6)
        self._grid.setVerticalSpacing(2)
        self.timeline = pg.PlotWidget(background=None)
        self.timeline.setMinimumHeight(150)
        self.timeline.setYRange(0.0, 1.0, padding=0.02)
        self.timeline.setXRange(-TIMELINE_SECONDS, 0.0, padding=0.0)
        self.timeline.setMouseEnabled(x=False, y=False)
        self.timeline.hideButtons()
        self.timeline.setMenuEnabled(False)
        self.timeline.setLabel("bottom", "seconds")
        self.timeline.setLabel("left", "probability")
        self.timeline.showGrid(x=True, y=True, alpha=0.2)
        self._legend = self.timeline.addLegend(
            offset=(4, 4), labelTextSize="8pt", colCount=7, brush=(255, 255, 255, 190)
        )
        self._curves: list[pg.PlotDataItem] = []
        self._marks: deque[tuple[float, pg.InfiniteLine]] = deque()  # event marks on the chart, by frame timestamp
        self._stills = False  # photos: unrelated pictures, each a column of dots rather than a joined-up curve
        self._last_redraw = 0.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._title)
        layout.addWidget(self._notes)
        layout.addLayout(self._grid)
        layout.addStretch(1)

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    def set_classes(self, classes: tuple[str, ...]) -> None:
        if tuple(classes) == self._classes:
            return
        self._classes = tuple(classes)
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._bars, self._names = [], []
        for row, name in enumerate(self._classes):
            colour = class_colour(name, row)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setFormat("0%")
            bar.setFixedHeight(16)
            bar.setStyleSheet(
                f"QProgressBar {{border:1px solid #555; border-radius:3px; text-align:right; padding-right:4px;}}"
                f"QProgressBar::chunk {{background:{colour};}}"
            )
            name_label = QLabel(name)
            self._grid.addWidget(name_label, row, 0)
            self._grid.addWidget(bar, row, 1)
            self._bars.append(bar)
            self._names.append(name_label)
        self.timeline.clear()  # the marks' lines too
        self._marks.clear()
        self._legend.clear()
        self._curves = [
            self.timeline.plot([], [], pen=pg.mkPen(class_colour(name, i), width=2), name=name, connect="finite")
            for i, name in enumerate(self._classes)
        ]
        self._style_curves()
        self._history.clear()

    def set_stills(self, stills: bool) -> None:
        """Photos (a slideshow of unrelated pictures) are drawn as dots, one column per photo: a line from one
        person's face to the next would read as a change of expression."""
        if stills != self._stills:
            self._stills = stills
            self._style_curves()

    def _style_curves(self) -> None:
        for i, (curve, name) in enumerate(zip(self._curves, self._classes)):
            colour = class_colour(name, i)
            if self._stills:
                curve.setPen(None)
                curve.setSymbol("o")
                curve.setSymbolSize(7)
                curve.setSymbolBrush(colour)
                curve.setSymbolPen(None)
            else:
                curve.setSymbol(None)
                curve.setPen(pg.mkPen(colour, width=2))

    def clear(self) -> None:
        """Forget the timeline (new source or model)."""
        self._history.clear()
        self._title.setText("No face")
        self._notes.setText("")
        for bar in self._bars:
            bar.setValue(0)
            bar.setFormat("0%")
        self._mark_shown(None)
        for curve in self._curves:
            curve.setData([], [])
        self._drop_marks(lambda t: True)

    def add_mark(self, timestamp: float, text: str) -> None:
        """An event mark set on the frame at ``timestamp``: a dashed line on the chart, named, moving with it."""
        line = pg.InfiniteLine(pos=0.0, angle=90, pen=pg.mkPen((90, 90, 90), width=1, style=Qt.PenStyle.DashLine),
                               label=text,
                               labelOpts={"position": 0.6, "color": (60, 60, 60), "fill": (255, 255, 255, 190)})
        self.timeline.addItem(line)
        self._marks.append((timestamp, line))
        if self._history:
            self._last_redraw = 0.0
            self._redraw(self._history[-1][0])

    def mark_count(self) -> int:
        """Event marks on the chart now."""
        return len(self._marks)

    def _drop_marks(self, gone) -> None:
        for item in [m for m in self._marks if gone(m[0])]:
            self.timeline.removeItem(item[1])
            self._marks.remove(item)

    def update_face(self, face: FaceResult | None, timestamp: float, selected: bool = False,
                    awaited: bool = False) -> None:
        """Show ``face`` (None: no face in this frame, leaving a gap in the timeline). ``awaited``: with no
        ``face``, because the person clicked is out of view (``FrameResult.subject_away``).

        The title names the face and its label; the notes under it say what makes the reading otherwise than
        expected: a label held while another class leads (the smoother waits for a margin or a minimum time,
        ``app.smoothing``, so a label beside a higher bar is explained), a neutral calibration weighing it, a talking
        mouth, too little light, a turned head."""
        if face is not None:
            self.set_classes(face.classes)
        while self._history and self._history[-1][0] >= timestamp:
            self._history.pop()  # a step or a seek back, or a restart: the timeline runs up to this moment
        self._drop_marks(lambda t: t > timestamp or timestamp - t > TIMELINE_SECONDS)
        if face is None:
            self._title.setText(AWAITED if awaited else "No face")
            self._notes.setText(AWAITED_NOTE if awaited else "")
            self._mark_shown(None)
            for bar in self._bars:  # no reading now: the last face's bars would pass for one
                bar.setValue(0)
                bar.setFormat("–")
            probs = np.full(len(self._classes), np.nan, np.float32)
        else:
            how = "selected" if selected else "largest"
            probs = np.asarray(face.probabilities, np.float32)
            leader = int(np.argmax(probs))
            notes = [f"held: {face.classes[leader]} {100 * float(probs[leader]):.0f}% leads"] \
                if leader != face.label_index else []
            notes += ["neutral calibrated"] if face.calibrated else []  # why a resting face reads otherwise
            notes += ["talking"] if face.talking else []  # why an open mouth is not read as surprise
            notes += ["dim: light the face"] if face.dim else []  # why this label is less sure (app.face.lighting)
            notes += ["turned: face the camera"] if face.turned else []  # likewise (app.face.pose)
            self._title.setText(f"Face #{face.track_id} ({how}): {face.label} {100 * face.confidence:.0f}%")
            self._notes.setText(" · ".join(notes))
            self._mark_shown(face.label_index)
            for bar, p in zip(self._bars, probs):
                bar.setValue(int(round(1000 * float(p))))
                bar.setFormat(f"{100 * float(p):.0f}%")
        self._history.append((timestamp, probs))
        while self._history and timestamp - self._history[0][0] > TIMELINE_SECONDS:
            self._history.popleft()
        self._redraw(timestamp)

    def _mark_shown(self, index: int | None) -> None:
        """The shown label's class name in bold, the others plain (None: no face)."""
        for i, name_label in enumerate(self._names):
            name_label.setStyleSheet("font-weight: bold;" if i == index else "")

    def _redraw(self, now: float) -> None:
        if not self._history or not self._curves or time.monotonic() - self._last_redraw < REDRAW_S:
            return
        self._last_redraw = time.monotonic()
        times = np.array([t - now for t, _ in self._history], np.float64)
        for t, line in self._marks:
            line.setValue(t - now)
        rows = [p if len(p) == len(self._classes) else np.full(len(self._classes), np.nan) for _, p in self._history]
        values = np.vstack(rows)
        for i, curve in enumerate(self._curves):
            if self._stills:  # dots need no gaps marked, and an all-gap scatter makes pyqtgraph warn
                found = ~np.isnan(values[:, i])
                curve.setData(times[found], values[found, i])
            else:
                curve.setData(times, values[:, i])

    def history_length(self) -> int:
        return len(self._history)

    def bar_values(self) -> list[float]:
        return [bar.value() / 1000.0 for bar in self._bars]


def next_face(faces: list[FaceResult], current: int | None) -> int | None:
    """The face to follow after track ``current``, going from left to right: the leftmost when none is followed,
    and after the rightmost (or a face no longer in view) none, the largest face again. A face shown as last seen
    (``held``: missed by the mesh for a moment) keeps its place in the order but is not picked."""
    ordered = sorted(faces, key=lambda f: (f.box[0] + f.box[2]) / 2)
    tracks = [f.track_id for f in ordered]
    if current is not None and current not in tracks:
        return None
    after = ordered if current is None else ordered[tracks.index(current) + 1:]
    return next((f.track_id for f in after if not f.held), None)


def face_at(faces: list[FaceResult], x: float, y: float) -> FaceResult | None:
    """The face whose box contains (x, y); the nearest centre when boxes overlap or none contains it closely."""
    inside = [f for f in faces if f.box[0] <= x <= f.box[2] and f.box[1] <= y <= f.box[3]]
    pool = inside or faces
    if not pool:
        return None

    def distance(f: FaceResult) -> float:
        return math.hypot((f.box[0] + f.box[2]) / 2 - x, (f.box[1] + f.box[3]) / 2 - y)

    best = min(pool, key=distance)
    if inside:
        return best
    size = max(best.box[2] - best.box[0], best.box[3] - best.box[1], 1.0)
    return best if distance(best) < size else None
