"""The main face's probabilities and every face's shown label, frame by frame: what a timeline picture draws.

``ferlive analyze --plot`` and the app's recordings each keep one, and ``app.ui.timeline_plot`` draws it. The main
face is the one the app's probability panel and single-face outputs follow (a clicked face, else the largest); with
several people in view the picture also gives each tracked face's labels (by the CSV's ``track_id``).
"""

from __future__ import annotations

import numpy as np

from app.types import FaceResult, subject_face


class TimelineLog:
    """Feed every frame's faces in order; ``arrays()`` gives what to draw.

    The classes are the first face's; a frame whose main face comes from a model with other classes (switched
    mid-recording) counts as a frame without a face, so the curves never mix two models' class orders.
    """

    def __init__(self) -> None:
        self.classes: tuple[str, ...] = ()
        self._times: list[float] = []
        self._probabilities: list[np.ndarray | None] = []
        self._labels: list[int] = []
        self._track_labels: dict[int, dict[int, int]] = {}  # track_id -> {frame position: shown label}
        self.marks: list[tuple[float, str]] = []  # (timestamp, text) of the operator's event marks, in order

    def __len__(self) -> int:
        return len(self._times)

    def add(self, timestamp: float, faces: list[FaceResult], subject: int | None = None, away: bool = False,
            marks: tuple[str, ...] = ()) -> None:
        """One frame; ``subject``: the track picked to follow (``FrameResult.subject``), else the largest face;
        ``away``: the person picked is out of view (``FrameResult.subject_away``), a gap for the main face;
        ``marks``: events marked on it (``FrameResult.marks``), drawn as lines."""
        self.add_marks(timestamp, marks)
        main = subject_face(faces, subject, away)
        if main is not None and not self.classes:
            self.classes = tuple(main.classes)
        known = main is not None and tuple(main.classes) == self.classes
        self._times.append(float(timestamp))
        self._probabilities.append(np.asarray(main.probabilities, np.float32).copy() if known else None)
        self._labels.append(main.label_index if known else -1)
        frame = len(self._times) - 1
        for face in faces:
            if tuple(face.classes) == self.classes:
                self._track_labels.setdefault(face.track_id, {})[frame] = face.label_index

    def add_marks(self, timestamp: float, marks: tuple[str, ...]) -> None:
        """Events marked on a frame already added (the one on screen while paused)."""
        self.marks.extend((float(timestamp), text) for text in marks)

    @property
    def track_count(self) -> int:
        """How many tracked faces showed a label at some frame."""
        return len(self._track_labels)

    def track_labels(self, limit: int) -> list[tuple[int, np.ndarray]]:
        """Up to ``limit`` tracked faces, those seen on the most frames, in order of first appearance: (track_id,
        shown label per frame (N,), -1 where that face was not in view)."""
        busiest = sorted(self._track_labels, key=lambda t: -len(self._track_labels[t]))[:limit]
        rows = []
        for track in sorted(busiest, key=lambda t: (next(iter(self._track_labels[t])), t)):  # first frame
            labels = np.full(len(self), -1, np.int64)
            for frame, label in self._track_labels[track].items():
                labels[frame] = label
            rows.append((track, labels))
        return rows

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times (N,) in seconds, probabilities (N, C) with NaN rows where there was no face, labels (N,) the shown
        label's index or -1."""
        blank = np.full(len(self.classes), np.nan, np.float32)
        probabilities = np.array([blank if p is None else p for p in self._probabilities], np.float32)
        return (np.array(self._times, np.float64), probabilities.reshape(len(self), len(self.classes)),
                np.array(self._labels, np.int64))
