"""MediaPipe face mesh wrapper: a BGR frame in, a list of ``Face`` (box + 478 landmarks) out."""

from __future__ import annotations

from contextlib import ExitStack

import cv2
import mediapipe as mp
import numpy as np

from app.face.small import SmallFaceFinder, inside_any
from app.quiet import filtered_native_stderr
from app.types import Face

N_LANDMARKS = 478
_NOISY_FRAMES = 5  # MediaPipe's graph threads may still log a line or two after the first frame has come back
# The live face detector's score threshold, below MediaPipe's 0.5 so that hard faces (dim, small, turned) are
# found. On the stream benchmark (python -m training.stream_eval, 200 publictest faces) 0.4 leaves 6 faces unfound
# in the second half of their segment against 9 at 0.5, and lifts the stable label's accuracy from 62.3% to 62.7%;
# 0.3 finds 4 but boxes a hand for two frames of interview_50s.mp4, where 0.4 and 0.5 find no extra face on any of
# the three shared clips. Stills and datasets (training.evaluate) detect with 0.3 in static mode, face by face.
MIN_DETECTION_CONFIDENCE = 0.4


class FaceMesh:
    """Finds up to ``max_faces`` faces with MediaPipe's face mesh (478 refined landmarks).

    ``video_mode=True`` uses MediaPipe's tracking between detections (fast, for streams);
    ``video_mode=False`` runs detection on every image (for stills and datasets). ``small_faces`` also finds the
    faces too small for the mesh's own detector (``app.face.small``) while fewer than ``max_faces`` are found.
    """

    def __init__(self, max_faces: int = 4, video_mode: bool = True,
                 min_confidence: float = MIN_DETECTION_CONFIDENCE, small_faces: bool = True):
        self.max_faces = max_faces
        self.video_mode = video_mode
        self.min_confidence = min_confidence
        self.small_faces = small_faces
        self._noise: ExitStack | None = None
        self._small: SmallFaceFinder | None = None
        self._detector = None  # MediaPipe's short-range face detector, made on first use by face_score()
        self._mesh = self._create()

    def _create(self):
        # MediaPipe's threads print absl/TFLite lines from the graph's construction until its first frames are done;
        # they are caught over that whole span (see app/quiet.py), which ends after _NOISY_FRAMES or in close()
        self._end_noise()
        self._noisy_frames = _NOISY_FRAMES
        self._noise = ExitStack()
        self._noise.enter_context(filtered_native_stderr())
        try:
            self._small = SmallFaceFinder(self.video_mode) if self.small_faces else None
            return mp.solutions.face_mesh.FaceMesh(
                static_image_mode=not self.video_mode,
                max_num_faces=self.max_faces,
                refine_landmarks=True,
                min_detection_confidence=self.min_confidence,
                min_tracking_confidence=0.5,
            )
        except BaseException:
            self._end_noise()
            raise

    def _end_noise(self) -> None:
        noise, self._noise = self._noise, None
        if noise is not None:
            noise.close()

    def __del__(self) -> None:  # a mesh dropped without close() must not keep stderr captured
        if getattr(self, "_noise", None) is not None:
            self._end_noise()

    def set_max_faces(self, max_faces: int) -> None:
        """Rebuild the graph when the face limit changes (MediaPipe fixes it at construction)."""
        if max_faces != self.max_faces:
            self.close()
            self.max_faces = max_faces
            self._mesh = self._create()

    def reset(self) -> None:
        """Forget tracking state, e.g. when the source changes."""
        self.close()
        self._mesh = self._create()

    def process(self, image_bgr: np.ndarray) -> list[Face]:
        h, w = image_bgr.shape[:2]
        rgb = _rgb(image_bgr)
        rgb.flags.writeable = False
        try:
            result = self._mesh.process(rgb)
        finally:
            self._noisy_frames -= 1
            if self._noisy_frames <= 0:
                self._end_noise()
        faces: list[Face] = []
        for lm in result.multi_face_landmarks or []:
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lm.landmark], dtype=np.float32)
            faces.append(face_from_landmarks(pts, w, h))
        faces = without_nested(faces)
        if self._small is not None and len(faces) < self.max_faces:
            for pts in self._small.find(rgb, [f.box for f in faces], self.max_faces - len(faces)):
                faces.append(face_from_landmarks(pts, w, h))
        return faces

    def face_score(self, image_bgr: np.ndarray) -> float:
        """The best score of MediaPipe's short-range face detector on ``image_bgr`` (0 without a face).

        The detector also fires on an upside-down face, as if it were upright, but with a lower score (0.60-0.62
        against 0.92-0.96 on frames of woman_smile_neutral and interview_50s), so comparing a photo's score with its
        half-turned copy's tells an upside-down photo (``app.face.stills.upright_faces``)."""
        if self._detector is None:
            with filtered_native_stderr():
                self._detector = mp.solutions.face_detection.FaceDetection(model_selection=0,
                                                                            min_detection_confidence=0.3)
        with filtered_native_stderr():
            detections = self._detector.process(_rgb(image_bgr)).detections or []
        return max((d.score[0] for d in detections), default=0.0)

    def close(self) -> None:
        # the graphs are closed while their log lines are still caught: one that never saw a frame logs as it stops
        try:
            if self._detector is not None:
                self._detector.close()
                self._detector = None
            if self._small is not None:
                self._small.close()
                self._small = None
            if self._mesh is not None:
                self._mesh.close()
                self._mesh = None
        finally:
            self._end_noise()

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _rgb(image_bgr: np.ndarray) -> np.ndarray:
    """A BGR or grey image as the RGB MediaPipe takes."""
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB if image_bgr.ndim == 3 else cv2.COLOR_GRAY2RGB)


def without_nested(faces: list[Face]) -> list[Face]:
    """Drop each face whose centre lies inside a larger face's box.

    On a photo that a face fills, MediaPipe's detector also fires on parts of that face (an eye, the mouth, a
    forehead ornament) and the mesh fits a small face there, which would be boxed and labelled as a second person.
    A real second face cannot have its centre inside another face's landmark box (the nearer head would hide it),
    so such a face is a false one. Measured on 420 AffectNet valid faces enlarged to 384 px photos (a one-off
    check): 10 nested false faces on 8 photos, all inside the real one; faces at the photo's edge are kept.
    """
    kept: list[Face] = []
    for face in faces:
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        if not any(other.area > face.area and inside_any(cx, cy, [other.box]) for other in faces):
            kept.append(face)
    return kept


def face_from_landmarks(points: np.ndarray, width: int, height: int, score: float = 1.0) -> Face:
    """Box = landmark extent, clipped to the frame."""
    x0, y0 = points[:, 0].min(), points[:, 1].min()
    x1, y1 = points[:, 0].max(), points[:, 1].max()
    box = (float(max(0, x0)), float(max(0, y0)), float(min(width, x1)), float(min(height, y1)))
    return Face(box=box, landmarks=points, score=score)
