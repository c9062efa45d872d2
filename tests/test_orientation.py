"""A camera mounted turned is noticed on real video: sideways faces by their eye line, upside-down ones by the
face detector's preference for the half-turned picture; an upright camera is never reported."""

from __future__ import annotations

import cv2
import pytest

from app.capture import VideoFileSource
from app.face.mesh import FaceMesh
from app.face.orientation import CHECK_EVERY_S, NEEDED, OrientationHint
from tests.datapaths import require_data, video


def first_report(clip: str, turn: int | None, seconds: float = 15.0) -> tuple[int | None, float | None]:
    """(degrees reported, media time of the report) over the clip's first ``seconds`` turned by ``turn``."""
    hint = OrientationHint()
    with VideoFileSource(require_data(video(clip))) as src, FaceMesh(max_faces=1, video_mode=True) as mesh:
        for frame in src:
            if frame.timestamp > seconds:
                break
            image = frame.image if turn is None else cv2.rotate(frame.image, turn)
            degrees = hint.update(mesh, image, mesh.process(image), frame.timestamp)
            if degrees is not None:
                return degrees, frame.timestamp
    return None, None


@pytest.mark.parametrize("clip", ["woman_smile_neutral.mp4", "woman_phone_night.mp4", "interview_50s.mp4"])
def test_an_upright_camera_is_never_reported(clip):
    assert first_report(clip, None) == (None, None)


@pytest.mark.parametrize("clip, turn, degrees", [
    ("woman_smile_neutral.mp4", cv2.ROTATE_180, 180),
    ("interview_50s.mp4", cv2.ROTATE_180, 180),
    ("woman_smile_neutral.mp4", cv2.ROTATE_90_CLOCKWISE, 270),  # turning 270° clockwise stands it up again
    ("interview_50s.mp4", cv2.ROTATE_90_COUNTERCLOCKWISE, 90),
])
def test_a_turned_camera_is_reported_with_the_rotation_that_undoes_it(clip, turn, degrees):
    reported, at = first_report(clip, turn)
    assert reported == degrees
    assert at <= CHECK_EVERY_S * NEEDED + 0.2  # as soon as the votes allow, or one check later


def test_it_reports_once_until_reset():
    hint = OrientationHint()
    hint.reported = True
    assert hint.update(None, None, [], 100.0) is None  # nothing is looked at once reported
    hint.reset()
    assert not hint.reported
