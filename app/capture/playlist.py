"""A folder of videos played one after another, so a session's recordings can be reviewed in the app like one clip."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from app.capture.base import Source, time_into_part
from app.capture.image import folder_videos
from app.capture.video import VideoFileSource
from app.errors import SourceError
from app.types import Frame

log = logging.getLogger(__name__)


class VideoPlaylistSource(Source):
    """The video files under a folder (``folder_videos``: natural order, subfolders included), in turn.

    Each frame's ``source`` and ``image_name`` are the current video's path inside the folder: the pipeline starts
    its faces afresh at every new video (a different clip is a different scene), and a recording's results say in
    their ``image`` column which video a row came from.
    Timestamps and indices keep increasing from one video to the next, as across a looping file's passes, so
    playback paces the whole folder as one stream. A video that cannot be opened is skipped with a logged warning
    (``skipped`` lists it); opening fails only when none can. With ``loop=True`` the first video follows the last.
    ``fps``, ``size`` and ``duration`` are the current video's, and ``seek`` goes elsewhere in it.
    """

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        self.path = Path(path)
        self.loop = loop
        self._files: list[Path] = []
        self._position = -1  # index in _files of the video playing
        self._video: VideoFileSource | None = None
        self._index = 0  # frames delivered, across videos
        self._offset = 0.0  # playlist time at which the current video started
        self._last_timestamp = -1.0  # playlist time of the last frame delivered
        self._delivered_this_pass = 0
        self._video_starts: list[float] = []  # playlist time at which each video began, in playing order
        self.skipped: list[tuple[Path, str]] = []  # (video, why) for each one that could not be opened

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def files(self) -> list[Path]:
        """The videos found at open(), in playing order (unreadable ones included)."""
        return list(self._files)

    @property
    def current(self) -> Path | None:
        """The video playing now, None before open()."""
        return self._files[self._position] if self._video is not None else None

    @property
    def position(self) -> tuple[int, int]:
        """(1-based number of the video playing, number of videos)."""
        return self._position + 1, len(self._files)

    @property
    def fps(self) -> float | None:
        return self._video.fps if self._video is not None else None

    @property
    def size(self) -> tuple[int, int] | None:
        return self._video.size if self._video is not None else None

    @property
    def duration(self) -> float | None:
        """Length in seconds of the video playing."""
        return self._video.duration if self._video is not None else None

    def position_of(self, timestamp: float) -> float:
        """Where in its own video a frame stamped ``timestamp`` is; safe to call from another thread."""
        return time_into_part(timestamp, self._video_starts)

    def seek(self, seconds: float) -> None:
        """Go on from ``seconds`` into the video playing (``VideoFileSource.seek``)."""
        if self._video is None:
            raise SourceError(f"{self.name} is not open")
        self._video.seek(seconds)

    def _open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"Video folder not found: {self.path}")
        self._files = folder_videos(self.path)
        if not self._files:
            raise SourceError(f"Folder {self.path} contains no video files, nor do its subfolders.")
        self._position, self._index, self._delivered_this_pass = -1, 0, 0
        self._offset, self._last_timestamp, self.skipped = 0.0, -1.0, []
        self._video_starts = [0.0]
        if not self._advance():
            reasons = "; ".join(why for _, why in self.skipped[:2])
            raise SourceError(f"Folder {self.path}: none of its {len(self._files)} videos can be played ({reasons}).")

    def _advance(self) -> bool:
        """Open the next video that opens, after the current one; False when none is left in this pass."""
        while self._position + 1 < len(self._files):
            self._position += 1
            path = self._files[self._position]
            video = VideoFileSource(path)
            try:
                video.open()
            except SourceError as exc:
                log.warning("Skipping %s: %s", path, exc)
                self.skipped.append((path, str(exc)))
                continue
            self._video = video
            return True
        return False

    def _next_start(self) -> float:
        """Playlist time for the first frame of the next video: one frame period after the last frame shown."""
        fps = self._video.fps if self._video is not None and self._video.fps else 30.0
        return self._last_timestamp + 1.0 / fps if self._last_timestamp >= 0 else 0.0

    def _read(self) -> Frame | None:
        while True:
            assert self._video is not None
            frame = self._video.read()
            if frame is not None:
                break
            start = self._next_start()
            self._video.close()
            self._video = None
            if not self._advance():
                if not (self.loop and self._delivered_this_pass > 0):
                    self.close()
                    return None
                self._position, self._delivered_this_pass = -1, 0
                if not self._advance():
                    self.close()
                    return None
            self._offset = start
            self._video_starts.append(start)
        video = self._files[self._position].relative_to(self.path).as_posix()
        frame = replace(frame, index=self._index, timestamp=self._offset + frame.timestamp, source=video,
                        image_name=video)
        self._index += 1
        self._delivered_this_pass += 1
        self._last_timestamp = frame.timestamp
        return frame

    def _close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None
