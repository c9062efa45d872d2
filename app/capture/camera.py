"""Cameras through OpenCV, with names from cv2_enumerate_cameras so people pick "Logitech C920", not "1"."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from app.capture.base import Source
from app.errors import CameraUnavailableError
from app.types import Frame

log = logging.getLogger(__name__)

# A camera often returns a few empty reads right after opening or on a USB hiccup; after this many in a row it is gone.
_MAX_FAILED_READS = 10
_FIRST_FRAME_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CameraInfo:
    """One camera the system reports; ``index`` and ``backend`` are what ``CameraSource`` needs to open it."""

    index: int
    name: str
    backend: int  # cv2.CAP_* API preference; cv2.CAP_ANY lets OpenCV choose
    path: str | None = None

    @property
    def backend_name(self) -> str:
        try:
            return cv2.videoio_registry.getBackendName(self.backend)
        except cv2.error:
            return str(self.backend)


def list_cameras() -> list[CameraInfo]:
    """Cameras present on this machine that OpenCV can open, one entry per index; [] when none.

    Never raises: a machine without cameras, or a platform the enumerator cannot query, simply has none to offer.
    """
    try:
        from cv2_enumerate_cameras import enumerate_cameras, supported_backends
    except ImportError:  # optional at run time: without it the user can still type an index
        log.warning("cv2_enumerate_cameras is not installed; cameras cannot be listed by name")
        return []
    found: dict[int, CameraInfo] = {}
    # Only backends this OpenCV build can open (pip wheels have V4L2 but no GStreamer, for instance).
    for backend in [b for b in supported_backends if cv2.videoio_registry.hasBackend(b)]:
        try:
            cameras = enumerate_cameras(backend)
        except Exception as exc:  # enumeration goes through OS APIs (V4L2 ioctls, COM, AVFoundation) that may fail
            log.warning("Listing cameras with backend %s failed: %s", backend, exc)
            continue
        for cam in cameras:
            found.setdefault(cam.index, CameraInfo(int(cam.index), str(cam.name), int(cam.backend), cam.path))
    return [found[i] for i in sorted(found)]


def _fourcc_text(code: float) -> str:
    value = int(code)
    text = "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() and value else ""


class CameraSource(Source):
    """A live camera. Requested width/height/fps/MJPEG are hints; ``size``/``fps``/``fourcc`` report what was granted.

    MJPEG is asked for by default because most USB webcams deliver only 5-10 fps at 720p and above in raw YUYV.
    Timestamps are monotonic seconds since ``open()``. A camera that stops delivering frames (unplugged, taken by
    another application) raises ``CameraUnavailableError`` from ``read()`` and releases the device, so a later
    ``open()`` reconnects; ``read()`` returns None only after ``close()``. ``capture_factory(index, backend)`` builds
    the ``cv2.VideoCapture`` (tests pass a stand-in, as no camera exists on a CI machine).
    """

    def __init__(
        self,
        index: int,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        mjpeg: bool = True,
        backend: int = cv2.CAP_ANY,
        capture_factory: Callable[[int, int], Any] = cv2.VideoCapture,
    ) -> None:
        self.index = int(index)
        self.requested = {"width": width, "height": height, "fps": fps, "mjpeg": mjpeg}
        self.backend = backend
        self.capture_factory = capture_factory
        self._cap: cv2.VideoCapture | None = None
        self._pending: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self._fps: float | None = None
        self._fourcc = ""
        self._t0 = 0.0
        self._index = 0

    @property
    def name(self) -> str:
        return f"camera {self.index}"

    @property
    def is_live(self) -> bool:
        return True

    @property
    def fourcc(self) -> str:
        """Pixel format the driver actually delivers, e.g. "MJPG" or "YUYV" ("" when the backend won't say)."""
        return self._fourcc

    def _open(self) -> None:
        cap = self.capture_factory(self.index, self.backend)
        if not cap.isOpened():
            cap.release()
            raise CameraUnavailableError(
                f"Camera {self.index} is not available: it is missing, or in use by another application."
            )
        self._configure(cap)
        first = self._first_frame(cap)
        if first is None:
            cap.release()
            raise CameraUnavailableError(
                f"Camera {self.index} opened but delivered no frame within {_FIRST_FRAME_TIMEOUT_S:.0f} s: "
                "it may be in use by another application or not a video-capture device."
            )
        self._cap, self._pending = cap, first
        self._size = (first.shape[1], first.shape[0])
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if math.isfinite(fps) and fps > 0 else None
        self._fourcc = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        self._t0 = time.monotonic()
        self._index = 0
        req = self.requested
        if (req["width"] and req["width"] != self._size[0]) or (req["height"] and req["height"] != self._size[1]):
            log.info("Camera %d: asked for %sx%s, got %dx%d", self.index, req["width"], req["height"], *self._size)

    def _configure(self, cap: cv2.VideoCapture) -> None:
        # Order matters on V4L2: the pixel format first, then the size that format supports, then the rate.
        if self.requested["mjpeg"]:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        if self.requested["width"]:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(self.requested["width"]))
        if self.requested["height"]:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self.requested["height"]))
        if self.requested["fps"]:
            cap.set(cv2.CAP_PROP_FPS, float(self.requested["fps"]))

    @staticmethod
    def _first_frame(cap: cv2.VideoCapture) -> np.ndarray | None:
        deadline = time.monotonic() + _FIRST_FRAME_TIMEOUT_S
        while time.monotonic() < deadline:
            ok, image = cap.read()
            if ok and image is not None:
                return image
            time.sleep(0.05)
        return None

    def _read(self) -> Frame | None:
        assert self._cap is not None
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            image = None
            for _ in range(_MAX_FAILED_READS):
                ok, image = self._cap.read()
                if ok and image is not None:
                    break
                image = None
                time.sleep(0.01)
            if image is None:
                self.close()  # release the device now, so a reconnect (or another application) can have it
                raise CameraUnavailableError(
                    f"Camera {self.index} stopped delivering frames: it was unplugged or taken by another application."
                )
        frame = Frame(image=image, index=self._index, timestamp=time.monotonic() - self._t0, source=self.name)
        self._index += 1
        return frame

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._pending = None
