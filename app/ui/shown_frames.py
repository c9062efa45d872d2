"""What the app showed at each recent frame of a video file, so that stepping back while paused shows a frame as it
was played, not analysed afresh.

A step back is a seek: analysed from scratch, the frame would start its faces' smoothing over, and its label could
differ from the one shown (and recorded or sent) when it played. Each entry keeps the frame's result and the
pipeline's carried state after it (``FacePipeline.snapshot``, a few kilobytes), keyed by the frame's place in the
file. Recalling restores that state too, so stepping on and playing on from a stepped-back frame go on exactly as
before, and past the frame where playback paused the analysis continues without a seam.

An entry is only good for the settings it was made with (model, stability, calibration, orientation, face limit):
``context`` is compared, and a different one starts the history afresh. Objects in it that compare by identity (the
engine, the calibration) go in as ``Same(obj)``, which also keeps them alive, so a new object never takes an old
one's place by reusing its address.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from app.types import FaceResult, Frame, FrameResult

# About ten seconds of 30 fps video; an entry is a result and a pipeline state, a few to some tens of kilobytes.
SHOWN_FRAMES_LIMIT = 300


class Same:
    """``obj`` compared by identity inside a context tuple."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


@dataclass(frozen=True)
class ShownFrame:
    """A frame's result without its image (the frame is read again from the file), and the state it left."""

    faces: list[FaceResult]
    timings_ms: dict[str, float]
    model_name: str
    state: dict  # FacePipeline.snapshot() after the frame

    def result_for(self, frame: Frame) -> FrameResult:
        """The result as shown, for ``frame`` (the same frame, read again)."""
        return FrameResult(frame=frame, faces=list(self.faces), timings_ms=dict(self.timings_ms),
                           model_name=self.model_name)


class ShownFrames:
    """Recent frames of one video by their place in it (seconds), oldest dropped beyond ``limit``."""

    def __init__(self, limit: int = SHOWN_FRAMES_LIMIT) -> None:
        self.limit = limit
        self._entries: OrderedDict[float, ShownFrame] = OrderedDict()
        self._context: Hashable | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._context = None

    def remember(self, position: float, context: Hashable, result: FrameResult, state: dict[str, Any]) -> None:
        """Keep a frame just analysed. A frame at or before the last one kept (a seek back, a loop) or made with
        other settings means a new run through the video: the history starts again from it."""
        last = next(reversed(self._entries), None)
        if context != self._context or (last is not None and position <= last):
            self.clear()
        self._context = context
        self._entries[position] = ShownFrame(list(result.faces), dict(result.timings_ms), result.model_name, state)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def recall(self, position: float, context: Hashable, tolerance: float) -> ShownFrame | None:
        """The frame kept within ``tolerance`` seconds of ``position`` under the same settings, or None."""
        if context != self._context or not self._entries or position > next(reversed(self._entries)) + tolerance:
            return None  # the last case is every frame of plain playback: past what was kept
        nearest = min(self._entries, key=lambda p: abs(p - position))
        return self._entries[nearest] if abs(nearest - position) <= tolerance else None
