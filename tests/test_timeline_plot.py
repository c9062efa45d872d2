"""``ferlive analyze --plot``: a video's timeline picture, drawn by pyqtgraph offscreen from the real pipeline."""

import csv

import cv2
import numpy as np
import pytest

from app.cli import main
from app.timeline import TimelineLog
from app.types import FaceResult
from app.ui.probability_panel import class_colour
from app.ui.timeline_plot import HEIGHT, WIDTH, Run, shown_runs
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


def face(box, probabilities, classes=CLASSES):
    return FaceResult(track_id=1, box=box, landmarks=np.zeros((478, 3), np.float32),
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
    strip = image[int(0.8 * HEIGHT):]  # the label strip under the curves
    counts = {}
    for name in CLASSES:
        b, g, r = (int(class_colour(name)[i:i + 2], 16) for i in (5, 3, 1))
        counts[name] = int(np.all(strip == (b, g, r), axis=2).sum())
    total = sum(counts.values())
    assert total > 0.3 * strip.shape[0] * strip.shape[1]  # the runs fill the strip
    for name in CLASSES:
        assert counts[name] / total == pytest.approx(shown[name], abs=0.03), name


def test_a_timeline_is_only_for_videos_and_only_png(tmp_path, capsys, monkeypatch):
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
