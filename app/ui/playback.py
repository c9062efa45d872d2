"""Real-time, pausable, seekable playback of a file source, so a video can stand in for a camera.

``ThreadedCapture`` can pace a file by itself, but pausing would then make it race ahead to catch up with the wall
clock. This wrapper paces on a clock that stops while paused, and blocks ``read()`` during a pause, so the video
resumes where it stopped. No Qt here: it only wraps a ``Source``.
"""

from __future__ import annotations

import logging
import threading
import time

from app.capture import Source
from app.errors import SourceError
from app.types import Frame

log = logging.getLogger(__name__)


class PausablePlayback(Source):
    """Delivers ``inner``'s frames at their media timestamps; ``set_paused`` freezes playback time.

    Read by ``ThreadedCapture(PausablePlayback(src), pace=False)``; the capture thread's one-slot mailbox then
    drops frames the consumer is too slow for, exactly as with a camera. ``interrupt()`` wakes a blocked ``read()``
    (which then returns None) so the capture thread can be stopped during a pause.
    """

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self._resume = threading.Event()
        self._resume.set()
        self._interrupted = threading.Event()
        self._wake = threading.Event()  # set by a seek, a resume or an interrupt: a waiting read() looks again
        self._seek_to: float | None = None  # a seek asked for and not yet made (seconds into the file)
        self._step = False  # while paused: one frame asked for and not yet delivered
        self._wall0: float | None = None  # wall time that corresponds to media time _media0
        self._media0 = 0.0
        self._paused_at: float | None = None

    name = property(lambda self: self.inner.name)
    fps = property(lambda self: self.inner.fps)
    frame_count = property(lambda self: self.inner.frame_count)
    size = property(lambda self: self.inner.size)
    is_live = property(lambda self: False)

    def _open(self) -> None:
        self.inner.open()

    def _close(self) -> None:
        self.interrupt()
        self.inner.close()

    def interrupt(self) -> None:
        self._interrupted.set()
        self._resume.set()
        self._wake.set()

    @property
    def seekable(self) -> bool:
        """Whether ``seek`` can be asked for: a video file (or a folder's video playing) of known length."""
        return isinstance(getattr(self.inner, "duration", None), float)

    @property
    def can_seek(self) -> bool:
        """Whether ``seek`` works at all: also a folder of photos, back to one already shown (no slider: no length)."""
        return callable(getattr(self.inner, "seek", None))

    def seek(self, seconds: float) -> None:
        """Ask for playback to go on from ``seconds`` into the file (any thread). The reading thread makes the seek:
        a frame held for its time is dropped, and while paused exactly one frame, the one sought, is delivered."""
        self._seek_to = float(seconds)
        self._wake.set()

    def step(self) -> None:
        """While paused, deliver the next frame and stay paused (any thread); ignored while playing."""
        if self.paused:
            self._step = True
            self._wake.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def set_paused(self, paused: bool) -> None:
        if paused and self._resume.is_set():
            self._paused_at = time.perf_counter()
            self._resume.clear()
        elif not paused and not self._resume.is_set():
            if self._wall0 is not None and self._paused_at is not None:
                self._wall0 += time.perf_counter() - self._paused_at  # the clock did not run while paused
            self._paused_at = None
            self._resume.set()
            self._wake.set()

    def _wait(self, seconds: float | None = None) -> None:
        """Until woken (a seek, a resume, an interrupt) or ``seconds`` have passed; None: while paused."""
        if seconds is None and self._resume.is_set():
            return
        self._wake.wait(0.05 if seconds is None else min(seconds, 0.05))
        self._wake.clear()

    def _read(self) -> Frame | None:
        while True:
            while self.paused and self._seek_to is None and not self._step and not self._interrupted.is_set():
                self._wait()
            if self._interrupted.is_set():
                return None
            target, self._seek_to = self._seek_to, None
            stepping, self._step = self._step and self.paused, False
            if target is not None:
                try:
                    self.inner.seek(target)
                except SourceError as exc:  # the file plays on from where it was rather than end
                    log.warning("%s", exc)
                self._wall0 = None  # the clock starts again at the frame sought
            frame = self.inner.read()
            if frame is None:
                return None
            if (target is not None or stepping) and self.paused:
                self._wall0 = None  # the clock starts again at the next frame after the pause
                return frame  # shown at once, and playback stays paused
            if self._wall0 is None:
                self._wall0, self._media0 = time.perf_counter(), frame.timestamp
            if self._hold(frame):
                return frame
            if self._interrupted.is_set():
                return None
            # a seek came while this frame waited for its time: drop it and make the seek

    def _hold(self, frame: Frame) -> bool:
        """Wait until ``frame``'s time comes (a pause stops the clock); False when a seek or an interrupt came first."""
        while self._seek_to is None and not self._interrupted.is_set():
            if self.paused and self._step:  # the frame waiting for its time is the next one: deliver it now
                self._step, self._wall0 = False, None
                return True
            if self.paused:
                self._wait()
                continue
            delay = (frame.timestamp - self._media0) - (time.perf_counter() - self._wall0)
            if delay <= 0:
                return True
            self._wait(delay)
        return False
