"""One recording session: the annotated video (H.264 MP4) and its per-frame CSV, side by side with one stem (the
window adds the timeline picture, ``app.ui.timeline_plot``, once both are complete), and on request the clean
video: the picture the models saw, without boxes or labels (``<stem>-clean.mp4``), so that the session can be
analysed again later (``ferlive analyze``, another model, another tool) or coded by people. Event marks set while
recording go to ``<stem>-marks.csv`` (``app.record.marks``) and onto the timeline picture.

Frames are written from the inference thread (every processed frame, stamped with its capture time so dropped
frames leave real gaps instead of speeding the video up); start and stop come from the GUI thread. A lock makes
``close()`` wait for a write in progress, so the last frame is either fully in both files or in neither.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from app.record import MarksWriter, ResultsWriter, VideoRecorder
from app.timeline import TimelineLog
from app.types import FrameResult, marks_of
from app.ui.video_view import qimage_from_bgr


@dataclass(frozen=True)
class RecordingSummary:
    video: Path | None  # the annotated video (removed with the rest when empty); None when only results were asked for
    results: Path
    frames: int  # frames recorded (in the video file: the encoder's count once finalised)
    frames_with_face: int  # of those, frames with at least one face (each has CSV rows)
    rows: int  # CSV rows (one per face per frame)
    seconds: float
    error: str | None = None
    timeline: TimelineLog | None = None  # the main face frame by frame, for the timeline picture
    clean: Path | None = None  # the clean video, when one was asked for
    marks: Path | None = None  # the event marks (<stem>-marks.csv), when any was set
    mark_count: int = 0

    @property
    def picture(self) -> Path:
        """Where the recording's timeline picture goes: beside the results, with their stem."""
        return self.results.with_suffix(".png")

    @property
    def name(self) -> str:
        """The recording's name: the stem its files share."""
        return self.results.stem

    @property
    def empty(self) -> bool:
        """No frame arrived (paused, or the source had ended): the files were removed, nothing was saved."""
        return self.frames == 0


def timestamped_stem(prefix: str = "ferlive") -> str:
    return f"{prefix}-{datetime.now():%Y%m%d-%H%M%S}"


def unique_path(folder: Path, stem: str, suffix: str, *also: str) -> Path:
    """``folder/stem.suffix``, or ``stem-2``, ``stem-3``... when taken (two snapshots in one second), or when that
    name with any suffix in ``also`` is (a recording's files share their stem)."""
    n = 1
    while any((folder / f"{stem}{'' if n == 1 else f'-{n}'}{s}").exists() for s in (suffix, *also)):
        n += 1
    return folder / f"{stem}{'' if n == 1 else f'-{n}'}{suffix}"


