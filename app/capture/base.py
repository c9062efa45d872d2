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

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


class Source(ABC):
    """A stream of BGR frames: a camera, a video file, a still image or a folder of images.

    Life cycle: ``open()`` (idempotent; ``with source:`` does it too), ``read()`` until it returns None (end of
    stream), ``close()`` (idempotent). ``read()`` on a source never opened opens it first; after ``close()`` it
    returns None, and ``open()`` again starts over. Properties describe the opened stream and may be None before
    ``open()``. A source is not thread-safe: read it from one thread
    (``ThreadedCapture`` does that for live sources).
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """Short human-readable name, also stamped on every ``Frame.source``."""

    @property
    @abstractmethod
    def fps(self) -> float | None:
        """Nominal frame rate; None when unknown (a still image)."""

    @property
    @abstractmethod
    def frame_count(self) -> int | None:
        """Number of frames expected (the container's estimate for videos); None for live sources."""

    @property
    @abstractmethod
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the frames actually delivered; None before open."""

    @property
    @abstractmethod
    def is_live(self) -> bool:
        """True for cameras: frames arrive in real time and old ones are worth dropping."""

    @abstractmethod
    def open(self) -> None:
        """Open the device/file; raises ``SourceError`` (or a subclass) with a sentence a person can act on."""

    @abstractmethod
    def read(self) -> Frame | None:
        """Next frame, or None at the end of the stream."""

    @abstractmethod
    def close(self) -> None:
        """Release the device/file; safe to call more than once."""

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


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file to BGR uint8, or None when it is not a readable image.

    Goes through ``np.fromfile`` + ``cv2.imdecode`` because ``cv2.imread`` cannot open non-ASCII paths on Windows.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def require_file(path: Path, what: str) -> None:
    """Raise ``SourceError`` unless ``path`` is an existing regular file."""
    if not path.exists():
        raise SourceError(f"{what} not found: {path}")
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not a {what.lower()}")
