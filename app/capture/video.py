"""Video files decoded with OpenCV's FFmpeg backend (PyAV's where OpenCV's lacks the codec), stamped with media
time."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import av
import cv2
import numpy as np

from app.capture.base import Source, require_file, time_into_part
from app.capture.pyav_reader import PyAVReader
from app.errors import SourceError
from app.types import Frame

log = logging.getLogger(__name__)


def _diagnose(path: Path) -> str:
    """Why OpenCV could not use ``path``, asked of FFmpeg through PyAV (OpenCV only says "failed")."""
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams:
                return "it contains no video frames (no video stream)"
            for _ in container.decode(streams[0]):
                return "OpenCV could not decode it although FFmpeg can"
            return "it contains no decodable video frames"
    except av.FFmpegError as exc:
        return f"it is not a video file, or it is damaged ({exc.strerror or exc})"


def _upright_capture(path: Path) -> cv2.VideoCapture:
    """OpenCV's FFmpeg capture of ``path`` with the file's display rotation applied.

    A phone filming upright stores its frames sideways with a rotation in the container; this OpenCV build does
    not apply it unless asked, and a sideways face is one the face mesh mostly misses and the models never saw.
    """
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if cap.isOpened():
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _pyav_reader(path: Path) -> PyAVReader | None:
    try:
        return PyAVReader(path)
    except (av.FFmpegError, ValueError, OSError):
        return None


class VideoFileSource(Source):
    """Frames of a video file in decode order.

    Timestamps are media time: the container's presentation time when FFmpeg reports it, else ``index / fps``,
    so analysis results line up with the video whatever speed it is processed at. A truncated or partly corrupt
    file ends cleanly at its last decodable frame. With ``loop=True`` the file restarts at its end (demos); the
    index and timestamp keep increasing across loops.
    """

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        self.path = Path(path)
        self.loop = loop
        self._cap: cv2.VideoCapture | None = None
        self._pending: np.ndarray | None = None  # first frame, decoded by open() to prove the file is readable
        self._fps: float | None = None
        self._frame_count: int | None = None
        self._size: tuple[int, int] | None = None
        self._index = 0  # frames delivered so far, across loops
        self._loop_index = 0  # frames delivered in the current pass
        self._loop_offset = 0.0  # media time at which the current pass started
        self._last_timestamp = 0.0
        self._pyav = False  # decoding through PyAV (OpenCV's FFmpeg lacks the codec)
        self._pass_starts: list[float] = [0.0]  # stream time at which each pass through the file began

    @property
    def name(self) -> str:
        return self.path.name

    def _open(self) -> None:
        require_file(self.path, "Video file")
        cap, first = self._open_capture()
        self._cap, self._pending = cap, first
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else None
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._frame_count = count if count > 0 else None
        self._size = (first.shape[1], first.shape[0])
        self._index = self._loop_index = 0
        self._loop_offset = self._last_timestamp = 0.0
        self._pass_starts = [0.0]

    @property
    def duration(self) -> float | None:
        """Length in seconds (frame count / rate, as the container reports them); None when unknown."""
        return self._frame_count / self._fps if self._frame_count and self._fps else None

    def position_of(self, timestamp: float) -> float:
        """Where in the file a frame stamped ``timestamp`` is (its media time in its own pass through the file);
        safe to call from another thread."""
        return time_into_part(timestamp, self._pass_starts)

    def seek(self, seconds: float) -> None:
        """Continue from the frame nearest ``seconds`` into the file (clamped to its length); stamps go on
        from the current pass's start, so they jump with the seek. Raises ``SourceError`` when the file cannot
        seek there."""
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        seconds = max(0.0, min(seconds, (self.duration or seconds) - 0.5 / (self._fps or 30.0)))
        if not self._cap.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000.0):
            raise SourceError(f"Cannot seek in {self.name}")
        self._pending = None
        self._loop_index = 0 if seconds == 0 else max(self._loop_index, 1)  # media time from the frame's own stamp

    def _open_capture(self) -> tuple[cv2.VideoCapture | PyAVReader, np.ndarray]:
        """OpenCV's capture, or PyAV's where OpenCV's FFmpeg cannot decode the file (AV1), with its first frame."""
        cap = _upright_capture(self.path)
        opened = cap.isOpened()
        ok, first = cap.read() if opened else (False, None)
        if ok and first is not None:
            self._pyav = False
            return cap, first
        cap.release()
        reader = _pyav_reader(self.path)
        if reader is not None:
            ok, first = reader.read()
            if ok and first is not None:
                log.info("%s: OpenCV cannot decode it; decoding with PyAV", self.path.name)
                self._pyav = True
                return reader, first
            reader.release()
        if not opened:
            raise SourceError(f"Cannot open {self.path} as a video: {_diagnose(self.path)}.")
        raise SourceError(f"Cannot read {self.path}: {_diagnose(self.path)}.")

    def _read(self) -> Frame | None:
        assert self._cap is not None
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            ok, image = self._cap.read()
            if not ok:
                if not (self.loop and self._loop_index > 0):
                    self.close()
                    return None
                self._restart()
                ok, image = self._cap.read()
                if not ok:
                    self.close()
                    return None
        frame = Frame(image=image, index=self._index, timestamp=self._media_time(), source=self.name)
        self._index += 1
        self._loop_index += 1
        self._last_timestamp = frame.timestamp
        return frame

    def _media_time(self) -> float:
        msec = self._cap.get(cv2.CAP_PROP_POS_MSEC) if self._cap is not None else 0.0
        if self._loop_index == 0:
            t = 0.0
        elif math.isfinite(msec) and msec > 0:
            t = msec / 1000.0
        elif self._fps:
            t = self._loop_index / self._fps
        else:
            t = self._loop_index / 30.0  # neither pts nor rate known: keep time moving at a plausible pace
        return self._loop_offset + t

    def _restart(self) -> None:
        """Reopen the file for another pass; reopening is more robust than seeking across codecs."""
        assert self._cap is not None
        self._cap.release()
        period = 1.0 / self._fps if self._fps else 1.0 / 30.0
        self._loop_offset = self._last_timestamp + period
        self._pass_starts.append(self._loop_offset)
        self._loop_index = 0
        self._cap = _pyav_reader(self.path) if self._pyav else _upright_capture(self.path)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._pending = None