class Recording:
    """Opens every file at once; ``OutputError`` from here means nothing was started. ``video``: the annotated
    video (off: no picture of anyone is kept, for studies that may not store video; the results and the timeline
    picture still are); ``clean``: also the clean video."""

    def __init__(self, folder: Path, fps: float, classes: tuple[str, ...] | None, stem: str | None = None,
                 clean: bool = False, video: bool = True) -> None:
        stem = stem or timestamped_stem()
        # no file of another recording is overwritten
        self.results_path = unique_path(folder, stem, ".csv", ".mp4", ".png", "-clean.mp4", "-marks.csv")
        self.video_path = self.results_path.with_suffix(".mp4") if video else None
        self.clean_path = self.results_path.with_name(f"{self.results_path.stem}-clean.mp4") if clean else None
        self._marks = MarksWriter(self.results_path.with_name(f"{self.results_path.stem}-marks.csv"))
        self._lock = threading.Lock()
        self._video = VideoRecorder(self.video_path, fps=fps or 30.0) if self.video_path is not None else None
        self._clean: VideoRecorder | None = None
        results: ResultsWriter | None = None
        try:
            results = ResultsWriter(self.results_path, classes=classes)
            if self.clean_path is not None:
                self._clean = VideoRecorder(self.clean_path, fps=fps or 30.0)
        except Exception:  # nothing started: no half of a recording is left behind
            for part in (self._video, results):
                if part is not None:
                    part.close()
            for path in (self.video_path, self.results_path):
                if path is not None:
                    path.unlink(missing_ok=True)
            raise
        self._results = results
        self._closed = False
        self._start: float | None = None  # the first frame's timestamp: the video's time 0
        self._started = time.monotonic()
        self.frames = 0
        self.frames_with_face = 0
        self.timeline = TimelineLog()
        self.summary: RecordingSummary | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def write(self, result: FrameResult, annotated: np.ndarray) -> None:
        """Called on the inference thread; a no-op once closed. Raises ``OutputError`` when the disk fails."""
        with self._lock:
            if self._closed:
                return
            if self._video is not None:
                self._video.write(annotated, timestamp=result.frame.timestamp)
            if self._clean is not None:
                self._clean.write(result.frame.image, timestamp=result.frame.timestamp)
            self._results.write(result)
            if self._start is None:
                self._start = result.frame.timestamp
            self._marks.write(marks_of(result), self._start)
            self.frames += 1
            self.frames_with_face += any(not face.held for face in result.faces)
            self.timeline.add(result.frame.timestamp, result.faces, result.subject, result.subject_away, result.marks)

    def write_marks(self, result: FrameResult) -> None:
        """The marks set on a frame already written (the one on screen while paused); a no-op once closed."""
        with self._lock:
            if self._closed or not result.marks:
                return
            self._marks.write(marks_of(result), self._start if self._start is not None else result.frame.timestamp)
            self.timeline.add_marks(result.frame.timestamp, result.marks)

    def close(self) -> RecordingSummary:
        """Stop taking frames, drain the encoder and write the MP4 index. Idempotent; may take a moment."""
        with self._lock:
            if self.summary is not None:
                return self.summary
            self._closed = True
            seconds = self.elapsed
            errors = []
            for part in (self._video, self._results, self._clean, self._marks):
                try:
                    if part is not None:
                        part.close()
                except Exception as exc:  # an OutputError from a disk that filled up; report, keep closing
                    errors.append(str(exc))
            if self.frames == 0:  # a CSV header and an MP4 with no frames would only look like a recording
                for path in (self.video_path, self.results_path, self.clean_path, self._marks.path):
                    if path is not None:
                        path.unlink(missing_ok=True)
            self.summary = RecordingSummary(
                video=self.video_path,
                results=self.results_path,
                frames=(self._video.frames_written if self._video is not None else self.frames) if self.frames else 0,
                frames_with_face=self.frames_with_face,
                rows=self._results.rows_written,
                seconds=seconds,
                error="; ".join(errors) or None,
                timeline=self.timeline,
                clean=self.clean_path if self.frames else None,
                marks=self._marks.written if self.frames else None,
                mark_count=self._marks.count,
            )
            return self.summary


class RecordingController(QObject):
    """Starts and stops recordings for the window; finalising (draining the encoder) runs off the GUI thread.

    ``attach`` hands the active recording to the thread that writes frames (``StreamWorker.set_recording``);
    ``saved`` fires once a stopped recording's files are complete and playable.
    """

    saved = Signal(object)  # RecordingSummary

    def __init__(self, attach: Callable[[Recording | None], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._attach = attach
        self.active: Recording | None = None
        self._finishing: list[threading.Thread] = []

    def start(self, folder: Path, fps: float, classes: tuple[str, ...] | None, clean: bool = False,
              video: bool = True) -> Recording:
        """Raises ``OutputError`` (nothing started) when the files cannot be created; ``video``: the annotated
        video, ``clean``: the clean one (``Recording``)."""
        if self.active is None:
            self.active = Recording(folder, fps=fps, classes=classes, clean=clean, video=video)
            self._attach(self.active)
        return self.active

    def stop(self, wait: bool = False) -> None:
        """Detach and finalise the active recording; ``wait`` blocks until done (window closing)."""
        recording, self.active = self.active, None
        if recording is None:
            return
        self._attach(None)
        if wait:
            self.saved.emit(recording.close())
            return
        thread = threading.Thread(target=lambda: self.saved.emit(recording.close()), name="finalise-recording")
        self._finishing = [t for t in self._finishing if t.is_alive()] + [thread]
        thread.start()

    def join(self) -> None:
        for thread in self._finishing:
            thread.join()


def save_snapshot(image: np.ndarray, folder: Path) -> Path:
    """Write ``image`` (BGR) as a PNG in ``folder``; returns the path. Raises ``OSError`` when it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    path = unique_path(folder, timestamped_stem("ferlive-snapshot"), ".png")
    qimage: QImage = qimage_from_bgr(image)
    if not qimage.save(str(path), "PNG"):
        raise OSError(f"Cannot write a snapshot to {path}: the folder is not writable or the disk is full.")
    return path
