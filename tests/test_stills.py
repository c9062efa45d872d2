"""Photos and folders go through the same face finding and alignment as the training data, so a dataset's face
crop gets the same probabilities from ``ferlive analyze`` as from ``training.evaluate``."""

import json

import cv2
import numpy as np
import pytest

from app.cli import main
from app.face.mesh import FaceMesh
from app.face.stills import DETECT_SIDE, enlarge_for_detection
from app.inference.engine import InferenceEngine
from app.inference.registry import ModelRegistry
from tests.datapaths import data_dir, require_data, video

pytestmark = pytest.mark.slow

# FER2013 publictest faces by archive index: the first 16, and three in which MediaPipe finds no face
FOUND = list(range(28709, 28725))
NOT_FOUND = [28762, 28795, 28805]


@pytest.fixture(scope="module")
def fer_folder(tmp_path_factory):
    archive = np.load(require_data(data_dir() / "fer2013.npz"))
    folder = tmp_path_factory.mktemp("fer_crops")
    for i in FOUND + NOT_FOUND:
        cv2.imwrite(str(folder / f"{i}.png"), archive["images"][i])
    return folder, archive


def analyze_jsonl(folder, out, *extra) -> dict[str, dict]:
    assert main(["analyze", str(folder), "--model", "poster-small", "--provider", "cpu", "--jsonl", str(out),
                 "--quiet", *extra]) == 0
    return {line["image"]: line for line in map(json.loads, out.read_text().splitlines())}


def test_face_crops_get_the_probabilities_training_gives_them(fer_folder, tmp_path, capsys):
    from training.data.prepare import align_dataset_image

    folder, archive = fer_folder
    frames = analyze_jsonl(folder, tmp_path / "r.jsonl", "--face-crops")
    assert "3 face crops without a found face taken whole" in capsys.readouterr().out
    engine = InferenceEngine(ModelRegistry().get("poster-small").onnx_path, provider="cpu")
    taken_whole = []
    with FaceMesh(max_faces=4, video_mode=False) as mesh:  # the app's still-mode mesh
        for i in FOUND + NOT_FOUND:
            aligned, found = align_dataset_image(mesh, archive["images"][i], 48, gray=True, face_crops=True)
            expected = engine.predict(aligned.image[None], aligned.landmarks[None])[0]
            faces = frames[f"{i}.png"]["faces"]
            assert len(faces) == 1, i
            got = [faces[0]["raw_probabilities"][c] for c in engine.card.classes]
            np.testing.assert_allclose(got, expected, atol=2e-5, err_msg=str(i))
            if not found:
                taken_whole.append(i)
                assert faces[0]["box"] == [0.0, 0.0, 48.0, 48.0]
    assert taken_whole == NOT_FOUND


def test_photos_the_size_of_a_dataset_crop_are_face_crops_unless_told_otherwise(fer_folder, tmp_path, capsys):
    """48 px near-square photos are taken for face crops without the flag; --no-face-crops leaves them unread."""
    told = analyze_jsonl(fer_folder[0], tmp_path / "told.jsonl", "--face-crops")
    capsys.readouterr()
    default = analyze_jsonl(fer_folder[0], tmp_path / "default.jsonl")
    assert "3 face crops without a found face taken whole" in capsys.readouterr().out
    assert default == told
    frames = analyze_jsonl(fer_folder[0], tmp_path / "none.jsonl", "--no-face-crops")
    assert {name for name, f in frames.items() if not f["faces"]} == {f"{i}.png" for i in NOT_FOUND}


def test_only_small_near_square_images_look_like_face_crops():
    from app.face.stills import looks_like_face_crop

    for h, w in [(48, 48), (96, 96), (100, 100), (181, 143), (191, 191)]:
        assert looks_like_face_crop(np.zeros((h, w, 3), np.uint8)), (h, w)
    for h, w in [(192, 192), (240, 320), (480, 640), (40, 120), (150, 60)]:  # a photo, a banner, a strip
        assert not looks_like_face_crop(np.zeros((h, w, 3), np.uint8)), (h, w)


def test_face_crops_is_refused_for_a_video(tmp_path, capsys):
    clip = require_data(video("woman_phone_night.mp4"))
    assert main(["analyze", str(clip), "--face-crops", "--csv", str(tmp_path / "r.csv"), "--quiet"]) != 0
    assert "--face-crops is for photos and folders" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_small_images_are_enlarged_and_padded_large_ones_left_alone():
    small = np.zeros((48, 64, 3), np.uint8)
    big, scale, pad = enlarge_for_detection(small)
    assert scale == DETECT_SIDE / 48 and pad == round(DETECT_SIDE / 3)
    assert big.shape == (DETECT_SIDE + 2 * pad, 256 + 2 * pad, 3)
    photo = np.zeros((480, 640, 3), np.uint8)
    same, scale, pad = enlarge_for_detection(photo)
    assert same is photo and (scale, pad) == (1.0, 0)


