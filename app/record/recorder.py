"""The annotated video: H.264 through PyAV, encoded on its own thread so the frame loop never waits for x264."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from app.capture.base import IMAGE_EXTENSIONS
from app.errors import OutputError
from app.record.paths import prepare_output_path
from app.types import Frame

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov")  # the containers an annotated video is written in
VIDEO_NAMES = f"{', '.join(VIDEO_EXTENSIONS[:-1])} or {VIDEO_EXTENSIONS[-1]}"  # for messages

_ENCODER_FALLBACKS = ("libx264", "h264", "mpeg4")
_STOP = object()


def video_rate(fps: float) -> Fraction:
    """Exact frame rate for a float: NTSC rates (29.97...) become n*1000/1001, others the nearest small fraction."""
    for base in (24, 30, 48, 60, 120, 240):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def pick_encoder(preferred: str = "libx264") -> str:
    """First encoder this PyAV/FFmpeg build really has among ``preferred``, libx264, h264, mpeg4."""
    for name in dict.fromkeys((preferred, *_ENCODER_FALLBACKS)):
        try:
            av.Codec(name, "w")
        except Exception:  # UnknownCodecError, or a decoder-only name
            continue
        if name != preferred:
            log.warning("Video encoder %s is not available; using %s", preferred, name)
        return name
    raise OutputError("This PyAV build has no H.264 or MPEG-4 video encoder; cannot record video.")


KEYFRAME_SECONDS = 1.0  # at most this much video is lost when the process dies mid-recording
_FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


def container_options(path: Path, format: str | None = None) -> dict[str, str]:
    """Muxer options: MP4 and MOV are fragmented at every key frame so they need no index written at the end."""
    kind = (format or path.suffix.lstrip(".")).lower()
    return dict(_FRAGMENTED) if kind in ("mp4", "m4v", "mov") else {}


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit ``width`` x ``height`` with its aspect kept, centred on black."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    fw, fh = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    fitted = cv2.resize(image, (fw, fh), interpolation=interpolation)
    left, top = (width - fw) // 2, (height - fh) // 2
    return cv2.copyMakeBorder(fitted, top, height - fh - top, left, width - fw - left, cv2.BORDER_CONSTANT, value=0)


class VideoRecorder:
    """Writes BGR frames to a video file (MP4/MKV/MOV by extension) on its own thread.

    ``write()`` only queues the frame; a worker thread converts and encodes it. The queue is bounded: when it is
    full ``write()`` blocks until the encoder catches up (up to ``write_timeout`` s) instead of dropping, because a
    recording must keep every frame. Presentation times come from the frame count at ``fps`` (time base 1/fps), or
    from the ``timestamp`` passed to ``write()`` for sources whose real rate wanders (cameras). Odd sizes are padded
    by one replicated pixel to the even size yuv420p needs; frames of another size (the next video of a folder, a
    camera that changed mode) are scaled to fit the first, with black bars, never stretched.

    Errors: a path that cannot be written raises ``OutputError`` here. An error on the worker (disk full) is stored,
    later ``write()`` calls raise ``OutputError``, and ``close()`` still finalises what the muxer accepted. MP4/MOV
    files are written fragmented (a key frame and a fragment every ``KEYFRAME_SECONDS``), so a recording cut off by
    a crash or a power cut still plays up to its last fragment instead of being lost without its index.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int] | None = None,
        codec: str = "libx264",
        crf: int = 20,
        preset: str = "veryfast",
        queue_size: int = 32,
        write_timeout: float = 10.0,
        format: str | None = None,
    ) -> None:
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.rate = video_rate(float(fps))
        self.codec_name = pick_encoder(codec)
        self.crf, self.preset = crf, preset
        self.write_timeout = write_timeout
        if self.path.suffix.lower() in IMAGE_EXTENSIONS:  # FFmpeg would take it and fail on the first frame
            raise OutputError(f"Cannot write video to {self.path}: {self.path.suffix} is an image format; use "
                              f"{VIDEO_NAMES} (annotated photos are written for photo and folder inputs).")
        prepare_output_path(self.path, "video")
        try:
            self._container = av.open(str(self.path), "w", format=format, options=container_options(self.path, format))
        except ValueError as exc:  # FFmpeg guesses the format from the extension
            raise OutputError(
                f"Cannot write video to {self.path}: unknown video format (use {VIDEO_NAMES})."
            ) from exc
        except OSError as exc:
            raise OutputError(f"Cannot write video to {self.path}: {exc}.") from exc
        self._content_size = tuple(size) if size else None  # size frames are scaled to, before padding to even
        self._stream: Any = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._error: BaseException | None = None
        self._error_reported = False
        self._closed = False
        self._frames_written = 0
        self.encode_ms: deque[float] = deque(maxlen=10_000)  # per-frame encode time on the worker (benchmarks)
        self._next_pts = 0
        self._t0: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"recorder:{self.path.name}", daemon=True)
        self._thread.start()

    # ---- caller side -------------------------------------------------------------------------------------------
    @property
    def frames_written(self) -> int:
        """Frames handed to the encoder so far (all queued frames once ``close()`` has returned)."""
        return self._frames_written

    @property
    def size(self) -> tuple[int, int] | None:
        """Encoded (even) width and height; None until the first frame fixes it."""
        return None if self._stream is None else (self._stream.width, self._stream.height)

    @property
    def error(self) -> BaseException | None:
        return self._error

    def write(self, image: np.ndarray | Frame, timestamp: float | None = None) -> None:
        """Queue one BGR frame (copied, so the caller may reuse its buffer); blocks while the queue is full."""
        if self._closed:
            raise ValueError(f"write() on a closed VideoRecorder ({self.path})")
        self._raise_if_failed()
        pixels = image.image if isinstance(image, Frame) else image
        item = (np.array(pixels, copy=True), self._pts_for(timestamp))
        deadline = time.monotonic() + self.write_timeout
        while True:
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                self._raise_if_failed()
                if time.monotonic() > deadline:
                    raise OutputError(
                        f"Recording to {self.path} stalled: the encoder took no frame for {self.write_timeout:.0f} s."
                    ) from None

    def _pts_for(self, timestamp: float | None) -> int:
        if timestamp is None:
            pts = self._next_pts
        else:
            if self._t0 is None:
                self._t0 = timestamp
            # Each pts is unique and increasing: two frames closer than 1/fps go to consecutive ticks.
            pts = max(self._next_pts, round((timestamp - self._t0) * self.rate))
        self._next_pts = pts + 1
        return pts

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            self._error_reported = True
            reason = self._error.strerror if isinstance(self._error, OSError) and self._error.strerror else self._error
            raise OutputError(f"Recording to {self.path} failed: {reason}.") from self._error

    def close(self) -> None:
        """Encode what is queued, flush the encoder and write the file's index. Idempotent.

        Raises ``OutputError`` for a worker error that no ``write()`` has reported yet (e.g. disk full at the end).
        """
        if self._closed:
            return
        self._closed = True
        while self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=0.05)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._stream is None and self._error is None and self.path.is_file() and self.path.stat().st_size == 0:
            self.path.unlink()  # no frame ever arrived: leave no empty, unplayable file behind
        if self._error is not None and not self._error_reported:
            self._raise_if_failed()

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # keep the caller's exception; still finalise so the frames so far stay playable
            self.close()
        except OutputError as close_error:
            log.error("%s", close_error)

    # ---- worker side -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        muxing_ok = True
        try:
            while (item := self._queue.get()) is not _STOP:
                image, pts = item
                t0 = time.perf_counter()
                self._encode(image, pts)
                self.encode_ms.append((time.perf_counter() - t0) * 1000.0)
                self._frames_written += 1
        except Exception as exc:  # stored and re-raised on the caller's thread by write()/close(), which report it
            log.debug("Recording to %s failed: %s", self.path, exc)
            self._error = exc
            muxing_ok = False  # FFmpeg may crash if packets are muxed after a failed write
        finally:
            self._finalise(muxing_ok)

    def _encode(self, image: np.ndarray, pts: int) -> None:
        if self._stream is None:
            self._stream = self._add_stream(image)
        frame = av.VideoFrame.from_ndarray(self._fit(image), format="bgr24")
        frame.pts = pts
        frame.time_base = 1 / self.rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _add_stream(self, first: np.ndarray) -> Any:
        if self._content_size is None:
            self._content_size = (first.shape[1], first.shape[0])
        width, height = self._content_size
        options = {"crf": str(self.crf), "preset": self.preset} if self.codec_name in ("libx264", "h264") else {}
        stream = self._container.add_stream(self.codec_name, rate=self.rate, options=options)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / self.rate
        stream.codec_context.gop_size = max(1, round(float(self.rate) * KEYFRAME_SECONDS))
        # no B-frames: a fragmented MP4 has no edit list to hide their decode delay, so every timestamp would be
        # late by two frames; it also keeps the encoder's latency at zero frames (about 10% more bits)
        stream.codec_context.max_b_frames = 0
        if not options:  # mpeg4 and friends have no CRF: ask for a bit rate that looks like CRF 20 H.264 would
            stream.bit_rate = int(width * height * float(self.rate) * 0.25)
        return stream

    def _fit(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        width, height = self._content_size
        if (image.shape[1], image.shape[0]) != (width, height):
            image = letterbox(image, width, height)
        if width % 2 or height % 2:
            image = cv2.copyMakeBorder(image, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
        return image

    def _finalise(self, muxing_ok: bool) -> None:
        try:
            if self._stream is not None and muxing_ok:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        except Exception as exc:
            self._error = self._error or exc
        try:
            self._container.close()
        except Exception as exc:
            self._error = self._error or exc
