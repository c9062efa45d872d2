"""What the Record and Snapshot controls do in the window: when recording is possible, and what the person is told.

Recording needs a source that is delivering frames: with none (nothing opened, or a file that has ended) the
button is disabled and R explains why instead of starting a recording that could never get a frame. A recording
that got no frame (stopped while paused) leaves no files and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from app.errors import OutputError
from app.ui.banner import Banner
from app.ui.controls import RecordControls
from app.ui.recording import RecordingController, RecordingSummary, save_snapshot
from app.ui.settings import AppSettings
from app.ui.status import FrameStatusBar
from app.ui.timeline_plot import save_timeline

NOTHING_TO_RECORD = "Nothing to record: open a camera or a video first."
ENDED = "Nothing to record: the video has ended. Open it again, turn on Loop, or pick a camera."


class RecordFlow(QObject):
    """Drives ``RecordControls`` and a ``RecordingController``; ``set_source_live`` tells it whether frames flow.

    ``context()`` returns (frames per second, class names) for a new recording, read when it starts.
    """

    snapshotSaved = Signal(str)  # noqa: N815 (Qt naming)

    def __init__(
        self,
        controls: RecordControls,
        recorder: RecordingController,
        banner: Banner,
        status: FrameStatusBar,
        settings: AppSettings,
        context: Callable[[], tuple[float, tuple[str, ...] | None]],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.controls, self.recorder, self.banner, self.status = controls, recorder, banner, status
        self.settings, self._context, self._parent = settings, context, parent
        self.paused = False
        self._unavailable = NOTHING_TO_RECORD
        self._timer = QTimer(self, interval=250, timeout=self._tick)
        self.last_image: np.ndarray | None = None
        recorder.saved.connect(self._on_saved)
        self.set_source_live(False)

    @property
    def available(self) -> bool:
        return not self._unavailable

    def set_source_live(self, live: bool, reason: str = NOTHING_TO_RECORD) -> None:
        """Frames flow (``live``) or not (``reason`` says why); a recording in progress stops when they end."""
        self._unavailable = "" if live else reason
        self.controls.record_button.setEnabled(live)
        self.controls.record_button.setToolTip("" if live else reason)
        self.controls.mark_button.setEnabled(live)  # a mark goes with a frame: none would come
        if not live:
            self.stop()

    def toggle(self) -> None:
        self.set(self.recorder.active is None)

    def set(self, on: bool) -> None:
        if not on:
            self.stop()
            return
        if not self.available:
            self.banner.show_error(self._unavailable)
            self.controls.set_recording(False)
            return
        fps, classes = self._context()
        try:
            self.recorder.start(self.settings.output_dir("video"), fps, classes, clean=self.controls.clean.isChecked(),
                                video=self.controls.annotated.isChecked())
        except OutputError as exc:
            self.banner.show_error(str(exc))
            self.controls.set_recording(False)
            return
        self.controls.set_recording(True)
        self.status.set_state("recording")
        self._timer.start()

    def stop(self, wait: bool = False) -> None:
        """Stop writing and finalise the files (in the background unless ``wait``); ``recorder.saved`` follows."""
        self._timer.stop()
        self.controls.set_recording(False)
        self.status.set_state("paused" if self.paused else "")
        self.recorder.stop(wait)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.recorder.active is None:
            self.status.set_state("paused" if paused else "")

    def failed(self, message: str) -> None:
        self.banner.show_error(message)
        self.stop()

    def _tick(self) -> None:
        if self.recorder.active is not None:
            self.controls.set_elapsed(self.recorder.active.elapsed, self.recorder.active.frames)

    def _on_saved(self, summary: RecordingSummary) -> None:
        if summary.error:
            self.banner.show_error(f"Recording {summary.name} ended with an error: {summary.error}")
        elif summary.empty:
            self.banner.show_message("The recording got no frames (the video was paused or had ended): nothing was "
                                     "saved.", "warning")
        else:
            picture, problem = self._save_timeline(summary)
            beside = [p.name for p in (summary.results if summary.video is not None else None, summary.clean, picture,
                                       summary.marks) if p is not None]
            self.banner.show_info(f"Saved {summary.frames} frames to {summary.video or summary.results}"
                                  + (f" (+ {', '.join(beside)})" if beside else "") + problem + ".")

    def _save_timeline(self, summary: RecordingSummary) -> tuple[Path | None, str]:
        """The timeline picture beside a complete recording: where it went, or why it is missing."""
        if summary.timeline is None:
            return None, ""
        try:
            return save_timeline(summary.picture, summary.timeline, title=f"{summary.name} · main face",
                                 from_start=True), ""
        except OutputError as exc:
            return None, f"; no timeline picture: {exc}"

    def snapshot(self) -> Path | None:
        if self.last_image is None:
            self.banner.show_error("No frame to save yet.")
            return None
        try:
            path = save_snapshot(self.last_image, self.settings.output_dir("image"))
        except OSError as exc:
            self.banner.show_error(str(exc))
            return None
        self.banner.show_info(f"Snapshot saved: {path}")
        self.snapshotSaved.emit(str(path))
        return path

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._parent, "Output folder", str(self.settings.output_dir("video")))
        if folder:
            self.settings.set_output_dir("video", Path(folder))
            self.settings.set_output_dir("image", Path(folder))
            self.controls.folder_label.setText(folder)
