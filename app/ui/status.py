"""Status bar read-out: capture, inference and display rates kept apart, per-stage times, faces, provider.

Three separate rates matter because they fail differently: a slow camera lowers all three, a slow model lowers
inference and display while capture stays high (frames are being dropped, by design), a busy GUI lowers display only.
"""

from __future__ import annotations

import time

from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from app.dataset_score import DatasetScore
from app.inference.providers import LABELS
from app.ui.icons import dot_icon, standard_icon
from app.ui.workers import ProcessedFrame

# Short names for the pipeline's stage keys, in pipeline order.
STAGE_NAMES = {
    "face_mesh": "mesh",
    "tracking": "track",
    "alignment": "align",
    "inference": "model",
    "smoothing": "smooth",
    "render": "draw",
}


class FrameStatusBar(QStatusBar):
    """Permanent labels updated at most ``REFRESH_S`` apart, so the text is readable and cheap."""

    REFRESH_S = 0.25

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rates = QLabel("capture – · inference – · display –")
        self.stages = QLabel("")
        self.faces = QLabel("no face")
        self.provider = QLabel("")
        self.state_icon = QLabel()
        self.state = QLabel("")
        self.score = QLabel("")  # photos in class folders: how many the labels got right
        self.score.setStyleSheet("font-weight: bold; margin-right: 12px;")
        for label in (self.state_icon, self.state, self.score, self.rates, self.stages, self.faces, self.provider):
            self.addPermanentWidget(label)
        self._last = 0.0

    def show_frame(self, frame: ProcessedFrame, display_fps: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.REFRESH_S:
            return
        self._last = now
        self.rates.setText(
            f"capture {frame.capture_fps:4.1f} · inference {frame.inference_fps:4.1f} · display {display_fps:4.1f} fps"
        )
        self.rates.setToolTip(f"{frame.dropped} captured frames dropped (newest frame wins)")
        timings = frame.result.timings_ms
        parts = [f"{short} {timings[key]:.1f}" for key, short in STAGE_NAMES.items() if key in timings]
        self.stages.setText(("ms: " + " · ".join(parts)) if parts else "")
        n = len(frame.result.faces)
        self.faces.setText("no face" if n == 0 else f"{n} face{'s' if n > 1 else ''}")
        self.provider.setText(LABELS.get(frame.provider, frame.provider) if frame.provider else "no model")

    def show_score(self, score: DatasetScore | None) -> None:
        """A folder of photos in class folders: the share labelled as their folder says, so far (None: hide)."""
        if score is None or not score.scored:
            self.score.setText("")
            self.score.setToolTip("")
            return
        self.score.setText(f"{100 * score.accuracy:.0f}% of {score.scored} photos right")
        self.score.setToolTip("The largest face's label against the photo's class folder (angry/, happy/, ...), "
                              "each photo counted once, with this model\n" + score.describe().strip())

    def set_state(self, state: str) -> None:
        """"paused", "recording" or "" at the left of the permanent area, with a drawn icon (no glyph)."""
        icon = {"paused": standard_icon("MediaPause"), "recording": dot_icon()}.get(state)
        self.state_icon.setPixmap(icon.pixmap(14, 14) if icon is not None else QPixmap())
        self.state_icon.setVisible(icon is not None)
        self.state.setText(state)
