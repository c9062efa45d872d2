"""Headless analysis of a video, image or folder: annotated video + per-frame results, with progress.

Used by ``ferlive analyze``. Every input frame is processed and written (no dropping: this is offline work).
Outputs are finalised on every exit path (end of input, Ctrl-C, an exception), so what was written stays
playable.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.analysis_summary import AnalysisSummary
from app.capture import FolderSource, ImageSource, VideoFileSource, open_source
from app.capture.rotate import rotated
from app.dataset_score import DatasetScore, folder_class
from app.errors import ModelLoadError, SourceError
from app.face.orientation import OrientationHint
from app.inference.engine import InferenceEngine
from app.inference.registry import ModelRegistry
from app.neutral import CALIBRATION_S, CalibrationError, NeutralCalibration, NeutralCollector
from app.pipeline import PHOTO_MAX_FACES, VIDEO_MAX_FACES, FacePipeline, StageTimer
from app.publish import PublisherSet
from app.record import ResultsWriter, VideoRecorder
from app.record.photos import VIDEO_EXTENSIONS, AnnotatedPhotos
from app.render import RenderOptions, render
from app.smoothing import Stability


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
