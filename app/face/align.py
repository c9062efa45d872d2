"""THE alignment: one similarity transform from face-mesh landmarks to a canonical template.

The app and training both call ``align_face`` so a model sees live exactly what it saw in training.
The template was measured on FER2013 (MediaPipe run on upscaled crops, see
``training/calibrate_template.py``): an aligned live face is framed like a FER2013 crop, and a FER2013 crop
aligned with its own landmarks is close to the identity. Images that are already face crops but where no face
is found fall back to ``crop_as_face`` (the whole image, the canonical landmark shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

TEMPLATE_VERSION = "fer2013-5pt-v2"  # v2: anti-aliased shrinking (same template)

# MediaPipe indices of the five anchor points: the two iris centres, the nose tip, the two mouth corners.
ANCHOR_INDICES = (468, 473, 1, 61, 291)
# Where those points sit in a unit square (x right, y down), symmetrised medians over FER2013 train.
TEMPLATE = np.array(
    [[0.314, 0.385], [0.686, 0.385], [0.500, 0.625], [0.355, 0.771], [0.645, 0.771]],
    dtype=np.float32,
)
# Weights: the eyes fix rotation and scale best; the mouth moves with expression, so it counts less.
ANCHOR_WEIGHTS = np.array([1.0, 1.0, 0.7, 0.4, 0.4], dtype=np.float64)

_SHAPE_FILE = Path(__file__).with_name("canonical_shape.npy")


@dataclass(frozen=True)
class AlignedFace:
    """An aligned crop and the landmarks in its frame (x, y in 0..1 of the crop; z scaled alike)."""

    image: np.ndarray  # size x size x 3 (BGR) or size x size (grey), uint8
    landmarks: np.ndarray  # (478, 3) float32
    matrix: np.ndarray  # 2x3 affine, frame pixels -> crop pixels


@lru_cache(maxsize=1)
def canonical_shape() -> np.ndarray:
    """Mean 478-point shape of an aligned face, in unit-square coordinates."""
    return np.load(_SHAPE_FILE).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares similarity (Umeyama) mapping ``src`` (N,2) onto ``dst`` (N,2); returns 2x3."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s = (w[:, None] * src).sum(0)
    mu_d = (w[:, None] * dst).sum(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = (w[:, None, None] * (d0[:, :, None] * s0[:, None, :])).sum(0)
    var_s = (w * (s0**2).sum(1)).sum()
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / max(var_s, 1e-12)
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]]).astype(np.float64)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int, gray: bool = False) -> AlignedFace:
    """Warp ``image`` so the face's anchor landmarks land on the template in a ``size`` x ``size`` crop.

    ``landmarks`` are (478, 3) in the image's pixels, as ``FaceMesh`` returns them.
    """
    src = landmarks[list(ANCHOR_INDICES), :2]
    matrix = similarity_transform(src, TEMPLATE * size, ANCHOR_WEIGHTS)
    crop = warp_antialiased(image, matrix, size)
    if gray and crop.ndim == 3:  # convert the small crop, not the whole frame (both steps are linear)
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return AlignedFace(crop, transform_landmarks(landmarks, matrix, size), matrix)


def warp_antialiased(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``cv2.warpAffine`` that averages instead of point-sampling when it shrinks.

    warpAffine ignores INTER_AREA and samples one bilinear point per output pixel, so a 400-pixel face from a
    full-resolution photo or a 1080p camera would come out as aliased noise, unlike the smoothly downsampled
    FER2013 crops the models learn from. Only the region the crop covers is shrunk (INTER_AREA) to about the
    crop's own scale first; the remaining warp is then close to 1:1.
    """
    scale = _scale(matrix)
    if scale >= 0.75:
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    h, w = image.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    margin = 2.0 / scale
    x0, y0 = np.floor(corners.min(0) - margin).astype(int)
    x1, y1 = np.ceil(corners.max(0) + margin).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:  # the crop lies outside the frame: nothing to average
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = image[y0:y1, x0:x1]
    new_w, new_h = max(2, round((x1 - x0) * scale)), max(2, round((y1 - y0) * scale))
    small = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
    # frame pixel p -> small pixel q = (p - origin + 0.5) * k - 0.5, per axis (pixel-centre convention of resize)
    kx, ky = new_w / (x1 - x0), new_h / (y1 - y0)
    to_small = np.array([[kx, 0, (0.5 - x0) * kx - 0.5], [0, ky, (0.5 - y0) * ky - 0.5]], np.float64)
    from_small = cv2.invertAffineTransform(to_small)
    combined = matrix[:, :2] @ from_small[:, :2]
    offset = matrix[:, :2] @ from_small[:, 2] + matrix[:, 2]
    return cv2.warpAffine(small, np.hstack([combined, offset[:, None]]), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def transform_landmarks(landmarks: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Frame-pixel landmarks -> unit-square crop coordinates (z scaled by the same factor)."""
    xy = landmarks[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    z = landmarks[:, 2:3] * _scale(matrix)
    return (np.hstack([xy, z]) / size).astype(np.float32)


def crop_as_face(image: np.ndarray, size: int, gray: bool = False) -> AlignedFace:
    """Fallback for an image that is already a face crop: the whole image, the canonical landmark shape."""
    if gray and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR
    crop = cv2.resize(image, (size, size), interpolation=interp)
    matrix = np.array([[size / w, 0, 0], [0, size / h, 0]], dtype=np.float64)
    return AlignedFace(crop, canonical_shape().copy(), matrix)


def _scale(matrix: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
