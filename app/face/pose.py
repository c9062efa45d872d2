"""Whether a face is turned too far to the side for a reliable label, so the app can say so.

The training faces look at the camera: their head yaw (left-right turn) is under 31 degrees for 95% of AffectNet's
and under 36 for 95% of FER2013's. Past 30 degrees the default reads them worse: on AffectNet valid 55% of the faces
turned 30-40 degrees are right against 68% of those within 10, on FER2013 publictest 57% against 71% (yaw estimated
as here; training/README.md, "Head pose"). The remedy is a face towards the camera, so past ``TURNED_DEG`` the face
is marked, as a dim one is.

The yaw comes from the aligned mesh: the rotation that best maps the canonical face onto it (orthogonal Procrustes
in 3D; MediaPipe's depth is scaled as its x). The alignment itself only moves, turns in the picture's plane and
scales, so it leaves the yaw as it was.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from app.face.align import canonical_shape
from app.face.track_flags import TrackFlags

TURNED_DEG = 30.0  # |yaw| past this: less reliable
FRONTAL_AGAIN_DEG = 25.0  # back under this, on video, before the note goes (it would blink at the line otherwise)


@lru_cache(maxsize=1)
def _centred_canonical() -> np.ndarray:
    shape = canonical_shape().astype(np.float64)
    return shape - shape.mean(0)


def head_yaw(landmarks: np.ndarray) -> float:
    """Degrees the head is turned left or right (0: facing the camera) from an aligned face's (478, 3) landmarks."""
    points = np.asarray(landmarks, np.float64)[:, :3]
    u, _, vt = np.linalg.svd((points - points.mean(0)).T @ _centred_canonical())
    if np.linalg.det(u @ vt) < 0:  # a reflection is no head pose: the nearest rotation instead
        u[:, -1] *= -1
    rotation = u @ vt
    return float(np.degrees(np.arcsin(np.clip(rotation[0, 2], -1.0, 1.0))))


class TurnedFaces(TrackFlags):
    """Which tracked faces are turned too far: past ``TURNED_DEG``, and facing the camera again under
    ``FRONTAL_AGAIN_DEG``."""

    def __init__(self) -> None:
        super().__init__(on_at=TURNED_DEG, off_at=FRONTAL_AGAIN_DEG, above=True)

    def update(self, track_id: int, landmarks: np.ndarray) -> bool:
        return self.flag(track_id, abs(head_yaw(landmarks)))
