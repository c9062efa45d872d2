"""The shared alignment: geometry of the similarity fit, and real faces from MediaPipe landing on the template."""

import cv2
import numpy as np
import pytest

from app.face.align import ANCHOR_INDICES, TEMPLATE, align_face, canonical_shape, crop_as_face, similarity_transform
from app.face.mesh import FaceMesh
from tests.datapaths import require_data, video


def test_similarity_transform_recovers_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, t = np.deg2rad(17), 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


def test_align_maps_anchors_onto_template_and_landmarks_follow():
    shape = canonical_shape().copy()
    # a synthetic face: the canonical shape scaled, rotated and moved into a 640x480 frame
    angle = np.deg2rad(20)
    rot = 150 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = shape.copy()
    pts[:, :2] = shape[:, :2] @ rot.T + [300, 200]
    pts[:, 2] *= 150
    frame = np.zeros((480, 640, 3), np.uint8)
    aligned = align_face(frame, pts, 64)
    assert aligned.image.shape == (64, 64, 3)
    np.testing.assert_allclose(aligned.landmarks[list(ANCHOR_INDICES), :2], TEMPLATE, atol=0.03)
    np.testing.assert_allclose(aligned.landmarks[:, 2], shape[:, 2], atol=0.015)  # same depth scale
    assert align_face(frame, pts, 48, gray=True).image.shape == (48, 48)


def test_crop_fallback_uses_whole_crop_and_canonical_shape():
    img = np.random.default_rng(1).integers(0, 255, (48, 48), dtype=np.uint8)
    a = crop_as_face(img, 48, gray=True)
    np.testing.assert_array_equal(a.image, img)
    np.testing.assert_array_equal(a.landmarks, canonical_shape())


@pytest.mark.slow
def test_real_video_face_aligns_upright_and_centred():
    path = require_data(video("woman_smile_neutral.mp4"))
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok
    with FaceMesh(max_faces=1, video_mode=False) as mesh:
        faces = mesh.process(frame)
    assert len(faces) == 1
    aligned = align_face(frame, faces[0].landmarks, 96)
    lm = aligned.landmarks
    eyes = lm[[468, 473], :2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.03  # eyes level after alignment
    np.testing.assert_allclose(eyes, TEMPLATE[:2], atol=0.05)
    assert 0.9 < lm[152, 1] < 1.15  # chin near the bottom edge, as in FER2013 crops


def _rotation_about_centre(scale: float, degrees: float, frame: int, size: int) -> np.ndarray:
    th = np.deg2rad(degrees)
    rot = scale * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    return np.hstack([rot, (np.array([size / 2, size / 2]) - rot @ np.array([frame / 2, frame / 2]))[:, None]])


@pytest.mark.parametrize("scale", [0.1, 0.3, 0.6, 1.5])
def test_shrinking_averages_instead_of_aliasing(scale):
    """A big face (full-resolution photo, 1080p camera) must come out smooth like a FER2013 crop, in the same place."""
    from app.face.align import warp_antialiased

    frame = 960
    matrix = _rotation_about_centre(scale, 17.0, frame, 48)
    y, x = np.mgrid[0:frame, 0:frame].astype(np.float32)
    ramp = x * 0.3 + y * 0.2  # any resampling of a linear ramp is the ramp: only geometry can differ
    plain = cv2.warpAffine(ramp, matrix, (48, 48), flags=cv2.INTER_LINEAR)
    np.testing.assert_allclose(warp_antialiased(ramp, matrix, 48), plain, atol=0.1)
    noise = np.random.default_rng(0).integers(0, 256, (frame, frame)).astype(np.uint8)
    std = warp_antialiased(noise, matrix, 48).std()
    if scale < 0.5:  # averaged over (1/scale)^2 pixels: far below the ~74 of point sampling
        assert std < 74 * scale * 2.5, std
