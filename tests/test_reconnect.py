"""A camera unplugged mid-run, or busy: the recording is finalised, the banner says so, Reconnect brings it back,
and so does the app by itself once the camera is back (it tries again every few seconds).

The window, worker threads, MediaPipe and ONNX Runtime are real; the camera is ``tests.camera_standin`` (no
machine running the tests has one), failing the way ``cv2.VideoCapture`` does.
"""

from __future__ import annotations

import av
import pytest

from tests.camera_standin import CameraBench
from tests.datapaths import require_data, video
from tests.ui_helpers import WAIT_MS

pytest_plugins = ["tests.ui_helpers"]  # the models_dir and make_window fixtures
pytestmark = pytest.mark.slow


def banner_says(window, words: str) -> bool:
    """True when a message on the banner (messages stack there) contains ``words``."""
    texts = window.banner.texts() if hasattr(window.banner, "texts") else [window.banner.text]
    return any(words in text for text in texts)


def decoded_frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_unplugged_and_busy_camera_offer_reconnect(qtbot, make_window):
    import cv2

    capture = cv2.VideoCapture(str(require_data(video("woman_smile_neutral.mp4"))))
    bench = CameraBench([capture.read()[1] for _ in range(30)])
    capture.release()
    window = make_window(model="alpha")
    window.worker.open_source("0", capture_factory=bench.factory)
    qtbot.waitUntil(lambda: window.last_frame is not None and window.source_info is not None, timeout=WAIT_MS)
    window.set_recording(True)
    recording = window.recorder.active
    assert recording is not None
    qtbot.waitUntil(lambda: recording.frames >= 10, timeout=WAIT_MS)

    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as saved:
        bench.state = "unplugged"
    summary = saved.args[0]
    assert summary.error is None and summary.frames >= 10
    assert decoded_frames(summary.video) == summary.frames  # finalised: every frame recorded plays back
    assert window.recorder.active is None
    qtbot.waitUntil(lambda: window.reconnect.button.isVisible(), timeout=WAIT_MS)
    assert banner_says(window, "unplugged") and banner_says(window, "press Reconnect")
    assert bench.releases == bench.opens  # the device was let go

    bench.state = "busy"  # still held by another application: the offer stays
    window.reconnect.button.click()
    qtbot.waitUntil(lambda: banner_says(window, "in use by another application"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.reconnect.button.isEnabled(), timeout=WAIT_MS)
    assert window.reconnect.button.isVisible()

    bench.state = "ok"
    reads = bench.reads
    with qtbot.waitSignal(window.worker.sourceOpened, timeout=WAIT_MS):
        window.reconnect.button.click()
    qtbot.waitUntil(lambda: bench.reads > reads + 5 and not window.reconnect.button.isVisible(), timeout=WAIT_MS)
    assert not window.reconnect.retrying


def test_a_camera_plugged_back_in_comes_back_by_itself(qtbot, make_window):
    """Left running, the app tries the lost camera again every RETRY_S seconds without raising a message the
    person closed, and shows video again once the camera is back, with nobody pressing Reconnect."""
    import cv2

    from app.ui.reconnect import RETRY_S

    capture = cv2.VideoCapture(str(require_data(video("woman_smile_neutral.mp4"))))
    bench = CameraBench([capture.read()[1] for _ in range(30)])
    capture.release()
    window = make_window(model="alpha")
    window.worker.open_source("0", capture_factory=bench.factory)
    qtbot.waitUntil(lambda: window.last_frame is not None, timeout=WAIT_MS)
    bench.state = "unplugged"
    qtbot.waitUntil(lambda: window.reconnect.button.isVisible() and window.reconnect.retrying, timeout=WAIT_MS)
    assert banner_says(window, "tries again every")
    window.banner.dismiss()  # the person read it
    opens = bench.opens
    qtbot.waitUntil(lambda: bench.opens >= opens + 2, timeout=int(3 * RETRY_S * 1000))  # tried twice more
    assert window.reconnect.button.isVisible() and window.banner.texts() == []  # not raised again
    assert "not available" in window.reconnect.button.toolTip()  # the latest reason
    bench.state = "ok"
    reads = bench.reads
    qtbot.waitUntil(lambda: bench.reads > reads + 5 and not window.reconnect.button.isVisible(),
                    timeout=int(RETRY_S * 1000) + WAIT_MS)
    assert not window.reconnect.retrying


def test_a_camera_plugged_in_after_the_start_opens_by_itself(qtbot, make_window, monkeypatch):
    """Started with no camera, the app looks again every WATCH_S seconds; once one is plugged in (the stand-in,
    listed as the system would list it) it is listed, opened and shows video, and the banner says so."""
    import cv2

    from app.capture import CameraInfo
    from app.ui.camera_watch import WATCH_S

    capture = cv2.VideoCapture(str(require_data(video("woman_smile_neutral.mp4"))))
    bench = CameraBench([capture.read()[1] for _ in range(30)])
    capture.release()
    plugged: list = []
    window = make_window(source=None, find_cameras=lambda: list(plugged))
    assert banner_says(window, "No camera found") and window.camera_watch.active
    opened = window.worker.open_source
    monkeypatch.setattr(window.worker, "open_source",
                        lambda spec, **options: opened(spec, **{**options, "capture_factory": bench.factory}))
    qtbot.wait(int(1.5 * WATCH_S * 1000))
    assert window.source_info is None and window.camera_watch.active  # nothing yet, still looking
    plugged.append(CameraInfo(0, "Stand-in camera", cv2.CAP_ANY))
    qtbot.waitUntil(lambda: window.source_info is not None and window.last_frame is not None,
                    timeout=int(WATCH_S * 1000) + WAIT_MS)
    assert window.source_info.spec == "0" and not window.camera_watch.active
    assert banner_says(window, "Camera found: Stand-in camera") and not banner_says(window, "No camera found")
    assert window.source_controls.camera_combo.currentData() == 0


def test_opening_a_file_stops_looking_for_cameras(qtbot, make_window):
    window = make_window(source=None)
    assert window.camera_watch.active
    window.open_source(str(require_data(video("woman_smile_neutral.mp4"))))
    assert not window.camera_watch.active
