"""A different face taking over a track (a cut, a person swap) restarts its smoothing; the same face talking,
turning and blinking does not. Real MediaPipe and the shared alignment on the shared clips."""

import numpy as np
import pytest

from app.capture import open_source
from app.face.align import align_face
from app.face.change import FaceChangeDetector
from app.face.mesh import FaceMesh
from tests.datapaths import require_data, video


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
