"""``ferlive analyze --plot``: a video's timeline picture, drawn by pyqtgraph offscreen from the real pipeline."""

import csv

import cv2
import numpy as np
import pytest

from app.cli import main
from app.render import color_for
from app.timeline import TimelineLog
from app.types import FaceResult
from app.ui.timeline_plot import HEIGHT, MAX_FACE_STRIPS, WIDTH, Run, picture_height, save_timeline, shown_runs
from tests.datapaths import require_data, video
from tests.onnx_factory import make_model

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_runs_follow_the_shown_label_and_break_where_no_face_is_found():
    times = np.arange(8) * 0.1
    labels = np.array([0, 0, 1, 1, -1, 1, 2, 2])
    assert shown_runs(times, labels) == [Run(0.0, 0.2, 0), Run(0.2, pytest.approx(0.4), 1),
                                         Run(pytest.approx(0.5), pytest.approx(0.6), 1),
                                         Run(pytest.approx(0.6), pytest.approx(0.8), 2)]
    assert shown_runs(times[:0], labels[:0]) == []


def face(box, probabilities, classes=CLASSES, track_id=1):
    return FaceResult(track_id=track_id, box=box, landmarks=np.zeros((478, 3), np.float32),
                      probabilities=np.asarray(probabilities, np.float32), classes=classes)


def test_the_log_follows_the_largest_face_and_never_mixes_two_models_classes():
    log = TimelineLog()
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    log.add(0.0, [face((0, 0, 10, 10), happy), face((0, 0, 50, 50), sad)])  # the larger face is the main one
    log.add(0.1, [])
    log.add(0.2, [face((0, 0, 50, 50), [0.5, 0.5], classes=("a", "b"))])  # another model's classes: no face
    log.add(0.3, [face((0, 0, 50, 50), happy)])
    times, probabilities, labels = log.arrays()
    assert log.classes == CLASSES and times.tolist() == [0.0, 0.1, 0.2, 0.3]
    assert labels.tolist() == [4, -1, -1, 3]
    assert probabilities.shape == (4, 7) and np.isnan(probabilities[1:3]).all()
    np.testing.assert_array_equal(probabilities[0], sad)


def test_the_log_follows_a_clicked_face_while_it_is_in_view():
    log = TimelineLog()
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    small, large = face((0, 0, 10, 10), happy, track_id=2), face((0, 0, 50, 50), sad, track_id=1)
    log.add(0.0, [large, small], subject=2)
    log.add(0.1, [large], subject=2)  # the clicked face is gone: the largest
    assert log.arrays()[2].tolist() == [3, 4]


def test_the_log_keeps_each_tracked_face_and_picks_those_seen_longest():
    log = TimelineLog()
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    log.add(0.0, [face((0, 0, 50, 50), happy, track_id=7)])
    log.add(0.1, [face((0, 0, 50, 50), happy, track_id=7), face((0, 0, 10, 10), sad, track_id=2)])
    log.add(0.2, [face((0, 0, 10, 10), sad, track_id=2), face((0, 0, 9, 9), happy, track_id=5),
                  face((0, 0, 9, 9), [0.5, 0.5], classes=("a", "b"), track_id=9)])  # another model: left out
    log.add(0.3, [face((0, 0, 10, 10), happy, track_id=2)])
    assert log.track_count == 3
    rows = log.track_labels(2)  # 2 (3 frames) and 7 (2 frames) beat 5 (1 frame); in order of first appearance
    assert [track for track, _ in rows] == [7, 2]
    assert rows[0][1].tolist() == [3, 3, -1, -1] and rows[1][1].tolist() == [-1, 4, 4, 3]


def colour_shares(band: np.ndarray) -> dict[str, float]:
    """Each class colour's share of the class-coloured pixels in a band of the picture."""
    counts = {name: int(np.all(band == color_for(name), axis=2).sum()) for name in CLASSES}
    total = max(1, sum(counts.values()))
    return {name: n / total for name, n in counts.items()}


def coloured_bands(image: np.ndarray, below: int) -> list[tuple[int, int]]:
    """Runs of rows under ``below`` where class-coloured runs fill most of the width: the label strips."""
    filled = np.zeros(image.shape[0], bool)
    for name in CLASSES:
        filled |= np.all(image == color_for(name), axis=2).sum(axis=1) > 0.1 * image.shape[1]
    bands, start = [], None
    for y in range(below, image.shape[0] + 1):
        if y < image.shape[0] and filled[y]:
            start = y if start is None else start
        elif start is not None:
            if y - start > 12:  # a strip, not a flat curve drawn in a class colour
                bands.append((start, y))
            start = None
    return bands


