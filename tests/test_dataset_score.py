"""``ferlive analyze`` on a folder laid out as ``<class>/<image>`` scores the largest face of each photo against its
folder: real AffectNet faces through the shipped default, checked against the CSV it writes."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from app.dataset_score import DatasetScore, folder_class
from app.types import FaceResult
from tests.datapaths import data_dir, require_data

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def face(label: str, area: float = 1.0) -> FaceResult:
    probs = np.full(len(CLASSES), 0.01, np.float32)
    probs[CLASSES.index(label)] = 0.94
    side = float(np.sqrt(area))
    return FaceResult(1, (0.0, 0.0, side, side), np.zeros((478, 3), np.float32), probs, CLASSES)


def test_folder_names_and_their_usual_synonyms_name_the_class():
    assert folder_class("angry/0001.jpg", CLASSES) == "angry"
    assert folder_class("Happiness/x/y.png", CLASSES) == "happy"
    assert folder_class("SURPRISED/a.jpg", CLASSES) == "surprise"
    assert folder_class("contempt/a.jpg", CLASSES) is None
    assert folder_class("a.jpg", CLASSES) is None  # not in a folder


def test_the_largest_face_is_scored_and_a_photo_without_a_face_is_a_miss():
    score = DatasetScore(CLASSES)
    score.add("happy/1.jpg", [face("sad", 10.0), face("happy", 100.0)])  # right: the largest face is happy
    score.add("happy/2.jpg", [])  # no face found
    score.add("sad/3.jpg", [face("neutral")])
    score.add("sad/4.jpg", [face("sad")])
    score.add("contempt/5.jpg", [face("angry")])
    assert score.scored == 4 and score.unscored == 1 and score.accuracy == pytest.approx(0.5)
    assert score.recall() == {"happy": 0.5, "sad": 0.5}
    assert score.mistakes() == [("happy", "no face", 0.5), ("sad", "neutral", 0.5)]
    text = score.describe()
    assert "50.0% of 4 photos right (1 without a face found, counted wrong); 1 in folders named after no class" in text
    assert DatasetScore(CLASSES).describe() == ""
    alone = DatasetScore(CLASSES, folder="happy")  # happy/ analysed on its own
    alone.add("1.jpg", [face("happy")])
    alone.add("2.jpg", [face("sad")])
    alone.add("sad/3.jpg", [face("sad")])  # a class folder inside it still names its own class
    assert alone.recall() == {"happy": 0.5, "sad": 1.0}


def test_analyze_scores_a_class_folder_dataset_as_its_own_csv_does(tmp_path, capsys):
    from app.cli import main

    valid = require_data(data_dir() / "affectnet96" / "valid")
    dataset = tmp_path / "posed"
    for name in CLASSES:  # six faces of each class, the folders named as other datasets name them
        folder = dataset / {"angry": "anger", "happy": "happiness", "surprise": "surprised"}.get(name, name)
        folder.mkdir(parents=True)
        for photo in sorted((valid / name).iterdir())[:6]:
            shutil.copy(photo, folder / photo.name)
    (dataset / "contempt").mkdir()
    shutil.copy(sorted((valid / "neutral").iterdir())[10], dataset / "contempt" / "c.jpg")
    table = tmp_path / "posed.csv"
    summary = tmp_path / "summary.csv"
    picture = tmp_path / "confusion.png"
    assert main(["analyze", str(dataset), "--csv", str(table), "--summary", str(summary), "--plot", str(picture),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    first_rows = {}
    for row in csv.DictReader(table.open()):
        first_rows.setdefault(row["image"], row)  # each photo's largest face comes first
    scored = [(folder_class(image, CLASSES), row["label"]) for image, row in first_rows.items()
              if folder_class(image, CLASSES)]
    right = sum(truth == label for truth, label in scored)
    assert len(scored) == 42  # every face crop is read (whole where the mesh finds none)
    assert f"against the class folders: {100 * right / 42:.1f}% of 42 photos right; 1 in folders named after no " \
           "class, left out" in out
    assert right >= 0.5 * 42  # the default reads most of these real faces right (measured 31 of 42)
    assert "recall: angry " in out and "commonest mistakes: " in out
    (line,) = csv.DictReader(summary.open())
    assert float(line["accuracy"]) == pytest.approx(right / 42, abs=1e-4)
    assert f"confusion matrix: {picture}" in out
    shown = [[sum(t == truth and label == name for t, label in scored) for name in CLASSES] for truth in CLASSES]
    assert_picture_shades_each_row_by_its_shares(picture, shown)


def assert_picture_shades_each_row_by_its_shares(picture, counts: list[list[int]]) -> None:
    """Each cell of the picture is shaded by its share of the row (darker: more), as the counts say."""
    import cv2

    from app.ui.confusion_plot import CELL, MARGIN_LEFT, MARGIN_TOP

    image = cv2.imread(str(picture))
    assert image.shape[1] == MARGIN_LEFT + CELL * len(CLASSES) + 30  # no "no face" column: every crop was read
    for r, row in enumerate(counts):
        # a cell's corner, clear of its text: its red falls as its share rises
        reds = [int(image[MARGIN_TOP + r * CELL + 6, MARGIN_LEFT + c * CELL + 6, 2]) for c in range(len(row))]
        assert np.argsort(reds, kind="stable").tolist()[0] in [c for c, n in enumerate(row) if n == max(row)]
        assert all((a < b) == (m > n) for a, m in zip(reds, row) for b, n in zip(reds, row) if m != n)
