"""A camera is shown as a mirror shows the person in front of it (as video calls do), and everything downstream
(boxes, recordings, results) follows that picture; video files and photos are never flipped.

The window, worker thread, MediaPipe and ONNX Runtime are real; the camera is ``tests.camera_standin`` (no machine
running the tests has one) playing real frames of a real video.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.camera_standin import CameraBench
from tests.datapaths import require_data, video
from tests.ui_helpers import WAIT_MS

pytest_plugins = ["tests.ui_helpers"]  # the models_dir and make_window fixtures
pytestmark = pytest.mark.slow


def clip_frames(n: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(require_data(video("woman_smile_neutral.mp4"))))
    frames = [capture.read()[1] for _ in range(n)]
    capture.release()
    return frames


def shown_matches(window, pictures: list[np.ndarray]) -> bool:
    frame = window.last_frame
    return frame is not None and any(np.array_equal(frame.result.frame.image, p) for p in pictures)


def face_centre_x(window) -> float | None:
    faces = window.last_frame.result.faces if window.last_frame else []
    return (faces[0].box[0] + faces[0].box[2]) / 2 if faces else None


def test_a_camera_is_mirrored_until_switched_off(qtbot, make_window):
    frames = clip_frames(8)
    bench = CameraBench(frames)
    window = make_window(model="alpha")
    assert window.source_controls.mirror.isChecked()  # on by default
    window.worker.open_source("0", capture_factory=bench.factory)
    mirrored = [f[:, ::-1] for f in frames]
    qtbot.waitUntil(lambda: shown_matches(window, mirrored) and face_centre_x(window) is not None, timeout=WAIT_MS)
    width = frames[0].shape[1]
    mirrored_x = face_centre_x(window)
    assert window.source_controls.current_label.text().endswith("· mirrored")  # the source line says so

    window.source_controls.mirror.setChecked(False)
    qtbot.waitUntil(lambda: shown_matches(window, frames) and face_centre_x(window) is not None, timeout=WAIT_MS)
    plain_x = face_centre_x(window)
    assert "mirrored" not in window.source_controls.current_label.text()
    # the face's box moved to the other side with the picture (the woman sits left of centre)
    assert plain_x < width / 2 < mirrored_x
    assert abs((width - mirrored_x) - plain_x) < 0.05 * width


def test_photos_are_never_mirrored(qtbot, make_window, tmp_path):
    photo = clip_frames(1)[0]
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), photo)
    window = make_window(model="alpha")
    assert window.source_controls.mirror.isChecked()
    window.open_source(str(path))
    qtbot.waitUntil(lambda: window.last_frame is not None, timeout=WAIT_MS)
    np.testing.assert_array_equal(window.last_frame.result.frame.image, photo)
    assert "mirrored" not in window.source_controls.current_label.text()


def test_a_camera_mounted_on_its_side_gets_the_rotation_that_stands_it_up_though_mirrored(qtbot, make_window):
    """The hint is read from the mirrored picture, where a quarter turn is the other way round: it still names the
    rotation of the camera's own picture, which Rotate applies before the mirror."""
    frames = [cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE) for f in clip_frames(150)]
    window = make_window(model="alpha")
    assert window.source_controls.mirror.isChecked()
    window.worker.open_source("0", capture_factory=CameraBench(frames).factory)
    qtbot.waitUntil(lambda: any("choose Rotate 270° in Source" in t for t in window.banner.texts()), timeout=WAIT_MS)
    window.source_controls.select_rotation(270)
    qtbot.waitUntil(lambda: window.last_frame is not None and window.last_frame.result.faces
                    and window.last_frame.result.frame.image.shape[:2] == (336, 596), timeout=WAIT_MS)
    from app.face.stills import face_turn

    assert face_turn(window.last_frame.result.faces[0]) is None  # upright in the mirrored picture too
