"""Newest-frame-wins hand-off between a capture thread and a slower consumer.

A camera produces frames whether or not anyone is ready for them; queueing them would only add latency. The
mailbox keeps one slot: a new frame replaces an unread one (counted as dropped), so the consumer always gets the
freshest frame and lag never builds up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Generic, TypeVar

from app.capture.base import Source
from app.types import Frame

log = logging.getLogger(__name__)

T = TypeVar("T")


class LatestFrameMailbox(Generic[T]):
    """A thread-safe one-slot mailbox: ``put`` overwrites, ``get`` waits for an item it has not seen yet."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._fresh = False
        self._closed = False
        self.dropped = 0  # items overwritten before anyone read them
        self.put_count = 0

    def put(self, item: T) -> None:
        """Store ``item``, replacing (and counting as dropped) an unread one. Ignored after ``close()``."""
        with self._cond:
            if self._closed:
                return
            if self._fresh:
                self.dropped += 1
            self._item, self._fresh = item, True
            self.put_count += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest unread item; waits up to ``timeout`` s (forever if None). None on timeout or once closed.

        An item put before ``close()`` and not yet read is still returned, so nothing already captured is lost.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._fresh or self._closed, timeout=timeout):
                return None
            if not self._fresh:
                return None
            item, self._item, self._fresh = self._item, None, False
            return item

    def close(self) -> None:
        """Wake every waiter; later ``put`` calls are ignored."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class ThreadedCapture:
    """Reads a source on its own thread into a ``LatestFrameMailbox``, so a slow consumer drops frames, not time.

    ``start()`` opens the source on the calling thread, so open errors (``CameraUnavailableError``) reach the caller
    directly. An error while reading is stored in ``error`` and ends the capture; the consumer sees ``get()`` return
    None with ``finished`` true and should check ``error``. File sources are paced at their media rate by default
    (``pace=None`` means "pace unless live") so a video plays at its real speed instead of as fast as it decodes.
    """

    def __init__(self, source: Source, pace: bool | None = None) -> None:
        self.source = source
        self.mailbox: LatestFrameMailbox[Frame] = LatestFrameMailbox()
        self.pace = (not source.is_live) if pace is None else pace
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._arrivals: deque[float] = deque(maxlen=31)  # wall times of the last frames, for the measured rate
        self.frames_read = 0

    def start(self) -> ThreadedCapture:
        """Open the source and start reading; returns self for chaining."""
        if self._thread is not None:
            return self
        self.source.open()
        self._thread = threading.Thread(target=self._run, name=f"capture:{self.source.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        start_wall: float | None = None
        start_media = 0.0
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                now = time.perf_counter()
                if self.pace:
                    if start_wall is None:
                        start_wall, start_media = now, frame.timestamp
                    delay = (frame.timestamp - start_media) - (now - start_wall)
                    if delay > 0 and self._stop.wait(delay):
                        break
                    now = time.perf_counter()
                self._arrivals.append(now)
                self.frames_read += 1
                # a paced frame is captured when it is released, not when it was decoded ahead of its time
                self.mailbox.put(replace(frame, captured_at=now))
        except Exception as exc:  # stored for the consumer thread, which reports it to the person
            log.error("Capture from %s failed: %s", self.source.name, exc)
            self.error = exc
        finally:
            self._done.set()
            self.mailbox.close()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet returned; None on timeout or when capture has ended (see ``finished``)."""
        return self.mailbox.get(timeout)

    @property
    def dropped(self) -> int:
        """Frames captured but replaced before the consumer read them."""
        return self.mailbox.dropped

    @property
    def fps(self) -> float:
        """Frames per second actually read, over the last 30 frames; 0.0 until two frames have arrived."""
        arrivals = list(self._arrivals)
        if len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
            return 0.0
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])

    @property
    def finished(self) -> bool:
        """True once the reading thread has ended: end of stream, error, or ``stop()``."""
        return self._done.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading, wake any waiting consumer, join the thread and close the source. Idempotent."""
        self._stop.set()
        self.mailbox.close()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("Capture thread for %s did not stop within %.1f s", self.source.name, timeout)
                return  # closing the source under a thread still reading it could crash the backend
        self.source.close()

    def __enter__(self) -> ThreadedCapture:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
