"""Frame sources behind one interface: cameras, video files, still images and image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.capture.base import IMAGE_EXTENSIONS, VIDEO_FILE_EXTENSIONS, Source
from app.capture.camera import CameraInfo, CameraSource, list_cameras
from app.capture.image import FolderSource, ImageSource, folder_images, folder_videos
from app.capture.mailbox import LatestFrameMailbox, ThreadedCapture
from app.capture.playlist import VideoPlaylistSource
from app.capture.video import VideoFileSource

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_FILE_EXTENSIONS",
    "CameraInfo",
    "CameraSource",
    "FolderSource",
    "ImageSource",
    "LatestFrameMailbox",
    "Source",
    "ThreadedCapture",
    "VideoFileSource",
    "VideoPlaylistSource",
    "list_cameras",
    "make_source",
    "open_source",
]


def make_source(spec: str | int | Path, **opts: Any) -> Source:
    """The right (unopened) source for ``spec``: an int or digit string is a camera index, a directory (or a missing
    path without an extension) a folder of images, or of videos played in turn where it holds videos and no
    photos; a path with an image extension a still image, anything else a video file.

    ``opts`` go to the chosen class (e.g. ``width``/``height``/``fps``/``mjpeg`` for cameras, ``loop`` for videos
    and folders of videos, ``fps`` for folders of photos).
    """
    if isinstance(spec, bool):
        raise TypeError("a source spec is a camera index or a path, not a bool")
    if isinstance(spec, int):
        return CameraSource(spec, **opts)
    if isinstance(spec, str) and spec.strip().isdigit():
        return CameraSource(int(spec), **opts)
    path = Path(spec).expanduser()
    if path.is_dir() and not folder_images(path) and folder_videos(path):
        return VideoPlaylistSource(path, **opts)
    if path.is_dir() or (not path.suffix and not path.exists()):  # a missing name without extension: a folder
        return FolderSource(path, **opts)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource(path, **opts)
    return VideoFileSource(path, **opts)


def open_source(spec: str | int | Path, **opts: Any) -> Source:
    """``make_source(spec, **opts)``, opened: a missing or unreadable source fails here with a ``SourceError``.

    Use it as ``with open_source("clip.mp4") as src: for frame in src: ...``.
    """
    source = make_source(spec, **opts)
    source.open()
    return source
