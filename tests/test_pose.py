"""A face turned far to the side is marked as less reliable: the head yaw read off the mesh is right on a turned
canonical face, and real AffectNet photos of turned and frontal faces are marked accordingly through the app."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from app.face.align import canonical_shape
from app.face.pose import FRONTAL_AGAIN_DEG, TURNED_DEG, TurnedFaces, head_yaw
from tests.datapaths import data_dir, require_data

AFFECTNET = "affectnet96"


def turned_shape(degrees: float) -> np.ndarray:
    """The canonical face turned ``degrees`` about the vertical axis, then scaled and moved as an alignment might."""
    shape = canonical_shape().astype(np.float64)
    t = np.radians(degrees)
    turn = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    return ((shape - shape.mean(0)) @ turn.T) * 0.9 + 0.5


@pytest.mark.parametrize("degrees", [0, 12, -25, 38, -55])
def test_the_yaw_of_a_turned_face_is_read_off_its_mesh(degrees):
    assert head_yaw(turned_shape(degrees)) == pytest.approx(degrees, abs=0.5)


def test_a_face_is_marked_past_the_line_and_unmarked_only_well_back():
    faces = TurnedFaces()
    between = (TURNED_DEG + FRONTAL_AGAIN_DEG) / 2
    values = [between, TURNED_DEG + 3, between, FRONTAL_AGAIN_DEG - 3, between]
    assert [faces.update(1, turned_shape(v)) for v in values] == [False, True, True, False, False]
    faces.update(2, turned_shape(-TURNED_DEG - 3))  # either side
    faces.forget([2])
    assert not faces.update(2, turned_shape(between))


# AffectNet valid faces seen three-quarters on (the mesh reads 37-39 degrees; they look it) and facing the camera
TURNED = ("fear/image0030085.jpg", "angry/image0009502.jpg", "disgust/image0017174.jpg")
FRONTAL = ("fear/image0034043.jpg", "disgust/image0029420.jpg", "angry/image0022267.jpg")


def test_analyze_marks_the_turned_faces_of_real_photos(tmp_path, capsys):
    """Through ``ferlive analyze``: the CSV's ``turned`` column, the summary line and ``turned_share``."""
    import shutil

    from app.cli import main

    valid = require_data(data_dir() / AFFECTNET) / "valid"
    photos = tmp_path / "photos"
    photos.mkdir()
    for kind, names in (("turned", TURNED), ("frontal", FRONTAL)):
        for n, name in enumerate(names):
            shutil.copy(valid / name, photos / f"{kind}{n}.jpg")
    results, summary = tmp_path / "r.csv", tmp_path / "s.csv"
    assert main(["analyze", str(photos), "--model", "poster-small", "--provider", "cpu", "--quiet",
                 "--csv", str(results), "--summary", str(summary)]) == 0
    assert "turned faces: 50% of the faces shown (more than 30° to the side" in capsys.readouterr().out
    with open(results, newline="") as f:
        turned = {row["image"]: row["turned"] for row in csv.DictReader(f)}
    assert turned == {f"{kind}{n}.jpg": str(int(kind == "turned")) for kind in ("turned", "frontal") for n in range(3)}
    with open(summary, newline="") as f:
        assert float(next(csv.DictReader(f))["turned_share"]) == 0.5
