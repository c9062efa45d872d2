"""Dataset loaders read the shared archive, the original FER2013 CSV and image folders onto our classes, and
``prepare`` runs the app's face pipeline with the whole-crop fallback counted."""

import csv

import cv2
import numpy as np
import pytest

from app.labels import EXPRESSIONS
from tests.datapaths import data_dir, require_data


@pytest.fixture(scope="module")
def fer():
    return np.load(require_data(data_dir() / "fer2013.npz"))


def test_ckplus_classes_mapped_and_contempt_dropped():
    from training.data.archive import load_archive

    path = require_data(data_dir() / "ckplus48.npz")
    raw = np.load(path)
    data = load_archive(path)
    contempt = list(raw["classes"]).index("contempt")
    assert len(data) == int((raw["labels"] != contempt).sum())
    assert data.face_crops and data.classes == EXPRESSIONS
    # anger -> angry, sadness -> sad; neutral never appears in CK+
    assert set(np.unique(data.labels)) <= {0, 1, 2, 3, 4, 5}
    anger = list(raw["classes"]).index("anger")
    assert (data.labels == 0).sum() == (raw["labels"] == anger).sum()


def test_fer2013_csv_loader(fer, tmp_path):
    from training.data.archive import load_dataset

    path = tmp_path / "fer2013.csv"
    usage = {"train": "Training", "publictest": "PublicTest"}
    picks = [0, 1, 2, int(np.where(fer["split"] == "publictest")[0][0])]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i in picks:
            w.writerow([int(fer["labels"][i]), " ".join(map(str, fer["images"][i].ravel())), usage[fer["split"][i]]])
    data = load_dataset(path)
    np.testing.assert_array_equal(data.images, fer["images"][picks])
    np.testing.assert_array_equal(data.labels, fer["labels"][picks])
    assert list(data.split) == ["train", "train", "train", "publictest"]


def test_image_folder_loader_maps_synonyms_and_skips_unknown(fer, tmp_path):
    from training.data.archive import load_dataset

    files = [("train", "happiness", 5), ("train", "Anger", 6), ("test", "contempt", 7), ("test", "sad", 8)]
    for split, cls, i in files:
        d = tmp_path / split / cls
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), fer["images"][i])
    data = load_dataset(tmp_path)
    assert len(data) == 3  # contempt has no counterpart
    assert sorted(data.labels.tolist()) == sorted([EXPRESSIONS.index(c) for c in ("happy", "angry", "sad")])
    assert data.images[0].shape == (48, 48, 3)


@pytest.mark.slow
def test_prepare_finds_most_fer_faces_and_falls_back_for_the_rest(fer, tmp_path):
    from training.data.archive import LabelledImages
    from training.data.prepare import coverage_report, prepare

    n = 120
    data = LabelledImages(fer["images"][:n], fer["labels"][:n], fer["split"][:n], EXPRESSIONS, True, "slice")
    prep = prepare(data, 48, gray=True, workers=1)
    rep = coverage_report(prep, True)
    assert rep["found_fraction"] > 0.9
    assert rep["fallback_whole_crop"] == n - rep["faces_found"]
    assert rep["unusable"] == 0
    assert prep.images.shape == (n, 48, 48) and prep.landmarks.shape == (n, 478, 3)
    # detected faces land on the template; fallbacks carry the canonical shape
    from app.face.align import ANCHOR_INDICES, TEMPLATE

    anchors = prep.landmarks[prep.detected][:, list(ANCHOR_INDICES), :2].astype(np.float32)
    np.testing.assert_allclose(np.median(anchors, axis=0), TEMPLATE, atol=0.03)


def test_prepared_cache_key_follows_content_not_path_or_mtime(tmp_path):
    """A copied or touched archive reuses its prepared cache; changed data does not."""
    import os
    import shutil

    from training.data.prepare import cache_path

    a = tmp_path / "a" / "faces.npz"
    a.parent.mkdir()
    a.write_bytes(os.urandom(3 << 20))
    b = tmp_path / "b" / "faces.npz"
    b.parent.mkdir()
    shutil.copyfile(a, b)
    os.utime(b, (1, 1))
    key = cache_path(a, 48, True, tmp_path).name
    assert cache_path(b, 48, True, tmp_path).name == key
    assert cache_path(a, 48, False, tmp_path).name != key
    with open(b, "r+b") as fh:  # one byte changed near the end
        fh.seek(-10, os.SEEK_END)
        old = fh.read(1)
        fh.seek(-10, os.SEEK_END)
        fh.write(bytes([old[0] ^ 0xFF]))
    assert cache_path(b, 48, True, tmp_path).name != key