def test_each_photo_numbers_its_faces_afresh_largest_first(monkeypatch):
    """Track ids carry a face through a video; across unrelated photos they would tie strangers together. In a
    photo #1 is the largest face, so a script that reads each photo's first row gets its subject."""
    import app.pipeline
    from app.capture import VideoFileSource
    from app.face.stills import faces_in_still
    from app.pipeline import FacePipeline
    from app.types import Frame

    with VideoFileSource(require_data(video("woman_smile_neutral.mp4"))) as src:
        face = src.read().image[40:250, 180:390]
    # the real faces of each photo, handed over smallest first (whatever order the face mesh would give)
    monkeypatch.setattr(app.pipeline, "faces_in_still",
                        lambda mesh, image: sorted(faces_in_still(mesh, image), key=lambda f: f.area))
    engine = InferenceEngine(ModelRegistry().get("poster-small").onnx_path, provider="cpu")
    pipeline = FacePipeline(engine, max_faces=8, video_mode=False)
    for index, layout in enumerate([[(60, 140), (420, 260), (900, 200)], [(80, 200), (700, 280)]]):
        photo = np.full((480, 1200, 3), 110, np.uint8)
        for x, side in layout:  # (left edge, size): the second photo's faces sit where the first's were
            photo[20:20 + side, x:x + side] = cv2.resize(face, (side, side))
        result = pipeline.process(Frame(image=photo, index=index, timestamp=float(index)))
        widths = [f.box[2] - f.box[0] for f in result.faces]
        assert len(widths) == len(layout) and widths == sorted(widths, reverse=True), widths  # rows largest first
        assert [f.track_id for f in result.faces] == list(range(1, len(layout) + 1))
    pipeline.close()


@pytest.mark.parametrize("clip, index, turn", [
    ("woman_phone_night.mp4", 59, "counterclockwise"),
    ("woman_phone_night.mp4", 59, "clockwise"),
    ("woman_phone_night.mp4", 59, "upside down"),  # the mesh finds no face in it
    ("woman_smile_neutral.mp4", 120, "upside down"),  # the mesh covers it with an upright mesh, eyes on the mouth
    ("interview_50s.mp4", 60, "upside down"),  # likewise
])
def test_a_photo_on_its_side_or_upside_down_is_read_as_the_upright_one(tmp_path, capsys, clip, index, turn):
    """A real frame saved turned (no EXIF orientation to undo it): its face is found where it lies and read as
    in the upright photo; the same photo's face found without turning is missed, lying, or a false upright fit."""
    from app.capture import VideoFileSource
    from app.face.stills import face_turn

    code = {"counterclockwise": cv2.ROTATE_90_COUNTERCLOCKWISE, "clockwise": cv2.ROTATE_90_CLOCKWISE,
            "upside down": cv2.ROTATE_180}[turn]
    with VideoFileSource(require_data(video(clip))) as src:
        for _ in range(index + 1):
            upright = src.read().image
    cv2.imwrite(str(tmp_path / "upright.png"), upright)  # lossless: the turned photo turned back is the same picture
    cv2.imwrite(str(tmp_path / "turned.png"), cv2.rotate(upright, code))
    rows = analyze_jsonl(tmp_path, tmp_path / "r.jsonl")
    (face,), (turned,) = rows["upright.png"]["faces"], rows["turned.png"]["faces"]
    assert turned["label"] == face["label"]
    probs = [np.array(list(f["raw_probabilities"].values())) for f in (face, turned)]
    # not the very same numbers: the alignment's anti-aliasing shrink works on a pixel grid that the turn moves
    assert np.abs(probs[0] - probs[1]).max() < 0.03
    # the box is the upright box, turned with the photo
    h, w = upright.shape[:2]
    corners = np.array([[face["box"][0], face["box"][1]], [face["box"][2], face["box"][3]]], np.float32)
    mark = np.zeros((h, w), np.uint8)
    mark[int(corners[0, 1]):int(corners[1, 1]), int(corners[0, 0]):int(corners[1, 0])] = 1
    ys, xs = np.nonzero(cv2.rotate(mark, code))
    assert np.allclose(turned["box"], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=3)
    # the face the mesh finds (if any) in the photo as it is: lying as turned, or an upright fit away from the face
    with FaceMesh(max_faces=1, video_mode=False) as mesh:
        found = mesh.process(cv2.rotate(upright, code))
    if found and code != cv2.ROTATE_180:
        back = {cv2.ROTATE_90_COUNTERCLOCKWISE: cv2.ROTATE_90_CLOCKWISE,
                cv2.ROTATE_90_CLOCKWISE: cv2.ROTATE_90_COUNTERCLOCKWISE}[code]
        assert face_turn(found[0]) == back
    elif found:
        assert face_turn(found[0]) is None and not np.allclose(found[0].box, turned["box"], atol=10)
