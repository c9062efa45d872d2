"""Video decoding through PyAV for the files OpenCV's own FFmpeg cannot decode.

The opencv-python wheels carry an FFmpeg without an AV1 decoder, and AV1 is what many phones, screen recorders and
video sites now write; PyAV's FFmpeg decodes it. ``PyAVReader`` offers the part of ``cv2.VideoCapture`` that
``VideoFileSource`` uses, so the source works the same whichever decoder reads the file.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np


class PyAVReader:
    """``read``/``get``/``set``/``isOpened``/``release`` like ``cv2.VideoCapture``, over PyAV; frames come upright
    (the container's display rotation applied) as BGR uint8."""

    def __init__(self, path: str | Path) -> None:
        self._container = av.open(str(path))
        try:
            self._stream = self._container.streams.video[0]
        except IndexError:
            self._container.close()
            raise ValueError(f"{path} has no video stream") from None
        self._stream.thread_type = "AUTO"  # frame and slice threads: AV1 software decoding is slow on one core
        self._frames = self._container.decode(self._stream)
        self._start: float | None = None
        self._position_s = 0.0
        self._pending: av.VideoFrame | None = None  # the frame a seek landed on, returned by the next read()

    def isOpened(self) -> bool:  # noqa: N802 (cv2.VideoCapture's name)
        return self._container is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._container is None:
            return False, None
        frame, self._pending = self._pending, None
        try:
            frame = frame or next(self._frames)
        except (StopIteration, av.FFmpegError):  # the end, or a damaged tail: end cleanly as OpenCV does
            return False, None
        if frame.time is not None:
            self._start = frame.time if self._start is None else self._start
            self._position_s = frame.time - self._start
        image = frame.to_ndarray(format="bgr24")
        turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # display matrix angle, counter-clockwise
        return True, np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def get(self, prop: int) -> float:
        if self._container is None:
            return 0.0
        rate = self._stream.average_rate or getattr(self._stream, "guessed_rate", None)
        if prop == cv2.CAP_PROP_FPS:
            return float(rate) if rate else 0.0
        if prop == cv2.CAP_PROP_FRAME_COUNT:  # as OpenCV does where the container has no count: duration x rate
            if self._stream.frames:
                return float(self._stream.frames)
            duration = self._container.duration
            return round(duration / av.time_base * float(rate)) if duration and rate else 0.0
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self._position_s * 1000.0
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        """Only ``CAP_PROP_POS_MSEC``: the next ``read()`` returns the frame nearest ``value`` ms (as OpenCV's does)."""
        if prop != cv2.CAP_PROP_POS_MSEC or self._container is None:
            return False
        start = self._start if self._start is not None else float(self._stream.start_time or 0) * float(
            self._stream.time_base)
        target = start + max(0.0, value) / 1000.0
        self._container.seek(int(target / self._stream.time_base), stream=self._stream, backward=True)
        self._frames = self._container.decode(self._stream)
        half_frame = 0.5 / float(self._stream.average_rate or 30)
        try:
            frame = next(self._frames)
            while frame.time is not None and frame.time < target - half_frame:  # from the key frame before it
                frame = next(self._frames)
        except (StopIteration, av.FFmpegError):
            return False
        self._pending = frame
        return True

    def release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
