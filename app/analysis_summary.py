"""What ``ferlive analyze`` tells about one input once it is done: counts, speed, the labels shown, how many frames
had a dim or turned face, a class-folder dataset's score, and one row of the ``--summary`` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.dataset_score import DatasetScore
from app.label_changes import LabelChanges
from app.record.photos import AnnotatedPhotos
from app.timeline import TimelineLog


@dataclass
class AnalysisSummary:
    """Filled in by ``app.analyze.analyze`` as the frames go by; ``describe()`` is what the command prints."""

    frames: int = 0
    frames_with_face: int = 0
    faces: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    model: str = ""
    provider: str = ""
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    expected_frames: int | None = None  # what the input announced, recorded when it ended before max_frames
    labels: dict[str, int] = field(default_factory=dict)  # face-frames per label shown (what a viewer saw)
    whole_images: int = 0  # face crops without a found face, taken whole (face_crops)
    dim: int = 0  # face-frames too dim for a reliable label (app.face.lighting)
    turned: int = 0  # face-frames turned too far to the side for one (app.face.pose)
    photos_out: AnnotatedPhotos | None = None  # where annotated photos went, when the input was photos
    unit: str = "frames"  # what the input is made of: "frames" of a video, or "photos"
    label_changes: LabelChanges = field(default_factory=LabelChanges)  # steadiness of the shown labels (video)
    classes: tuple[str, ...] = ()  # the model's, in its order
    raw_sum: np.ndarray | None = None  # the model's own probabilities summed over every face it saw
    raw_faces: int = 0  # faces in raw_sum
    timeline: TimelineLog = field(default_factory=TimelineLog)  # a video's main face, frame by frame (--plot)
    rotate_hint: int | None = None  # the --rotate that would stand a video's faces upright, where they look turned
    neutral: str = ""  # what the calibrated resting face read as, with --neutral-at (app.neutral)
    score: DatasetScore | None = None  # a folder of photos, counted against the class folders they sit in

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def face_coverage(self) -> float:
        return self.frames_with_face / self.frames if self.frames else 0.0

    @property
    def missing_frames(self) -> int:
        """Frames the input announced but never delivered (a truncated or damaged file); 0 when it delivered all.

        One frame of slack: containers without a frame count have it estimated from duration and rate.
        """
        if self.expected_frames is None or self.interrupted:
            return 0
        missing = self.expected_frames - self.frames
        return missing if missing > 1 else 0

    def shortfall(self) -> str | None:
        """The warning for an input that ended early, or None."""
        if not self.missing_frames:
            return None
        return (
            f"only {self.frames} of the {self.expected_frames} frames the input announces could be decoded: "
            "it is truncated or damaged, so the results stop early"
        )

    def stage_medians(self) -> dict[str, float]:
        return {k: float(np.median(v)) for k, v in self.stage_ms.items() if v}

    def label_shares(self) -> dict[str, float]:
        """Share of shown face-frames per label, most shown first."""
        total = sum(self.labels.values())
        return {k: v / total for k, v in sorted(self.labels.items(), key=lambda kv: -kv[1])} if total else {}

    def dim_share(self) -> float | None:
        """Share of the face-frames shown that were too dim for a reliable label; None without any face."""
        return self._face_share(self.dim)

    def turned_share(self) -> float | None:
        """Share of the face-frames shown that were turned too far to the side; None without any face."""
        return self._face_share(self.turned)

    def _face_share(self, count: int) -> float | None:
        total = sum(self.labels.values())
        return count / total if total else None

    def mean_raw(self) -> dict[str, float]:
        """The model's own probability of each class, averaged over every face it saw (a continuous measure)."""
        if self.raw_sum is None or not self.raw_faces:
            return {}
        return {name: float(v) / self.raw_faces for name, v in zip(self.classes, self.raw_sum)}

    def problem(self) -> str | None:
        """Why the results stop early (Ctrl-C, a truncated file), or None."""
        return "interrupted (Ctrl-C): the results stop there" if self.interrupted else self.shortfall()

    def table_row(self) -> dict[str, object]:
        """This input's line in ``--summary``: why it stops early if it does, counts, steadiness and, per class, the
        share of face-frames that showed it and the mean raw probability (``app.record.SummaryTable``)."""
        shares = self.label_shares()
        is_video = self.unit == "frames" and self.label_changes.seconds > 0
        return {
            "error": self.problem(), "frames": self.frames, "frames_with_face": self.frames_with_face,
            "face_coverage": round(self.face_coverage, 4), "faces": self.faces,
            "face_seconds": round(self.label_changes.seconds, 3) if is_video else None,
            "label_changes_per_second": round(self.label_changes.per_second, 3) if is_video else None,
            "dim_share": None if (dim := self.dim_share()) is None else round(dim, 4),
            "turned_share": None if (turned := self.turned_share()) is None else round(turned, 4),
            "model": self.model,
            "accuracy": None if self.score is None or self.score.accuracy is None else round(self.score.accuracy, 4),
            **{f"share_{name}": round(shares.get(name, 0.0), 4) for name in self.classes},
            **{f"mean_raw_{name}": round(v, 4) for name, v in self.mean_raw().items()},
        }

    def describe(self) -> str:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in self.stage_medians().items())
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in self.label_shares().items())
        unit = self.unit[:-1]  # "frame" or "photo"
        return (
            f"{'interrupted after ' if self.interrupted else ''}{_count(self.frames, unit)} processed, "
            f"{_count(self.faces, 'face')} found ({_count(self.frames_with_face, unit)} with a face, "
            f"{100 * self.face_coverage:.1f}%), "
            f"{self.fps:.1f} {self.unit} per second on {self.provider} with {self.model}\n"
            + (f"{_count(self.whole_images, 'face crop')} without a found face taken whole\n" if self.whole_images
               else "")
            + (f"neutral calibrated: the resting face read as {self.neutral}\n" if self.neutral else "")
            + (f"labels shown: {shares}\n" if shares else "")
            + (f"dim faces: {100 * self.dim_share():.0f}% of the faces shown (light them for reliable labels)\n"
               if self.dim else "")
            + (f"turned faces: {100 * self.turned_share():.0f}% of the faces shown (more than 30° to the side: "
               f"facing the camera gives reliable labels)\n" if self.turned else "")
            + (f"the faces look turned: if the camera was mounted turned, analyse again with --rotate "
               f"{self.rotate_hint}\n" if self.rotate_hint is not None else "")
            + (f"label changes: {self.label_changes.per_second:.2f} per second of face time "
               f"({_count(self.label_changes.changes, 'change')} in {self.label_changes.seconds:.1f} s)\n"
               if self.unit == "frames" and self.label_changes.seconds > 0 else "")
            + (self.score.describe() if self.score is not None else "")
            + f"median ms per {unit}: {stages}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
