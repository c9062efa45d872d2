"""The one allowed fake: a camera, since no machine running the tests has one.

``CameraBench`` is one USB camera's state; ``bench.factory`` goes into ``CameraSource(capture_factory=...)`` and
builds stand-ins that fail the way ``cv2.VideoCapture`` does on Linux (V4L2): unplugged, an open capture's
``read()`` returns ``(False, None)`` and opening again fails (``isOpened()`` false); busy (held by another
application), opening fails the same way. The pictures are real frames of a real video.
"""

from __future__ import annotations

import itertools
import threading
import time

import cv2
import numpy as np


class CameraBench:
    def __init__(self, frames: list[np.ndarray], fps: float = 30.0) -> None:
        self._frames = itertools.cycle(frames)
        self.fps = fps
        self.state = "ok"  # "ok" | "unplugged" | "busy"
        self.opens = self.releases = self.reads = 0
        self._lock = threading.Lock()

    def factory(self, index: int, backend: int) -> StandInCapture:
        return StandInCapture(self)

    def next_frame(self) -> np.ndarray:
        with self._lock:
            self.reads += 1
            return next(self._frames).copy()


class StandInCapture:
    """Enough of ``cv2.VideoCapture`` for ``CameraSource``: isOpened, read, get, set, release."""

    def __init__(self, bench: CameraBench) -> None:
        self.bench = bench
        self._open = bench.state == "ok"
        bench.opens += 1

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self._open

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self._open or self.bench.state != "ok":
            return False, None
        time.sleep(1.0 / self.bench.fps)  # a camera delivers in real time
        return True, self.bench.next_frame()

    def get(self, prop: int) -> float:
        return self.bench.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        return False  # like many drivers: the request is ignored, and CameraSource reports what it got

    def release(self) -> None:
        if self._open:
            self._open = False
            self.bench.releases += 1
