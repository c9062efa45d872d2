"""Faces in still images, found the way the training data's faces were found.

Training prepares every dataset image with these functions (``training.data.prepare``), and the app's photo path
(``ferlive analyze`` on a photo or a folder) uses them too, so a face crop from a dataset gives the app exactly the
aligned face it gave training:

- a small image (a 48 px FER2013 crop, a 96 px AffectNet crop) is enlarged to about ``DETECT_SIDE`` pixels and
  padded by edge replication before MediaPipe sees it, because the detector misses faces that fill a tiny image;
- where no face is found in a face crop, the whole image is the face (``whole_image_face``; aligned by
  ``app.face.align.crop_as_face``). A small, near-square image is taken for a face crop (``looks_like_face_crop``):
  nobody photographs a scene at 48 or 96 px, while every face dataset ships its crops at that size.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.face.align import canonical_shape
from app.types import Face

DETECT_SIDE = 192  # MediaPipe's detector finds small crops reliably once they are about this big
PAD_FRACTION = 1 / 3  # replicated border, as a share of DETECT_SIDE: room around a face that fills its crop
CROP_MAX_ASPECT = 1.5  # dataset crops are square (FER2013, CK+, AffectNet, RAF-DB) or nearly so (SFEW's 143x181)


def enlarge_for_detection(bgr: np.ndarray) -> tuple[np.ndarray, float, int]:
    """A BGR image whose short side is under ``DETECT_SIDE``, enlarged to it and padded; returns (big, scale, pad)
    with big-image pixel = image pixel * scale + pad. Larger images come back unchanged (scale 1, pad 0)."""
    scale = max(1.0, DETECT_SIDE / min(bgr.shape[:2]))
    if scale == 1.0:
        return bgr, 1.0, 0
    big = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    pad = int(round(DETECT_SIDE * PAD_FRACTION))
    return cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE), scale, pad


def looks_like_face_crop(bgr: np.ndarray) -> bool:
    """Whether an image is the size and shape of a dataset's face crop: under ``DETECT_SIDE`` on its short side
    and at most ``CROP_MAX_ASPECT`` times as long as it is wide (or the other way round)."""
    short, long = sorted(bgr.shape[:2])
    return short < DETECT_SIDE and long <= CROP_MAX_ASPECT * short


def faces_in_still(mesh, bgr: np.ndarray) -> list[Face]:
    """The faces ``mesh`` (a still-mode ``FaceMesh``) finds in ``bgr``, in its own pixels."""
    from app.face.mesh import face_from_landmarks  # mesh imports MediaPipe; this module stays light

    big, scale, pad = enlarge_for_detection(bgr)
    faces = mesh.process(big)
    if scale == 1.0:
        return faces
    h, w = bgr.shape[:2]
    out = []
    for face in faces:
        points = face.landmarks.copy()
        points[:, :2] -= pad
        points /= scale
        out.append(face_from_landmarks(points, w, h, face.score))
    return out


def whole_image_face(bgr: np.ndarray) -> Face:
    """The whole image as one face (for an image known to be a face crop), with the canonical landmark shape
    stretched over it; ``Face.whole_image`` tells the pipeline to align it with ``crop_as_face``."""
    h, w = bgr.shape[:2]
    points = canonical_shape() * np.array([w, h, w], np.float32)
    return Face(box=(0.0, 0.0, float(w), float(h)), landmarks=points, whole_image=True)
