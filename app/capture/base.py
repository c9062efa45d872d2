"""The one interface every frame source speaks, so the pipeline never asks where frames come from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from app.errors import SourceError
from app.types import Frame

S = TypeVar("S", bound="Source")

# what OpenCV decodes: the common photo formats, and TIFF and the Netpbm family that face datasets come in (JAFFE is
# TIFF, several older sets are PGM)
OPENCV_IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".webp",
                                                     ".tif", ".tiff", ".pgm", ".ppm", ".pnm"})
# what phones save and OpenCV does not read: HEIF (an iPhone's photos, through pillow-heif) and AVIF (through Pillow)
PILLOW_IMAGE_EXTENSIONS: frozenset[str] = frozenset({".heic", ".heif", ".hif", ".avif"})
IMAGE_EXTENSIONS: frozenset[str] = OPENCV_IMAGE_EXTENSIONS | PILLOW_IMAGE_EXTENSIONS
# video containers people bring (FFmpeg, through OpenCV or PyAV, reads many more): for file pickers and messages
VIDEO_FILE_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                                          ".flv", ".3gp", ".ts", ".mts")


class Source(ABC):
    """A stream of BGR frames: a camera, a video file, a still image or a folder of images.

    Life cycle: ``open()`` (idempotent; ``with source:`` does it too), ``read()`` until it returns None (end of
    stream), ``close()`` (idempotent). ``read()`` on a source never opened opens it first; after ``close()`` it
    returns None, and ``open()`` again starts over. This base owns that life cycle once for every source;
    subclasses implement ``_open``/``_read``/``_close``, which it calls only in the right state. Properties
    describe the opened stream and may be None before ``open()``. A source is not thread-safe: read it from one
    thread (``ThreadedCapture`` does that for live sources).
    """

    _opened = False
    _closed = False
    # what the opened stream reports; subclasses set these in ``_open`` (or override the properties)
    _fps: float | None = None
    _frame_count: int | None = None
    _size: tuple[int, int] | None = None

    @property
    @abstractmethod
    def name(self) -> str:
        """Short human-readable name, also stamped on every ``Frame.source``."""

    @property
    def fps(self) -> float | None:
        """Nominal frame rate; None when unknown (a still image)."""
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Number of frames expected (the container's estimate for videos); None for live sources."""
        return self._frame_count

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the frames actually delivered; None before open."""
        return self._size

    @property
    def is_live(self) -> bool:
        """True for cameras: frames arrive in real time and old ones are worth dropping."""
        return False

    @property
    def is_open(self) -> bool:
        return self._opened

    def open(self) -> None:
        """Open the device/file; raises ``SourceError`` (or a subclass) with a sentence a person can act on."""
        if self._opened:
            return
        self._open()
        self._opened, self._closed = True, False

    def read(self) -> Frame | None:
        """Next frame, or None at the end of the stream and after ``close()``."""
        if not self._opened:
            if self._closed:
                return None
            self.open()
        return self._read()

    def close(self) -> None:
        """Release the device/file; safe to call more than once."""
        if self._opened:
            self._opened = False
            self._close()
        self._closed = True

    @abstractmethod
    def _open(self) -> None:
        """Acquire the device/file and prove it delivers (called only when not open); raise ``SourceError``."""

    @abstractmethod
    def _read(self) -> Frame | None:
        """Next frame of an open source, or None at its end (it may call ``close()`` itself)."""

    @abstractmethod
    def _close(self) -> None:
        """Release what ``_open`` acquired (called once per successful ``_open``)."""

    def __enter__(self: S) -> S:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def time_into_part(timestamp: float, part_starts: list[float]) -> float:
    """How far into its part (a pass through a looping file, a video of a folder) a frame stamped ``timestamp`` is,
    given the stream times at which the parts began; safe to call while another thread appends to ``part_starts``."""
    return timestamp - max((t for t in part_starts if t <= timestamp), default=0.0)


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file to BGR uint8, upright as its EXIF orientation says, or None when it is not a readable
    image.

    Goes through ``np.fromfile`` + ``cv2.imdecode`` because ``cv2.imread`` cannot open non-ASCII paths on Windows.
    HEIF and AVIF photos (``PILLOW_IMAGE_EXTENSIONS``) go through Pillow instead (``read_with_pillow``).
    """
    if Path(path).suffix.lower() in PILLOW_IMAGE_EXTENSIONS:
        return read_with_pillow(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def read_with_pillow(path: Path) -> np.ndarray | None:
    """A HEIF or AVIF photo as BGR uint8, turned upright by its EXIF orientation as OpenCV turns a JPEG; None when it
    cannot be decoded. The decoders load on first use, so opening a camera or a JPEG never pays for them."""
    import pillow_heif
    from PIL import Image, ImageOps, UnidentifiedImageError

    pillow_heif.register_heif_opener()
    try:
        with Image.open(path) as image:
            rgb = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)


def require_file(path: Path, what: str) -> None:
    """Raise ``SourceError`` unless ``path`` is an existing regular file."""
    if not path.exists():
        raise SourceError(f"{what} not found: {path}")
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not a {what.lower()}")
