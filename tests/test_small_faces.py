"""Faces too small for the face mesh's own detector (a person a few metres from the camera, a film frame) are
found by the full-range detector and meshed in an enlarged crop, on stills and on video."""

import cv2  # noqa: E402  (after the app imports, as elsewhere in the suite)
import numpy as np
import pytest

from app.capture import VideoFileSource
from app.face.mesh import FaceMesh
from tests.datapaths import require_data, video


@pytest.fixture(scope="module")
def face_crop():
    """A real face from the shared clip: the woman's head, about 170 px square."""
    with VideoFileSource(require_data(video("woman_smile_neutral.mp4"))) as src:
        frame = src.read().image
    return frame[60:230, 200:370].copy()


def scene(face: np.ndarray, width: int, centre: tuple[int, int], size: tuple[int, int] = (1920, 1080)) -> np.ndarray:
    """A plain frame with ``face`` shrunk to ``width`` pixels and pasted with its centre at ``centre``."""
    w, h = size
    frame = np.full((h, w, 3), 110, np.uint8)
    small = cv2.resize(face, (width, width), interpolation=cv2.INTER_AREA)
    x0, y0 = centre[0] - width // 2, centre[1] - width // 2
    frame[y0:y0 + width, x0:x0 + width] = small
    return frame


def centre_of(face) -> np.ndarray:
    x0, y0, x1, y1 = face.box
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2])


def test_a_small_face_is_missed_by_the_mesh_alone_and_found_with_the_full_range_detector(face_crop):
    frame = scene(face_crop, 150, (600, 400))  # 8% of the frame's width
    with FaceMesh(max_faces=1, video_mode=False, small_faces=False) as plain:
        assert plain.process(frame) == []
    with FaceMesh(max_faces=1, video_mode=False) as mesh:
        faces = mesh.process(frame)
    assert len(faces) == 1
    assert np.linalg.norm(centre_of(faces[0]) - [600, 400]) < 0.15 * 150
    assert faces[0].landmarks.shape == (478, 3)
    # the landmarks span the face, not the crop: about the pasted face's width
    assert 0.5 * 150 < np.ptp(faces[0].landmarks[:, 0]) < 1.2 * 150


def test_a_small_face_keeps_its_landmarks_on_every_video_frame_as_it_moves(face_crop):
    with FaceMesh(max_faces=2, video_mode=True) as mesh:
        for i in range(20):
            centre = (500 + 6 * i, 500)
            faces = mesh.process(scene(face_crop, 140, centre))
            assert len(faces) == 1, i
            assert np.linalg.norm(centre_of(faces[0]) - centre) < 0.15 * 140, i


def test_a_large_and_a_small_face_are_both_found_up_to_the_limit(face_crop):
    frame = scene(face_crop, 200, (1500, 500))  # 10% of the width, beside a face of 400 px
    frame[300:700, 200:600] = cv2.resize(face_crop, (400, 400))
    with FaceMesh(max_faces=2, video_mode=False, small_faces=False) as plain:
        assert len(plain.process(frame)) == 1
    with FaceMesh(max_faces=2, video_mode=False) as mesh:
        centres = sorted(centre_of(f)[0] for f in mesh.process(frame))
    assert len(centres) == 2 and centres[0] < 600 < 1300 < centres[1]
    with FaceMesh(max_faces=1, video_mode=False) as mesh:
        assert len(mesh.process(frame)) == 1


def test_no_face_is_made_up_on_an_empty_frame():
    with FaceMesh(max_faces=4, video_mode=False) as mesh:
        assert mesh.process(np.full((720, 1280, 3), 110, np.uint8)) == []


# AffectNet valid faces on which MediaPipe's detector also fires on an eye, the mouth or an ornament when the face
# fills a 384 px photo (found by running ``ferlive analyze`` over 420 enlarged valid faces)
NESTED_FALSE_FACES = ["angry/image0031553.jpg", "fear/image0029675.jpg", "fear/image0034876.jpg",
                      "fear/image0037215.jpg", "neutral/ffhq_1007.jpg", "sad/image0024330.jpg",
                      "surprise/image0024896.jpg", "surprise/image0040210.jpg"]


def test_a_photo_filled_by_one_face_gives_one_face_not_one_per_eye_or_mouth():
    from tests.datapaths import data_dir

    folder = require_data(data_dir() / "affectnet96" / "valid")
    with FaceMesh(max_faces=4, video_mode=False) as mesh:
        for name in NESTED_FALSE_FACES:
            photo = cv2.resize(cv2.imread(str(require_data(folder / name))), (384, 384),
                               interpolation=cv2.INTER_CUBIC)
            faces = mesh.process(photo)
            assert len(faces) == 1, name
            assert faces[0].area > 0.25 * 384 * 384, name  # the whole face, not a part of it


def face_at(box: tuple[float, float, float, float]):
    from app.types import Face

    return Face(box=box, landmarks=np.zeros((478, 3), np.float32))


def test_only_faces_centred_inside_a_larger_face_are_dropped():
    from app.face.mesh import without_nested

    big, eye, beside, overlapping = (face_at((100, 100, 300, 340)), face_at((130, 150, 190, 210)),
                                     face_at((400, 100, 520, 240)), face_at((260, 120, 380, 260)))
    assert without_nested([eye, big, beside, overlapping]) == [big, beside, overlapping]
    assert without_nested([eye]) == [eye]


def test_a_group_photo_is_searched_in_tiles(face_crop, monkeypatch):
    """Eight faces 160 px wide in a 1920x1080 photo (8% of its width): the detector, seeing the whole photo at
    192 px, misses some; searched in tiles, every one is found. Video frames are not tiled (cost per frame)."""
    import app.face.small as small

    photo = np.full((1080, 1920, 3), 110, np.uint8)
    centres = [(180 + (i % 4) * 450, 230 + (i // 4) * 450) for i in range(8)]
    for cx, cy in centres:
        photo[cy - 80:cy + 80, cx - 80:cx + 80] = cv2.resize(face_crop, (160, 160), interpolation=cv2.INTER_AREA)
    with FaceMesh(max_faces=8, video_mode=False) as mesh:
        found = sorted(tuple(np.round(centre_of(f) / 450).astype(int)) for f in mesh.process(photo))
    assert found == sorted(tuple(np.round(np.array(c) / 450).astype(int)) for c in centres)
    monkeypatch.setattr(small, "photo_tiles", lambda width, height: [])
    with FaceMesh(max_faces=8, video_mode=False) as mesh:
        assert len(mesh.process(photo)) < 8


def test_tiles_cover_the_photo_with_overlap_and_stay_few():
    from app.face.small import TILE_OVERLAP, TILE_SIDE, photo_tiles

    assert photo_tiles(1280, 720) == [(0, 0, 768, 720), (512, 0, 1280, 720)]
    assert photo_tiles(1000, 800) == []  # small enough for the whole-photo pass
    for width, height in [(1920, 1080), (1080, 1920), (4000, 3000), (6000, 4000), (12000, 1200)]:
        tiles = photo_tiles(width, height)
        assert len(tiles) <= 12 or width / height > 4
        covered = np.zeros((height, width), bool)
        for x0, y0, x1, y1 in tiles:
            assert x1 - x0 >= min(width, TILE_SIDE) and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            covered[y0:y1, x0:x1] = True
        assert covered.all()
        xs = sorted({t[0] for t in tiles})
        side = tiles[0][2] - tiles[0][0]
        assert all(b - a <= side * (1 - TILE_OVERLAP) + 1 for a, b in zip(xs, xs[1:]))
