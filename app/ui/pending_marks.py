"""Event marks on their way to a frame (``app.ui.marks``): asked for from any thread, set on the next frame the
stream worker analyses (paused: the frame on screen, analysed again), and the last one's text drawn on the video
for a moment after its frame.
"""

from __future__ import annotations

import threading

from app.types import Frame, FrameResult

CAPTION_S = 1.5  # how long a mark's text stays on the video after its frame


class PendingMarks:
    """Thread-safe: ``add`` from anywhere (the window's M, a WebSocket client's mark); the rest from the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: list[str] = []
        self._caption: tuple[str, float] | None = None  # the last mark and its frame's timestamp

    def add(self, text: str) -> None:
        with self._lock:
            self._texts.append(text)

    def clear(self) -> None:
        """The source closed: marks asked for now would land on another source's frame."""
        with self._lock:
            self._texts = []

    def attach(self, result: FrameResult) -> None:
        """The marks asked for since the last frame go on ``result`` (``FrameResult.marks``)."""
        with self._lock:
            texts, self._texts = tuple(self._texts), []
        if texts:
            result.marks = texts
            self._caption = (texts[-1], result.frame.timestamp)

    def caption(self, frame: Frame) -> str:
        """The last mark's text for ``CAPTION_S`` after its frame (drawn on the video and the recording), else ""."""
        if self._caption is None:
            return ""
        text, at = self._caption
        return text if 0.0 <= frame.timestamp - at < CAPTION_S else ""
