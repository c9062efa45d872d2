"""The people's neutral calibrations the stream worker applies (``app.neutral``), and the one being gathered.

The window asks (calibrate, clear); the worker thread feeds each analysed frame, hands ``people`` to the pipeline,
and tells this keeper when the model or the source changes, since a calibration belongs to one model's
probabilities and to the people of one source. What happens is told through three callbacks (the worker's
signals): a calibration learnt (what the resting face read as before), one that could not be made (why), and
calibrations dropped (why; ``""`` when asked to).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.inference.card import ModelCard
from app.neutral import MAX_CALIBRATED_PEOPLE, CalibrationError, NeutralCalibration, NeutralCollector
from app.pipeline import FacePipeline
from app.types import FrameResult


class Calibrations:
    """Thread-safe: every method may be called from the GUI thread or the worker's."""

    def __init__(self, calibrated: Callable[[str], None], failed: Callable[[str], None],
                 cleared: Callable[[str], None]) -> None:
        self._calibrated, self._failed, self._cleared = calibrated, failed, cleared
        self._lock = threading.Lock()
        self._people: tuple[NeutralCalibration, ...] = ()  # one per person, the latest last
        self._collector: NeutralCollector | None = None  # gathering a resting face, while asked to
        self._requested = False

    @property
    def people(self) -> tuple[NeutralCalibration, ...]:
        """The calibrations in force, one per person, the latest last."""
        return self._people

    def request(self) -> None:
        """Start gathering the subject's resting face at the next frame fed."""
        with self._lock:
            self._requested = True

    def clear(self) -> None:
        """Drop every calibration and the one being gathered, as the person asked."""
        with self._lock:
            self._people, self._collector, self._requested = (), None, False
        self._cleared("")

    def drop_for(self, what: str) -> None:
        """``what`` (another source, the next video of a folder) may show someone else: every calibration goes.
        A camera reopened (Reconnect, another mode) keeps them: the caller does not call this then."""
        with self._lock:
            dropped = bool(self._people) or self._collector is not None or self._requested
            self._people, self._collector, self._requested = (), None, False
        if dropped:
            self._cleared(f"The neutral calibration was for the person before {what}: calibrate again for this one.")

    def model_changed(self, model: str | None) -> None:
        """Calibrations learnt on another model's probabilities go; one being gathered starts again."""
        with self._lock:
            made_with = {n.model for n in self._people if model is None or n.model != model}
            dropped = len(self._people) if made_with else 0
            if made_with:
                self._people = ()
            if self._collector is not None:
                self._collector = NeutralCollector()
        if made_with:
            what = "calibration was" if dropped == 1 else f"calibrations ({dropped} people) were"
            self._cleared(f"The neutral {what} made with {', '.join(sorted(made_with))}: calibrate again for "
                          f"{model if model is not None else 'the next model'}.")

    def feed(self, result: FrameResult, card: ModelCard, pipeline: FacePipeline | None,
             current: Callable[[], bool] = lambda: True) -> None:
        """Feed the subject found on this frame to a calibration under way; learn once its time is up. Calibrating
        a person again replaces theirs; each other person keeps their own. ``current``: whether ``card``'s model is
        still the one in use (a calibration learnt just as the model changed is not kept)."""
        with self._lock:
            start, self._requested = self._requested, False
            if start:
                self._collector = NeutralCollector()
            collector = self._collector
        if collector is None:
            return
        if not collector.feed_faces(result.frame.timestamp, result.faces, result.subject, result.subject_away):
            return
        try:
            neutral = collector.learn(tuple(card.classes), card.neutral_reference, card.name)
        except CalibrationError as exc:
            with self._lock:
                if self._collector is collector:
                    self._collector = None
            self._failed(str(exc))
            return
        with self._lock:
            if self._collector is not collector or not current():  # cleared, or another model came, meanwhile
                return
            others = tuple(n for n in self._people if pipeline is None or collector.track is None
                           or pipeline.calibrated_track(n) != collector.track)
            self._collector, self._people = None, (*others, neutral)[-MAX_CALIBRATED_PEOPLE:]
        self._calibrated(neutral.describe())
