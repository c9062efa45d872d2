"""A camera mounted upside down or sideways: its frames are turned before the face mesh sees them, in
``ferlive analyze --rotate`` as in the app, so its faces are found and read as the upright clip's are."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from app.capture.rotate import ROTATIONS, rotated
from app.cli import main
from app.types import Frame
from tests.datapaths import cut_clip

NIGHT = "woman_phone_night.mp4"  # 596x336, one face


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rotation_turns_clockwise_and_refuses_other_angles():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3, 1).repeat(3, axis=2)
    frame = Frame(image=image, index=0, timestamp=0.0)
    assert rotated(frame, 0) is frame
    assert rotated(frame, 90).image[:, :, 0].tolist() == [[3, 0], [4, 1], [5, 2]]
    assert rotated(frame, 270).image[:, :, 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    assert rotated(frame, 180).image[:, :, 0].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert ROTATIONS == (0, 90, 180, 270)
    with pytest.raises(ValueError, match="one of"):
        rotated(frame, 45)


@pytest.mark.parametrize("mounted, undo", [(cv2.ROTATE_180, 180), (cv2.ROTATE_90_COUNTERCLOCKWISE, 90)])
def test_analyze_rotate_reads_a_turned_camera_as_the_upright_one(tmp_path, mounted, undo):
    upright = cut_clip(NIGHT, tmp_path / "upright.mp4", 30)
    turned = cut_clip(NIGHT, tmp_path / "turned.mp4", 30, turn=mounted)
    quiet = ["--model", "poster-small", "--provider", "cpu", "--quiet"]
    assert main(["analyze", str(upright), "--csv", str(tmp_path / "u.csv"), *quiet]) == 0
    assert main(["analyze", str(turned), "--csv", str(tmp_path / "t.csv"), *quiet]) == 0
    assert main(["analyze", str(turned), "--rotate", str(undo), "--csv", str(tmp_path / "r.csv"), *quiet]) == 0
    want, as_is, fixed = rows(tmp_path / "u.csv"), rows(tmp_path / "t.csv"), rows(tmp_path / "r.csv")
    assert len(want) >= 28 and len(fixed) == len(want)
    same_label = np.mean([a["label"] == b["label"] for a, b in zip(want, fixed)])
    assert same_label >= 0.9
    boxes = np.array([[float(r[k]) for k in ("x0", "y0", "x1", "y1")] for r in want])
    fixed_boxes = np.array([[float(r[k]) for k in ("x0", "y0", "x1", "y1")] for r in fixed])
    assert np.median(np.abs(boxes - fixed_boxes)) < 4  # the upright clip's boxes: the frames were turned back
    if mounted == cv2.ROTATE_180:  # upside down the mesh misses the face on most frames without the turn
        assert len(as_is) < len(want) / 2


@pytest.mark.slow
@pytest.mark.parametrize("mounted, undo", [(cv2.ROTATE_180, 180), (cv2.ROTATE_90_CLOCKWISE, 270)])
def test_analyze_says_which_rotate_a_turned_camera_needs(tmp_path, capsys, mounted, undo):
    """A video whose faces look turned for a few seconds gets a line naming the --rotate that stands them up;
    the upright video, and the turned one analysed with that --rotate, get none."""
    quiet = ["--model", "poster-small", "--provider", "cpu", "--quiet"]
    upright = cut_clip("woman_smile_neutral.mp4", tmp_path / "upright.mp4", 150)  # 5 s
    turned = cut_clip("woman_smile_neutral.mp4", tmp_path / "turned.mp4", 150, turn=mounted)
    assert main(["analyze", str(upright), *quiet]) == 0
    assert "faces look turned" not in capsys.readouterr().out
    assert main(["analyze", str(turned), *quiet]) == 0
    assert f"the faces look turned: if the camera was mounted turned, analyse again with --rotate {undo}\n" \
        in capsys.readouterr().out
    assert main(["analyze", str(turned), "--rotate", str(undo), *quiet]) == 0
    assert "faces look turned" not in capsys.readouterr().out
