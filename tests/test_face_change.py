"""A different face taking over a track (a cut, a person swap) restarts its smoothing; the same face talking,
turning and blinking does not. Real MediaPipe and the shared alignment on the shared clips."""

import numpy as np
import pytest

from app.capture import open_source
from app.face.align import align_face
from app.face.change import FaceChangeDetector, signature
from app.face.mesh import FaceMesh
from tests.datapaths import data_dir, require_data, video


def aligned_crops(clip: str, frames: int) -> list[np.ndarray]:
    source, mesh, crops = open_source(require_data(video(clip))), FaceMesh(max_faces=1), []
    try:
        while len(crops) < frames and (frame := source.read()) is not None:
            faces = mesh.process(frame.image)
            if faces:
                crops.append(align_face(frame.image, faces[0].landmarks, 48, gray=True).image)
    finally:
        mesh.close()
        source.close()
    return crops


@pytest.fixture(scope="module")
def smile():
    return aligned_crops("woman_smile_neutral.mp4", 150)


@pytest.fixture(scope="module")
def interview():
    return aligned_crops("interview_50s.mp4", 40)


@pytest.fixture(scope="module")
def publictest_faces():
    """300 FER2013 publictest faces through the shared still pipeline: different people, every one aligned to the
    same template (the stream benchmark's hard case: their coarse layout is alike)."""
    from training.data.archive import load_dataset
    from training.evaluate import align_all
    from training.stream_eval import pick_faces

    faces = pick_faces(load_dataset(require_data(data_dir() / "fer2013.npz")).subset("publictest"), 300, seed=1)
    aligned, _, _ = align_all(faces, 48, gray=True)
    return [a.image for a in aligned if a is not None]


def changes(crops: list[np.ndarray]) -> list[int]:
    detector = FaceChangeDetector()
    return [i for i, c in enumerate(crops) if detector.update(1, c)]


def test_one_face_smiling_and_relaxing_is_never_a_new_face(smile):
    assert len(smile) == 150
    assert changes(smile) == []


def test_a_cut_to_another_person_is_confirmed_on_its_second_frame(smile, interview):
    assert changes(smile[:30] + interview[:30]) == [31]


def test_a_single_odd_frame_is_not_a_new_face(smile, interview):
    assert changes(smile[:30] + interview[:1] + smile[30:60]) == []


def test_tracks_are_apart_and_forgotten(smile, interview):
    detector = FaceChangeDetector()
    for c in smile[:5]:
        detector.update(1, c)
    assert not detector.update(2, interview[0])  # a new track is new, not a change
    detector.forget([1])
    assert not detector.update(1, interview[1])  # track 1 starts again with no past to differ from


def test_different_aligned_people_look_different(publictest_faces):
    """Consecutive dataset faces, as the stream benchmark shows them at one place: nearly every pair is unlike
    (a plain 16x16 thumbnail took 8% of these pairs for the same face)."""
    sigs = np.array([signature(c) for c in publictest_faces])
    alike = np.sum(sigs[1:] * sigs[:-1], axis=1) >= FaceChangeDetector().threshold
    assert len(sigs) > 250
    assert alike.mean() < 0.02


def test_the_look_ignores_noise_and_shading(smile):
    crop = smile[0].astype(np.float32)
    rng = np.random.default_rng(0)
    shaded = crop * np.linspace(0.7, 1.2, crop.shape[1])[None, :] + rng.normal(0, 4, crop.shape)
    assert float(signature(crop.astype(np.uint8)) @ signature(np.clip(shaded, 0, 255).astype(np.uint8))) > 0.85
