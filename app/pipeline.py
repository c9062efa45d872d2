"""Frames in, per-face results out: face mesh -> tracker -> shared alignment -> one batched ONNX call ->
per-track smoothing, with per-stage timings. No Qt here; the desktop app and the CLI both drive this.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from app.face.align import align_face
from app.face.mesh import FaceMesh
from app.face.track import FaceTracker
from app.inference.engine import InferenceEngine
from app.smoothing import ProbabilitySmoother
from app.types import FaceResult, Frame, FrameResult


class StageTimer:
    """Milliseconds per named stage for one frame."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - t0) * 1000.0


class FacePipeline:
    """One instance per stream. ``set_engine`` swaps the model between frames (safe from another thread:
    a frame in flight finishes with the engine it started with)."""

    def __init__(self, engine: InferenceEngine, max_faces: int = 4, smoothing: float = 0.6, video_mode: bool = True):
        self.mesh = FaceMesh(max_faces=max_faces, video_mode=video_mode)
        self.tracker = FaceTracker()
        self.smoother = ProbabilitySmoother(smoothing)
        self._engine = engine

    @property
    def engine(self) -> InferenceEngine:
        return self._engine

    def set_engine(self, engine: InferenceEngine) -> None:
        """Swap the model; smoothing restarts because the new model's probabilities are not comparable."""
        self._engine = engine
        self.smoother.reset()

    def set_max_faces(self, n: int) -> None:
        self.mesh.set_max_faces(n)

    def set_smoothing(self, strength: float) -> None:
        self.smoother.strength = strength

    def reset(self) -> None:
        """New source: forget tracks, smoothing and MediaPipe's tracking state."""
        self.mesh.reset()
        self.tracker.reset()
        self.smoother.reset()

    def process(self, frame: Frame) -> FrameResult:
        engine = self._engine
        card = engine.card
        timer = StageTimer()
        with timer.stage("face_mesh"):
            faces = self.mesh.process(frame.image)
        with timer.stage("tracking"):
            faces = self.tracker.update(faces)
            self.smoother.forget(self.tracker.ended)
        with timer.stage("alignment"):
            aligned = [align_face(frame.image, f.landmarks, card.input.size, gray=card.input.color == "gray")
                       for f in faces]
        with timer.stage("inference"):
            if aligned:
                crops = np.stack([a.image for a in aligned])
                lms = np.stack([a.landmarks for a in aligned]) if card.uses_landmarks else None
                probs = engine.predict(crops, lms)
            else:
                probs = np.zeros((0, len(card.classes)), np.float32)
        with timer.stage("smoothing"):
            results = [
                FaceResult(track_id=f.track_id, box=f.box, landmarks=f.landmarks,
                           probabilities=self.smoother.update(f.track_id, p), classes=tuple(card.classes),
                           raw_probabilities=p)
                for f, p in zip(faces, probs)
            ]
        return FrameResult(frame=frame, faces=results, timings_ms=timer.ms, model_name=card.name)

    def close(self) -> None:
        self.mesh.close()
