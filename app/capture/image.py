"""Still images and folders of images as frame sources, so photos go through the same pipeline as video."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from app.capture.base import IMAGE_EXTENSIONS, VIDEO_FILE_EXTENSIONS, Source, read_image, require_file
from app.errors import SourceError
from app.types import Frame

log = logging.getLogger(__name__)


class ImageSource(Source):
    """One still image, delivered once as frame 0 at time 0."""

    _frame_count = 1

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._image: np.ndarray | None = None
        self._delivered = False

    @property
    def name(self) -> str:
        return self.path.name

    def _open(self) -> None:
        require_file(self.path, "Image file")
        image = read_image(self.path)
        if image is None:
            raise SourceError(f"Cannot read {self.path}: it is not a readable image, or it is damaged.")
        self._image, self._size = image, (image.shape[1], image.shape[0])
        self._delivered = False

    def _read(self) -> Frame | None:
        if self._delivered:
            return None
        self._delivered = True
        return Frame(image=self._image, index=0, timestamp=0.0, source=self.name, image_name=self.path.name)

    def _close(self) -> None:
        self._image = self._size = None


def _natural_key(path: Path) -> list[object]:
    """Sort "frame2" before "frame10", the order people expect from numbered frame dumps."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def _in_natural_order(paths, root: Path) -> list[Path]:
    """Paths under ``root`` sorted folder by folder, each level in natural name order."""
    return sorted(paths, key=lambda p: [_natural_key(Path(part)) for part in p.relative_to(root).parts])


def folder_images(folder: Path) -> list[Path]:
    """The photos a ``FolderSource`` reads: the folder's own, or, when it has none, those of its subfolders."""
    own = [p for p in folder.iterdir() if _is_image_file(p)]
    return _in_natural_order(own or [p for p in folder.rglob("*") if _is_image_file(p)], folder)


def folder_videos(folder: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Video files anywhere under ``folder``, in natural order, leaving out those under any ``exclude`` folder
    (where an earlier run wrote its annotated videos)."""
    skip = [e.resolve() for e in exclude]
    videos = [p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_FILE_EXTENSIONS and p.is_file()
              and not any(p.resolve().is_relative_to(e) for e in skip)]
    return _in_natural_order(videos, folder)


class FolderSource(Source):
    """The images of one folder in natural name order, as a sequence at ``fps``.

    A folder without images of its own but with images in subfolders (a dataset laid out as ``<class>/<image>``)
    delivers those, in natural order of their paths; each frame's ``image_name`` is then the path inside the folder
    (``angry/0001.jpg``), so results keep the class folder. Subfolders of a folder that has images are not read
    (an ``--out`` folder of annotated photos made inside it stays out of the next run).

    Timestamps are ``index / fps``: the default of 1 fps treats the folder as a slideshow of unrelated photos; pass
    the capture rate for a dump of video frames. Unreadable files are skipped with a logged warning, so
    ``frame_count`` (the number of image files) is an upper bound. Images may differ in size; ``size`` is the first's.
    With ``loop`` (the app's Loop) the first photo follows the last, index and stamp still increasing.
    """

    def __init__(self, path: str | Path, fps: float = 1.0, loop: bool = False) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self._fps = float(fps)
        self._files: list[Path] = []
        self._next = 0  # position in _files of the next file to decode
        self._index = 0  # frames delivered
        self._pending: tuple[Path, np.ndarray] | None = None
        self._size: tuple[int, int] | None = None
        self._delivered: list[int] = []  # the position in _files of each frame delivered, by frame index
        self._decoded_at = 0  # the position in _files of the image decoded last
        self.last_path: Path | None = None  # the file behind the frame last returned by read()
        self.loop = loop

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def frame_count(self) -> int | None:
        return len(self._files) if self._opened else None

    @property
    def size(self) -> tuple[int, int] | None:
        return self._size if self._opened else None

    @property
    def files(self) -> list[Path]:
        """Image files found at open(), in delivery order (unreadable ones included)."""
        return list(self._files)

    def _no_images_message(self) -> str:
        videos = folder_videos(self.path)
        if videos:  # a folder of clips: say how to analyse them rather than only what is missing
            names = ", ".join(p.name for p in videos[:3]) + (", ..." if len(videos) > 3 else "")
            return (f"Folder {self.path} holds {len(videos)} video file{'s' * (len(videos) > 1)} ({names}) but no "
                    f"photos; play them in turn as a folder of videos (`ferlive --source {self.path}`), or analyse "
                    f"each with `ferlive analyze {self.path}`.")
        exts = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
        return f"Folder {self.path} contains no image files ({exts}), nor do its subfolders."

    def _open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"Image folder not found: {self.path}")
        files = folder_images(self.path)
        if not files:
            raise SourceError(self._no_images_message())
        self._files, self._next, self._index, self._delivered = files, 0, 0, []
        first = self._decode_next()
        if first is None:
            raise SourceError(
                f"Folder {self.path} contains no readable image: all {len(files)} files failed to decode."
            )
        self._pending = first
        self._size = (first[1].shape[1], first[1].shape[0])

    def _decode_next(self) -> tuple[Path, np.ndarray] | None:
        while self._next < len(self._files):
            path = self._files[self._next]
            self._next += 1
            image = read_image(path)
            if image is not None:
                self._decoded_at = self._next - 1
                return path, image
            log.warning("Skipping %s: not a readable image", path)
        return None

    def seek(self, seconds: float) -> None:
        """Go back to the photo shown at ``seconds`` (its index / fps); the next ``read()`` delivers it again, with its
        own index and stamp. Only photos already delivered can be gone back to (the app's step back); raises
        ``SourceError`` otherwise."""
        target = max(0, round(seconds * self._fps))
        if target >= len(self._delivered):
            raise SourceError(f"{self.name}: photo {target + 1} has not been shown yet")
        self._pending, self._next, self._index = None, self._delivered[target], target
        del self._delivered[target:]

    def _read(self) -> Frame | None:
        if self._pending is not None:
            item, self._pending = self._pending, None
        else:
            item = self._decode_next()
            if item is None and self.loop and self._delivered:  # the slideshow starts again
                self._next = 0
                item = self._decode_next()
            if item is None:
                return None
        self._delivered.append(self._decoded_at)
        self.last_path, image = item
        frame = Frame(image=image, index=self._index, timestamp=self._index / self._fps, source=self.name,
                      image_name=self.last_path.relative_to(self.path).as_posix())
        self._index += 1
        return frame

    def _close(self) -> None:
        self._pending = None
