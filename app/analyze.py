"""Headless analysis of a video, image or folder: annotated video + per-frame results, with progress.

Used by ``ferlive analyze``. Every input frame is processed and written (no dropping: this is offline work).
Outputs are finalised on every exit path (end of input, Ctrl-C, an exception), so what was written stays
playable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.capture import FolderSource, ImageSource, VideoFileSource, open_source
from app.capture.rotate import rotated
from app.dataset_score import DatasetScore, folder_class
from app.errors import ModelLoadError, SourceError
from app.face.orientation import OrientationHint
from app.inference.engine import InferenceEngine
from app.inference.registry import ModelRegistry
from app.label_changes import LabelChanges
from app.neutral import CALIBRATION_S, CalibrationError, NeutralCalibration, NeutralCollector
from app.pipeline import PHOTO_MAX_FACES, VIDEO_MAX_FACES, FacePipeline, StageTimer
from app.publish import PublisherSet
from app.record import ResultsWriter, VideoRecorder
from app.record.photos import VIDEO_EXTENSIONS, AnnotatedPhotos
from app.render import RenderOptions, render
from app.smoothing import Stability
from app.timeline import TimelineLog


@dataclass
class AnalysisSummary:
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


def load_engine(model: str | None, provider: str = "auto", registry: ModelRegistry | None = None) -> InferenceEngine:
    """The named model, a path to an .onnx, or the registry's default when ``model`` is None."""
    if model and model.endswith(".onnx"):
        return InferenceEngine(model, provider=provider)
    registry = registry or ModelRegistry()
    entry = registry.get(model) if model else registry.default()
    if entry is None:
        raise ModelLoadError(f"no usable model in {registry.models_dir}; train one or name an .onnx file")
    if entry.error:
        raise ModelLoadError(f"model {entry.name} cannot be used: {entry.error}")
    return InferenceEngine(entry.onnx_path, card=entry.card, provider=provider)


