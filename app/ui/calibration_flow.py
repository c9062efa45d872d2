"""What the window says while a person's resting face is learnt (N, Calibrate neutral, Clear; ``app.neutral``): the
request to hold still, then what the face read as, or why it could not be learnt, or why calibrations were
dropped. The stream worker does the learning (``app.ui.calibrations``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.neutral import CALIBRATION_S
from app.ui.banner import Banner
from app.ui.controls import DisplayControls
from app.ui.workers import StreamWorker

SCOPE = "neutral"  # the banner's messages about calibration replace one another


class CalibrationFlow(QObject):
    """``stills``: whether the source shown is photos, which are no person on video to calibrate."""

    def __init__(self, worker: StreamWorker, controls: DisplayControls, banner: Banner, stills: Callable[[], bool],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.worker, self.controls, self.banner, self._stills = worker, controls, banner, stills
        worker.neutralCalibrated.connect(self._on_calibrated)
        worker.neutralFailed.connect(self._on_failed)
        worker.neutralCleared.connect(self._on_cleared)
        controls.calibrateRequested.connect(self.calibrate)
        controls.clearCalibrationRequested.connect(worker.clear_neutral)

    def calibrate(self) -> None:
        """Learn the subject's resting face (the clicked face, else the largest) over the next seconds of video;
        the person is told what to do."""
        if self._stills():
            self.banner.show_info("Neutral calibration is for a person on video, not for photos.", scope=SCOPE)
            return
        self.worker.calibrate_neutral()
        self.controls.show_calibration(f"Calibrating: hold a relaxed, neutral face for {CALIBRATION_S:g} s…",
                                       calibrated=False, busy=True)
        self.banner.show_info(f"Look at the camera with a relaxed, neutral face for {CALIBRATION_S:g} seconds…",
                              scope=SCOPE)

    def _on_calibrated(self, resting: str) -> None:
        neutrals = self.worker.neutrals
        model = neutrals[-1].model if neutrals else ""
        people = f"{len(neutrals)} people calibrated, the last" if len(neutrals) > 1 else "Neutral face calibrated"
        self.controls.show_calibration(f"{people} ({model}); it read as {resting}", calibrated=True)
        self.banner.clear_scope(SCOPE)  # the request to hold still is answered
        self.banner.show_info(f"Calibrated: this face's resting expression (it read as {resting}) now reads "
                              "neutral. Another person: click their face and calibrate again (N); Clear forgets "
                              "every calibration.", scope=SCOPE)

    def _on_failed(self, message: str) -> None:
        count = len(self.worker.neutrals)
        self.controls.show_calibration(
            "Neutral face: not calibrated" if not count else f"Neutral face: {count} "
            f"{'person' if count == 1 else 'people'} calibrated", calibrated=count > 0)
        self.banner.clear_scope(SCOPE)
        self.banner.show_message(f"Neutral calibration failed: {message}.", "warning", scope=SCOPE)

    def _on_cleared(self, reason: str) -> None:
        self.controls.show_calibration("Neutral face: not calibrated", calibrated=False)
        self.banner.clear_scope(SCOPE)
        if reason:
            self.banner.show_info(reason, scope=SCOPE)
