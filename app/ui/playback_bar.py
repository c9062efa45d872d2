"""The row under the video: pause/play for any source, and for a video file its position and a slider to go
elsewhere in it.

Only a video file can be sought in (in a folder of videos, the one playing): a camera has no position, and photos
are shown one by one. A click on the groove goes to that place (as media players do, not a page step);
dragging goes there on release. Beside it, paused, a file steps a frame back or on (the , and . keys, as in mpv),
and a folder of photos a photo.
While a recording runs the slider and the step back are off: a jump would cut the recording.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QStyle, QStyleOptionSlider, QToolButton, QWidget

from app.ui.icons import standard_icon

STEPS_PER_SECOND = 10  # the slider's resolution
SEEK_TIP = "Go elsewhere in the video: click or drag; arrow keys a second, page keys five"


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour), as players show time."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ClickToSeekSlider(QSlider):
    """A horizontal slider that jumps to where the groove is clicked."""

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt)
        if event.button() == Qt.MouseButton.LeftButton and not self._on_handle(event):
            value = QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), int(event.position().x()),
                                                   max(1, self.width()))
            self.setValue(value)  # valueChanged: the bar asks for the seek
            event.accept()
            return
        super().mousePressEvent(event)

    def _on_handle(self, event: QMouseEvent) -> bool:
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                             QStyle.SubControl.SC_SliderHandle, self)
        return handle.contains(event.position().toPoint())


class PlaybackBar(QWidget):
    """Pause/play, and the slider and ``0:12 / 1:05`` for a video file (hidden for every other source)."""

    seekRequested = Signal(float)  # noqa: N815 (Qt naming) - seconds into the file
    pauseClicked = Signal()  # noqa: N815
    stepRequested = Signal(int)  # noqa: N815 - one frame back (-1) or on (+1)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pause_button = QToolButton()
        self.pause_button.setAutoRaise(True)
        self.pause_button.clicked.connect(self.pauseClicked)
        self.step_back_button = self._step_button("MediaSkipBackward", "One frame back (,)", -1)
        self.step_on_button = self._step_button("MediaSkipForward", "One frame on (.)", 1)
        self.show_paused(False)
        self.slider = ClickToSeekSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip(SEEK_TIP)
        self.time_label = QLabel("")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.step_back_button)
        layout.addWidget(self.pause_button)
        layout.addWidget(self.step_on_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)
        layout.addStretch()  # takes the room the slider leaves when hidden, so the buttons stay together
        self._duration: float | None = None
        self.slider.sliderReleased.connect(self._request)  # the end of a drag
        self.slider.valueChanged.connect(self._changed)  # a click, or the arrow and page keys on the focused slider
        self.slider.setSingleStep(STEPS_PER_SECOND)  # arrow keys: a second
        self.slider.setPageStep(5 * STEPS_PER_SECOND)  # page keys: five seconds
        self.set_duration(None)

    @property
    def duration(self) -> float | None:
        return self._duration

    def _step_button(self, icon: str, tip: str, frames: int) -> QToolButton:
        button = QToolButton()
        button.setAutoRaise(True)
        button.setIcon(standard_icon(icon))
        button.setToolTip(tip)
        button.clicked.connect(lambda: self.stepRequested.emit(frames))
        return button

    def show_paused(self, paused: bool) -> None:
        """The button offers what a click will do: play while paused, pause while playing; frame steps, paused."""
        self.pause_button.setIcon(standard_icon("MediaPlay" if paused else "MediaPause"))
        self.pause_button.setToolTip("Play (Space)" if paused else "Pause (Space)")
        self.step_on_button.setEnabled(paused)
        self.step_back_button.setEnabled(paused and self.slider.isEnabled())

    def show_ended(self) -> None:
        """A file or folder that has ended: the button offers to play it again from the start."""
        self.pause_button.setIcon(standard_icon("BrowserReload"))
        self.pause_button.setToolTip("Play again from the start (Space)")

    def set_duration(self, seconds: float | None, steppable: bool = False) -> None:
        """A new source: its length in seconds, or None (not a video file that can be sought in: no slider);
        ``steppable``: frame steps without a slider (a folder of photos)."""
        self._duration = seconds if seconds and seconds > 0 else None
        self.steppable = steppable or self._duration is not None
        for widget in (self.slider, self.time_label):
            widget.setVisible(self._duration is not None)
        for widget in (self.step_back_button, self.step_on_button):
            widget.setVisible(self.steppable)
        if self._duration is not None:
            self.slider.blockSignals(True)  # a new range is not a seek
            self.slider.setRange(0, round(self._duration * STEPS_PER_SECOND))
            self.slider.setValue(0)
            self.slider.blockSignals(False)
            self._show_time(0.0)

    def set_position(self, seconds: float | None, seekable: bool = True) -> None:
        """The frame shown is ``seconds`` into the file; ``seekable`` False (while recording) turns the slider off."""
        if seekable != self.slider.isEnabled():
            self.slider.setEnabled(seekable)
            self.slider.setToolTip(SEEK_TIP if seekable else "Stop recording to go elsewhere in the video")
            self.step_back_button.setEnabled(seekable and self.step_on_button.isEnabled())
        if seconds is None or self._duration is None or self.slider.isSliderDown():
            return
        self.slider.blockSignals(True)
        self.slider.setValue(round(seconds * STEPS_PER_SECOND))
        self.slider.blockSignals(False)
        self._show_time(seconds)

    def _show_time(self, seconds: float) -> None:
        self.time_label.setText(f"{clock(seconds)} / {clock(self._duration or 0.0)}")

    def _changed(self) -> None:
        if not self.slider.isSliderDown():  # while dragging, only the release counts
            self._request()

    def _request(self) -> None:
        seconds = self.slider.value() / STEPS_PER_SECOND
        self._show_time(seconds)
        self.seekRequested.emit(seconds)