def analyze(
    input_path: str,
    model: str | None = None,
    out_video: str | Path | None = None,
    results_paths: list[str | Path] | tuple = (),
    provider: str = "auto",
    max_faces: int | None = None,
    stability: Stability | str | None = None,
    smoothing: float | None = None,
    options: RenderOptions | None = None,
    progress: bool = True,
    max_frames: int | None = None,
    engine: InferenceEngine | None = None,
    publishers: PublisherSet | None = None,
    face_crops: bool | None = None,
    rotate: int = 0,
    neutral_at: float | None = None,
) -> AnalysisSummary:
    """Process every frame of ``input_path``; ``engine`` (already loaded) takes precedence over ``model``.

    ``max_faces`` defaults to ``VIDEO_MAX_FACES`` for video and ``PHOTO_MAX_FACES`` for photos (a group photo).
    ``face_crops`` True: the input is a photo or folder of face crops (as in a dataset), so a crop in which no face
    is found is labelled whole, as training and ``training.evaluate`` do, instead of getting no row; None (the
    default): only photos the size and shape of a dataset's crop are (``app.face.stills.looks_like_face_crop``);
    False: none is. ``rotate`` turns every frame that many degrees clockwise first (a camera mounted sideways or
    upside down; ``app.capture.rotate``). ``neutral_at``: learn the largest face's resting face over
    ``CALIBRATION_S`` seconds from that many seconds into the video, and calibrate the whole video with it
    (``app.neutral``; raises ``CalibrationError`` when those seconds cannot calibrate).

    ``publishers`` (started by the caller, who also closes them) get every result as it is made; they never slow
    the loop, so a receiver slower than the analysis sees only the newest frames.
    """
    options = options or RenderOptions()
    engine = engine or load_engine(model, provider)
    source = open_source(input_path)
    stills = _is_stills(source)
    if face_crops and not stills:
        source.close()
        raise SourceError(f"--face-crops is for photos and folders of face crops; {input_path} is a video or camera.")
    if neutral_at is not None and stills:
        source.close()
        raise SourceError(f"--neutral-at calibrates on a person in a video; {input_path} is photos.")
    try:
        neutral = None if neutral_at is None else calibrate_on_video(input_path, engine, neutral_at, rotate)
    except BaseException:
        source.close()
        raise
    summary = AnalysisSummary(model=engine.card.name, provider=engine.provider,
                              unit="photos" if stills else "frames", classes=tuple(engine.card.classes))
    if isinstance(source, FolderSource):  # a dataset laid out as <class>/<image> is scored against its folders
        summary.score = DatasetScore(summary.classes, folder=folder_class(f"{Path(input_path).name}/", summary.classes))
    if max_faces is None:
        max_faces = PHOTO_MAX_FACES if stills else VIDEO_MAX_FACES
    pipeline = FacePipeline(engine, max_faces=max_faces, stability=stability, smoothing=smoothing,
                            video_mode=not stills, face_crops=face_crops)
    pipeline.neutral = neutral
    summary.neutral = neutral.describe() if neutral is not None else ""
    recorder = None
    hint = OrientationHint()  # a video whose faces look turned says which --rotate stands them upright
    writers: list[ResultsWriter] = []
    t0: float | None = None
    try:
        # outputs are opened after the input so a bad input leaves no empty files behind
        write_annotated, write_stage = None, ""  # where each annotated frame goes, and the stage that times it
        if out_video and stills and Path(out_video).suffix.lower() not in VIDEO_EXTENSIONS:
            photos = summary.photos_out = AnnotatedPhotos(out_video, single=not isinstance(source, FolderSource))
            write_annotated, write_stage = (lambda f, image: photos.write(f.image_name, image)), "encode"
        elif out_video:
            recorder = VideoRecorder(out_video, fps=source.fps or 30.0)
            # only queued here: the recorder's thread encodes, and its cost is added at the end
            write_annotated, write_stage = (lambda f, image: recorder.write(image)), "encode_queue"
        writers = [ResultsWriter(p, classes=engine.card.classes) for p in results_paths if p]
        total = source.frame_count if max_frames is None else min(source.frame_count or max_frames, max_frames)
        bar = tqdm(total=total, unit="frame", desc=Path(str(input_path)).name, disable=not progress)
        t0 = time.perf_counter()
        while max_frames is None or summary.frames < max_frames:
            timer = StageTimer()
            with timer.stage("decode"):
                frame = source.read()
            if frame is None:
                summary.expected_frames = source.frame_count  # ended by itself: did it deliver what it announced?
                break
            frame = rotated(frame, rotate)
            result = pipeline.process(frame)
            result.timings_ms.update(timer.ms)
            if write_annotated is not None:
                with timer.stage("render"):
                    annotated = render(frame.image, result.faces, options)
                with timer.stage(write_stage):
                    write_annotated(frame, annotated)
                result.timings_ms.update({k: timer.ms[k] for k in ("render", write_stage)})
            for writer in writers:
                writer.write(result)
            if summary.score is not None:
                summary.score.add(frame.image_name, result.faces)
            if publishers is not None:
                publishers.publish(result)
            summary.frames += 1
            found = sum(not face.held for face in result.faces)  # a held face is shown, not found again
            summary.faces += found
            summary.frames_with_face += found > 0
            summary.whole_images += sum(face.whole_image for face in result.faces)
            for face in result.faces:
                summary.labels[face.label] = summary.labels.get(face.label, 0) + 1
                summary.dim += face.dim
                summary.turned += face.turned
                if (raw := face.reported_raw) is not None and len(raw) == len(summary.classes):
                    summary.raw_sum = raw.astype(np.float64) + (0.0 if summary.raw_sum is None else summary.raw_sum)
                    summary.raw_faces += 1
            if not stills and summary.rotate_hint is None and (
                    turn := hint.update(pipeline.mesh, frame.image, result.faces, frame.timestamp)):
                summary.rotate_hint = (rotate + turn) % 360
            if not stills:  # photos are numbered afresh each: there is no label to change
                summary.label_changes.feed(frame.timestamp, {face.track_id: face.label for face in result.faces})
                summary.timeline.add(frame.timestamp, result.faces)
            for k, v in result.timings_ms.items():
                summary.stage_ms.setdefault(k, []).append(v)
            bar.update(1)
        bar.close()
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        source.close()
        pipeline.close()
        if recorder is not None:
            recorder.close()
            # encoding runs on the recorder's thread: report its real per-frame cost, not the queueing time
            summary.stage_ms["encode"] = list(recorder.encode_ms)
        for writer in writers:
            writer.close()
        # wall time includes draining the encoder, so fps is what a user waits for
        summary.seconds = time.perf_counter() - t0 if t0 is not None else 0.0
    return summary


def calibrate_on_video(input_path: str | Path, engine: InferenceEngine, start_s: float,
                       rotate: int = 0) -> NeutralCalibration:
    """The neutral calibration (``app.neutral``) learnt from the largest face over ``CALIBRATION_S`` seconds from
    ``start_s`` seconds into the video; ``CalibrationError`` says why those seconds cannot make one."""
    source = open_source(input_path)
    pipeline = FacePipeline(engine, max_faces=VIDEO_MAX_FACES)
    collector = NeutralCollector()
    try:
        if start_s > 0:
            if not isinstance(source, VideoFileSource):
                raise CalibrationError(f"{input_path} cannot be sought in: use --neutral-at 0")
            source.seek(start_s)
        while (frame := source.read()) is not None:
            if collector.feed_faces(frame.timestamp, pipeline.process(rotated(frame, rotate)).faces):
                card = engine.card
                return collector.learn(tuple(card.classes), card.neutral_reference, card.name)
        raise CalibrationError(f"the video ends before {start_s:g} + {CALIBRATION_S:g} s")
    finally:
        source.close()
        pipeline.close()


def _is_stills(source) -> bool:
    """Unrelated images (a folder, a photo) need detection on every frame, not tracking."""
    return isinstance(source, (FolderSource, ImageSource))
