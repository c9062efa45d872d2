"""MediaPipe face mesh wrapper: a BGR frame in, a list of ``Face`` (box + 478 landmarks) out."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_minloglevel", "2")  # keep MediaPipe's C++ log quiet
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402

from app.types import Face  # noqa: E402

N_LANDMARKS = 478


class FaceMesh:
    """Finds up to ``max_faces`` faces with MediaPipe's face mesh (478 refined landmarks).

    ``video_mode=True`` uses MediaPipe's tracking between detections (fast, for streams);
    ``video_mode=False`` runs detection on every image (for stills and datasets).
    """

    def __init__(self, max_faces: int = 4, video_mode: bool = True, min_confidence: float = 0.5):
        self.max_faces = max_faces
        self.video_mode = video_mode
        self.min_confidence = min_confidence
        self._mesh = self._create()

    def _create(self):
        return mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not self.video_mode,
            max_num_faces=self.max_faces,
            refine_landmarks=True,
            min_detection_confidence=self.min_confidence,
            min_tracking_confidence=0.5,
        )

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
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB) if image_bgr.ndim == 3 else cv2.cvtColor(
            image_bgr, cv2.COLOR_GRAY2RGB
        )
        rgb.flags.writeable = False
        result = self._mesh.process(rgb)
        faces: list[Face] = []
        for lm in result.multi_face_landmarks or []:
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lm.landmark], dtype=np.float32)
            faces.append(face_from_landmarks(pts, w, h))
        return faces

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def face_from_landmarks(points: np.ndarray, width: int, height: int, score: float = 1.0) -> Face:
    """Box = landmark extent, clipped to the frame."""
    x0, y0 = points[:, 0].min(), points[:, 1].min()
    x1, y1 = points[:, 0].max(), points[:, 1].max()
    box = (float(max(0, x0)), float(max(0, y0)), float(min(width, x1)), float(min(height, y1)))
    return Face(box=box, landmarks=points, score=score)
