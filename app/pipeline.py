"""Frames in, per-face results out: face mesh -> tracker -> shared alignment -> one batched ONNX call ->
per-track smoothing, with per-stage timings. No Qt here; the desktop app and the CLI both drive this.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from app.face.align import align_face, crop_as_face
from app.face.change import FaceChangeDetector
from app.face.lighting import DimFaces
from app.face.mesh import FaceMesh
from app.face.mouth import mouth_opening
from app.face.person import FollowedPerson
from app.face.pose import TurnedFaces
from app.face.stills import faces_in_still, looks_like_face_crop, whole_image_face
from app.face.track import FaceTracker
from app.inference.engine import InferenceEngine
from app.neutral import CalibratedPeople, NeutralCalibration
from app.smoothing import LabelSmoother, Stability, stability_preset
from app.types import FaceResult, Frame, FrameResult, subject_face

# A face the mesh misses for a moment (motion blur, a hand passing, a hard frame) keeps its last box and label for
# this long, marked ``held``, so that its box and label do not blink off and on. About three frames at 30 fps: on
# the stream benchmark (python -m training.stream_eval, 600 publictest faces) the misses that end within three
# frames are nearly all that holding recovers; longer holds add nothing there and leave a departed face on screen.
LOST_FACE_HOLD_S = 0.12
# Faces labelled per frame by default: a video's cost is paid on every frame, a photo's once, and a group photo (a
# class, a team) holds more than four people. ``ferlive analyze --max-faces`` overrides both; the app's Max faces box
# sets the video limit and raises the photo one no further than itself.
VIDEO_MAX_FACES = 4
PHOTO_MAX_FACES = 20
# What a frame leaves behind for the next one (``FacePipeline.snapshot``): tracks, smoothing, face looks, the dim and
# turned flags' hysteresis and the faces held a moment. The face mesh's own tracking is not among them.
# The person followed by a click is not among them: a click made while paused holds for the frames shown after it.
_CARRIED_STATE = ("tracker", "smoother", "changes", "dim_faces", "turned_faces", "_last_seen", "_source",
                  "_calibrated")


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
    a frame in flight finishes with the engine it started with).

    ``stability`` is a preset name or ``Stability`` (default: ``app.smoothing.DEFAULT_STABILITY``); ``smoothing``,
    the old per-frame strength, replaces the preset's time constant with its equivalent at 30 fps. Stills
    (``video_mode=False``) are unrelated photos: each is labelled on its own, without temporal smoothing, its faces
    found as the training data's were (``app.face.stills``). A face crop (``face_crops`` True: every still is one,
    as in a dataset; None: a still that looks like one, ``looks_like_face_crop``; False: none) in which no face is
    found is taken whole, as training and evaluation take it.
    """

    def __init__(self, engine: InferenceEngine, max_faces: int = 4, stability: Stability | str | None = None,
                 video_mode: bool = True, smoothing: float | None = None, face_crops: bool | None = None):
        self.face_crops = face_crops
        self.mesh = FaceMesh(max_faces=max_faces, video_mode=video_mode)
        self.tracker = FaceTracker()
        self.changes = FaceChangeDetector()  # a different face at a track's place restarts its smoothing
        self.dim_faces = DimFaces()  # which tracked faces are too dim for a reliable label (app.face.lighting)
        self.turned_faces = TurnedFaces()  # and which are turned too far to the side (app.face.pose)
        preset = stability_preset(stability)
        self.smoother = LabelSmoother(preset if smoothing is None else preset.with_frame_smoothing(smoothing))
        self.video_mode = video_mode
        self.hold_s = LOST_FACE_HOLD_S
        self._last_seen: dict[int, tuple[FaceResult, float]] = {}  # track -> its last found result, and when
        self._source: str | None = None  # Frame.source of the last frame: another video starts afresh
        self._engine = engine
        # people's resting faces made to read neutral (app.neutral), the latest last; each weighs one person
        self.neutrals: tuple[NeutralCalibration, ...] = ()
        self._calibrated = CalibratedPeople()  # which face each weighs
        self._subject: FollowedPerson | None = None  # the person picked to follow (see ``subject``)

    @property
    def subject(self) -> int | None:
        """The track of the person picked to follow (``FrameResult.subject``): a face clicked in the app, followed
        across tracks by their look (``app.face.person``) when they step out and back, or after a seek; None
        while nobody is picked (single-subject outputs then follow the largest) or the person is not found
        (``subject_away``: they then have no face)."""
        return None if self._subject is None else self._subject.track

    @subject.setter
    def subject(self, track_id: int | None) -> None:
        """Follow the person whose face is track ``track_id`` now (None: nobody, the largest face)."""
        self._subject = None if track_id is None else FollowedPerson(track_id)

    @property
    def subject_away(self) -> bool:
        """A person was picked to follow and is not found (``FrameResult.subject_away``)."""
        return self._subject is not None and self._subject.track is None

    @property
    def neutral(self) -> NeutralCalibration | None:
        """The latest neutral calibration (None: none); setting one replaces them all (``neutrals``)."""
        return self.neutrals[-1] if self.neutrals else None

    @neutral.setter
    def neutral(self, calibration: NeutralCalibration | None) -> None:
        self.neutrals = () if calibration is None else (calibration,)

    def calibrated_track(self, calibration: NeutralCalibration) -> int | None:
        """The track ``calibration`` weighed on the last frame (None: its person was not in view)."""
        return self._calibrated.track_of(calibration)

    @property
    def engine(self) -> InferenceEngine:
        return self._engine

    def set_engine(self, engine: InferenceEngine) -> None:
        """Swap the model; smoothing restarts because the new model's probabilities are not comparable, and a
        neutral calibration, learnt on the old model's probabilities, is dropped."""
        self._engine = engine
        self.neutrals = ()
        self.smoother.reset()
        self._last_seen.clear()  # a held face would show the old model's label

    def set_max_faces(self, n: int) -> None:
        self.mesh.set_max_faces(n)

    def set_stability(self, stability: Stability | str) -> None:
        """Takes effect from the next frame; tracks keep their smoothed state."""
        self.smoother.stability = stability_preset(stability)

    def snapshot(self) -> dict:
        """A copy of what this frame leaves for the next (tracks, smoothing, flags), for ``restore``: a step back in
        a paused video shows a frame as it was played, and playing on from it goes on exactly as it did."""
        return copy.deepcopy({name: getattr(self, name) for name in _CARRIED_STATE})

    def restore(self, state: dict) -> None:
        """Carry on from a ``snapshot`` (which stays usable again). The face mesh finds the faces afresh: its own
        tracking belonged to another place in the video."""
        self.mesh.reset()
        for name, value in copy.deepcopy(state).items():
            setattr(self, name, value)

    def reset(self, mirrored: bool = False) -> None:
        """New source: forget tracks, smoothing and MediaPipe's tracking state. ``mirrored``: the picture was just
        mirrored (or unmirrored), so the people followed will look mirrored (``FollowedPerson.mirror``)."""
        self.mesh.reset()
        self.tracker.reset()
        self.smoother.reset()
        self.changes.reset()
        self.dim_faces.reset()
        self.turned_faces.reset()
        self._last_seen.clear()
        self._source = None
        self._calibrated.lose_tracks(mirrored)  # track numbers start again; people are found again by their looks
        if self._subject is not None:
            self._subject.lose_track()
            if mirrored:
                self._subject.mirror()

    def process(self, frame: Frame) -> FrameResult:
        if self.video_mode and self._source is not None and frame.source != self._source:
            self.reset()  # the next video of a folder: its faces are not the last video's
        self._source = frame.source
        engine = self._engine
        card = engine.card
        timer = StageTimer()
        with timer.stage("face_mesh"):
            if self.video_mode:
                faces = self.mesh.process(frame.image)
            else:
                faces = faces_in_still(self.mesh, frame.image) or (
                    [whole_image_face(frame.image)] if self._is_face_crop(frame.image) else [])
        with timer.stage("tracking"):
            if not self.video_mode:  # a photo's faces are numbered afresh, not matched to the last photo's:
                self.tracker.reset()  # #1 is the largest (the subject; a script reading a photo's first row gets it)
                self.dim_faces.reset()
                self.turned_faces.reset()
                faces = sorted(faces, key=lambda f: -f.area)
            faces = self.tracker.update(faces)
            self.smoother.forget(self.tracker.ended)
            self.changes.forget(self.tracker.ended)
            self.dim_faces.forget(self.tracker.ended)
            self.turned_faces.forget(self.tracker.ended)
        with timer.stage("alignment"):
            gray = card.input.color == "gray"
            aligned = [crop_as_face(frame.image, card.input.size, gray=gray) if f.whole_image
                       else align_face(frame.image, f.landmarks, card.input.size, gray=gray) for f in faces]
        with timer.stage("tracking"):  # who is who: another face in a track's place, the people followed
            new_faces = [self.video_mode and self.changes.update(f.track_id, a.image) for f, a in zip(faces, aligned)]
            gone = [*self.tracker.ended, *(f.track_id for f, new in zip(faces, new_faces) if new)]
            if self._subject is not None:
                self._subject.find(faces, gone, self.changes.look)
            # a calibration new to this frame binds to the subject's face (the one it was learnt on)
            first = subject_face(faces, self.subject, self.subject_away) if self.neutrals else None
            weighed = self._calibrated.assign(self.neutrals, faces, gone, self.changes.look,
                                              None if first is None else first.track_id)
        with timer.stage("inference"):
            if aligned:
                crops = np.stack([a.image for a in aligned])
                lms = np.stack([a.landmarks for a in aligned]) if card.uses_landmarks else None
                probs = engine.predict(crops, lms)
            else:
                probs = np.zeros((0, len(card.classes)), np.float32)
        with timer.stage("smoothing"):
            results = []
            for f, a, p, new_face in zip(faces, aligned, probs, new_faces):
                calibration = weighed.get(f.track_id)
                calibrated = calibration is not None
                q = calibration.apply(p) if calibrated else p
                if self.video_mode:
                    look = self.changes.look(f.track_id)
                    self._calibrated.learn(f.track_id, look)
                    if self._subject is not None and self._subject.track == f.track_id:
                        self._subject.learn(look)
                opening = mouth_opening(f.landmarks)
                smoothed, shown = (self.smoother.update(f.track_id, q, frame.timestamp, restart=new_face,
                                                        mouth_opening=opening)
                                   if self.video_mode else (q, None))
                results.append(FaceResult(track_id=f.track_id, box=f.box, landmarks=f.landmarks, probabilities=smoothed,
                                          classes=tuple(card.classes), raw_probabilities=p, shown_index=shown,
                                          new_face=new_face, mouth_opening=opening,
                                          talking=self.video_mode and self.smoother.talking(f.track_id),
                                          whole_image=f.whole_image, dim=self.dim_faces.update(f.track_id, a.image),
                                          turned=self.turned_faces.update(f.track_id, a.landmarks),
                                          calibrated=calibrated))
            if self.video_mode:  # stills are unrelated photos: nothing carries over from one to the next
                results += self._held_faces(results, frame.timestamp)
        return FrameResult(frame=frame, faces=results, timings_ms=timer.ms, model_name=card.name, subject=self.subject,
                           subject_away=self.subject_away)

    def _is_face_crop(self, image: np.ndarray) -> bool:
        return looks_like_face_crop(image) if self.face_crops is None else self.face_crops

    def _held_faces(self, found: list[FaceResult], timestamp: float) -> list[FaceResult]:
        """Tracks missed on this frame but seen within ``hold_s``, as they were last shown (no raw probabilities:
        the model saw nothing new), up to the face limit; a track the tracker has dropped is never held."""
        for face in found:
            self._last_seen[face.track_id] = (face, timestamp)
        for track_id in self.tracker.ended:
            self._last_seen.pop(track_id, None)
        seen = {face.track_id for face in found}
        held = []
        for track_id, (face, at) in list(self._last_seen.items()):
            if track_id in seen:
                continue
            if not 0.0 <= timestamp - at <= self.hold_s:  # too long ago, or time ran backwards (a seek)
                del self._last_seen[track_id]
            elif len(found) + len(held) < self.mesh.max_faces:
                held.append(replace(face, raw_probabilities=None, new_face=False, held=True))
        return held

    def close(self) -> None:
        self.mesh.close()
