"""Real-time, pausable playback of a file source, so a video can stand in for a camera.

``ThreadedCapture`` can pace a file by itself, but pausing would then make it race ahead to catch up with the wall
clock. This wrapper paces on a clock that stops while paused, and blocks ``read()`` during a pause, so the video
resumes where it stopped. No Qt here: it only wraps a ``Source``.
"""

from __future__ import annotations

import threading
import time

from app.capture import Source
from app.types import Frame


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

    def _read(self) -> Frame | None:
        self._resume.wait()
        if self._interrupted.is_set():
            return None
        frame = self.inner.read()
        if frame is None:
            return None
        if self._wall0 is None:
            self._wall0, self._media0 = time.perf_counter(), frame.timestamp
        while True:
            self._resume.wait()  # a pause while waiting holds this frame until resumed
            if self._interrupted.is_set():
                return None
            delay = (frame.timestamp - self._media0) - (time.perf_counter() - self._wall0)
            if delay <= 0:
                return frame
            self._interrupted.wait(min(delay, 0.05))