def test_with_several_faces_the_picture_gives_each_face_its_own_strip(tmp_path):
    log = TimelineLog()
    for i in range(90):  # face 1 (larger): happy, then sad; face 4: surprise then neutral, from frame 30
        faces = [face((0, 0, 80, 80), np.eye(7)[3 if i < 60 else 4], track_id=1)]
        if i >= 30:
            faces.append(face((100, 0, 140, 40), np.eye(7)[5 if i < 45 else 6], track_id=4))
        log.add(i / 30, faces)
    picture = save_timeline(tmp_path / "two.png", log, title="two faces")
    image = cv2.imread(str(picture))
    assert image.shape == (picture_height(2), WIDTH, 3)
    bands = coloured_bands(image, below=int(0.6 * HEIGHT))
    assert len(bands) == 3  # the largest face's strip, then face 1 and face 4
    expected = [{"happy": 2 / 3, "sad": 1 / 3}, {"happy": 2 / 3, "sad": 1 / 3}, {"surprise": 0.25, "neutral": 0.75}]
    for (y0, y1), shares in zip(bands, expected):
        got = colour_shares(image[y0:y1])
        for name in CLASSES:
            assert got[name] == pytest.approx(shares.get(name, 0.0), abs=0.03), (y0, name)


def test_a_crowd_gets_strips_for_the_faces_seen_longest_and_the_title_says_so(tmp_path):
    log = TimelineLog()
    tracks = MAX_FACE_STRIPS + 3
    for i in range(60):
        log.add(i / 30, [face((0, 0, 20 + t, 20 + t), np.eye(7)[t % 7], track_id=t) for t in range(tracks)
                         if i < 60 - 5 * t])  # higher track ids leave earlier
    assert [t for t, _ in log.track_labels(MAX_FACE_STRIPS)] == list(range(MAX_FACE_STRIPS))
    image = cv2.imread(str(save_timeline(tmp_path / "crowd.png", log)))
    assert image.shape == (picture_height(MAX_FACE_STRIPS), WIDTH, 3)


@pytest.mark.slow
def test_the_picture_shows_each_label_for_as_long_as_the_app_showed_it(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    make_model(models / "tiny-grey.onnx", size=48, channels=1)
    monkeypatch.setenv("FERLIVE_MODELS", str(models))
    src = require_data(video("woman_smile_neutral.mp4"))
    picture, table = tmp_path / "timeline.png", tmp_path / "r.csv"
    assert main(["analyze", str(src), "--model", "tiny-grey", "--plot", str(picture), "--csv", str(table),
                 "--max-frames", "150", "--quiet"]) == 0
    image = cv2.imread(str(picture))
    assert image.shape == (HEIGHT, WIDTH, 3)
    rows = list(csv.DictReader(open(table)))
    first = {}  # the largest face's row per frame: the first one written
    for row in rows:
        first.setdefault(row["frame_index"], row["label"])
    shown = {c: sum(label == c for label in first.values()) / len(first) for c in CLASSES}
    bands = coloured_bands(image, below=int(0.6 * HEIGHT))
    assert len(bands) == 1  # one face: the label strip under the curves, no per-face strips
    y0, y1 = bands[0]
    assert y1 - y0 > 0.5 * HEIGHT / 6  # the runs fill the strip
    shares = colour_shares(image[y0:y1])
    for name in CLASSES:
        assert shares[name] == pytest.approx(shown[name], abs=0.03), name


def test_a_timeline_is_only_for_videos_and_labelled_folders_and_only_png(tmp_path, capsys, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    make_model(models / "tiny-grey.onnx", size=48, channels=1)
    monkeypatch.setenv("FERLIVE_MODELS", str(models))
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    assert main(["analyze", str(photo), "--plot", str(tmp_path / "t.png"), "--quiet"]) == 2
    assert "--plot draws a video's timeline" in capsys.readouterr().err
    src = require_data(video("woman_phone_night.mp4"))
    assert main(["analyze", str(src), "--plot", str(tmp_path / "t.jpg"), "--quiet"]) == 2
    assert "use a .png file name" in capsys.readouterr().err
    assert not list(tmp_path.glob("t.*"))
    folder = tmp_path / "holiday"  # photos in no class folder: no confusion matrix to draw, and it says why
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((64, 64, 3), 128, np.uint8))
    assert main(["analyze", str(folder), "--plot", str(tmp_path / "t.png"), "--quiet"]) == 0
    assert "no confusion matrix: the photos of holiday are not in folders named after the classes" in \
        capsys.readouterr().err
    assert not list(tmp_path.glob("t.*"))
