"""The desktop app, driven like a person would: real video files as the camera, real MediaPipe, real (tiny) ONNX
models from tests/onnx_factory.py, offscreen Qt. Every test waits on what the user would see or get (frames on
screen, a banner, a finished file), never on sleeps alone.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")
av = pytest.importorskip("av")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QImage  # noqa: E402

from app.inference.registry import ModelRegistry  # noqa: E402
from app.ui import timeline_plot  # noqa: E402
from app.ui.main_window import NO_CAMERA  # noqa: E402
from app.ui.recording import RecordingSummary  # noqa: E402
from tests.datapaths import require_data, video  # noqa: E402
from tests.ui_helpers import WAIT_MS, face_on_screen, on_screen, wait_for_faces  # noqa: E402

pytest_plugins = ["tests.ui_helpers"]  # the models_dir and make_window fixtures
SMILE = "woman_smile_neutral.mp4"  # 596x336, 29.97 fps, 15.5 s, one frontal face
SHORT = "woman_phone_night.mp4"  # 596x336, 25 fps, 4.6 s


def count_video_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in ("h264", "mpeg4")
        return sum(1 for _ in container.decode(stream))


def check_recording(summary: RecordingSummary) -> None:
    """The MP4 plays to its last frame and the CSV has rows for exactly the recorded frames that had a face."""
    assert summary.error is None
    assert summary.frames > 0
    assert count_video_frames(summary.video) == summary.frames
    assert summary.results == summary.video.with_suffix(".csv")
    with open(summary.results, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == summary.rows
    assert len({r["frame_index"] for r in rows}) == summary.frames_with_face
    assert summary.frames_with_face > 0
    assert all(abs(sum(float(v) for k, v in r.items() if k.startswith("p_")) - 1.0) < 1e-3 for r in rows)


def test_plays_a_video_file_with_faces_and_stats(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=10)
    frame = window.last_frame
    assert frame.result.model_name == "alpha"
    assert window.view.image.width() == 596 and window.view.image.height() == 336
    assert abs(sum(window.panel.bar_values()) - 1.0) < 0.02
    assert window.panel.history_length() > 0
    assert "cpu" in window.model_controls.provider_label.text().lower()
    qtbot.waitUntil(lambda: "inference" in window.status.rates.text() and "mesh" in window.status.stages.text())
    assert window.status.faces.text() == "1 face"
    assert not window.banner.isVisible()


def test_slow_inference_drops_frames_instead_of_lagging(qtbot, make_window, monkeypatch):
    """Newest frame wins: with a model slower than the video, frames are dropped and latency stays bounded."""
    from app.pipeline import FacePipeline

    real_process = FacePipeline.process

    def slow_process(self, frame):
        time.sleep(0.12)  # ~8 fps of analysis against a 30 fps source
        return real_process(self, frame)

    monkeypatch.setattr(FacePipeline, "process", slow_process)
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=12)
    frame = window.last_frame
    stats = f"dropped {frame.dropped}, capture {frame.capture_fps:.1f} fps, inference {frame.inference_fps:.1f} fps"
    assert frame.dropped >= 10, stats
    assert frame.capture_fps > 2 * frame.inference_fps, stats
    # A queue would now be ~30 frames behind (1.5 s of 30 fps video analysed at 8 fps); the newest frame wins, so
    # the frame on screen is only the one in flight plus the one waiting behind the newest captured.
    lag = window.worker.frames_captured - frame.result.frame.index
    assert lag <= 15, f"{lag} frames behind; {stats}"


def test_switching_model_keeps_video_running(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    combo = window.model_controls.model_combo
    with qtbot.waitSignal(window.models.activated, timeout=WAIT_MS) as blocker:
        combo.setCurrentIndex(combo.findData("beta"))
        combo.activated.emit(combo.currentIndex())
    assert blocker.args == ["beta"]
    qtbot.waitUntil(lambda: window.last_frame.result.model_name == "beta", timeout=WAIT_MS)
    wait_for_faces(qtbot, window, frames=5)
    assert "beta" in window.model_controls.provider_label.text()
    assert window.models.engine.provider in window.model_controls.provider_label.text().lower()
    assert not window.banner.isVisible()


def test_corrupt_model_shows_banner_and_keeps_previous(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    combo = window.model_controls.model_combo
    combo.setCurrentIndex(combo.findData("broken"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: window.banner.isVisible() and window.banner.kind == "error", timeout=WAIT_MS)
    assert "broken" in window.banner.text and "Still using alpha" in window.banner.text
    assert window.models.active_model == "alpha"
    assert combo.currentData() == "alpha"
    wait_for_faces(qtbot, window, frames=5)  # video never stopped
    assert window.last_frame.result.model_name == "alpha"
    window.banner.dismiss()
    assert not window.banner.isVisible()


def test_recording_two_seconds_gives_playable_mp4_and_csv(qtbot, make_window, tmp_path):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.recorder.active is not None
    qtbot.wait(2000)
    assert window.record_controls.elapsed.text().startswith("00:0")
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as blocker:
        window.record_controls.record_button.click()
    summary: RecordingSummary = blocker.args[0]
    assert summary.video.parent == tmp_path / "out" and summary.video.suffix == ".mp4"
    assert 20 <= summary.frames <= 90  # about 2 s at up to 30 fps, fewer when frames were dropped
    check_recording(summary)
    qtbot.waitUntil(lambda: "Saved" in window.banner.text)
    assert len(summary.timeline) == summary.frames  # every recorded frame is on the timeline
    assert summary.picture.name in window.banner.text  # ... whose picture lies beside the video
    assert cv2.imread(str(summary.picture)).shape == (timeline_plot.HEIGHT, timeline_plot.WIDTH, 3)


def record_a_moment(qtbot, window, ms: int = 1500) -> RecordingSummary:
    """R, ``ms`` of the video playing, then Stop: the recording's summary once its files are finalised. Which videos
    it keeps is read when it starts: both ticks are disabled meanwhile."""
    qtbot.keyClick(window, Qt.Key.Key_R)
    controls = window.record_controls
    assert not controls.clean.isEnabled() and not controls.annotated.isEnabled()
    qtbot.wait(ms)
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as blocker:
        controls.record_button.click()
    return blocker.args[0]


def test_recording_can_keep_the_clean_video_for_later_analysis(qtbot, make_window, tmp_path):
    """With "Clean video" on (remembered), a recording keeps, beside the annotated MP4, the picture the
    models saw without boxes or labels: as many frames, each the source frame (H.264 aside) where the annotated one
    has its drawings, and `ferlive analyze` on it finds the face the app labelled."""
    from app.cli import main

    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    window.record_controls.clean.setChecked(True)
    assert window.settings.record_clean
    summary = record_a_moment(qtbot, window)
    check_recording(summary)
    assert summary.clean == summary.video.with_name(summary.video.stem + "-clean.mp4")
    assert count_video_frames(summary.clean) == summary.frames
    qtbot.waitUntil(lambda: summary.clean.name in window.banner.text)
    with open(summary.results, newline="") as f:
        row = next(csv.DictReader(f))
    box = [int(float(row[k])) for k in ("x0", "y0", "x1", "y1")]
    with av.open(str(summary.clean)) as clean, av.open(str(summary.video)) as annotated:
        frames = [next(c.decode(video=0)).to_ndarray(format="bgr24") for c in (clean, annotated)]
    source = cv2.VideoCapture(str(require_data(video(SMILE))))
    source.set(cv2.CAP_PROP_POS_MSEC, 1000 * float(row["timestamp"]))
    picture = source.read()[1]
    source.release()
    edge = np.s_[max(0, box[1] - 3):box[1] + 3, box[0]:box[2]]  # the box's top line in the annotated video
    assert np.abs(frames[0][edge].astype(int) - picture[edge]).mean() < 12  # the clean one is the picture
    assert np.abs(frames[1][edge].astype(int) - picture[edge]).mean() > 30  # the annotated one has the box
    assert main(["analyze", str(summary.clean), "--csv", str(tmp_path / "again.csv"), "--quiet"]) == 0
    with open(tmp_path / "again.csv", newline="") as f:
        assert len({r["frame_index"] for r in csv.DictReader(f)}) >= summary.frames_with_face - 2


def test_a_recording_without_video_keeps_no_picture_of_anyone(qtbot, make_window, tmp_path):
    """With "Video" off (remembered), a recording writes the per-frame results and the timeline picture and no video
    at all, for studies that may not store video; the banner names the results."""
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    window.record_controls.annotated.setChecked(False)
    assert not window.settings.record_video
    summary = record_a_moment(qtbot, window)
    assert summary.video is None and summary.clean is None and summary.frames >= 15
    with open(summary.results, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len({r["frame_index"] for r in rows}) == summary.frames_with_face >= summary.frames - 3
    qtbot.waitUntil(lambda: window.banner.text.startswith(f"Saved {summary.frames} frames to {summary.results}"))
    assert summary.picture.name in window.banner.text and summary.picture.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [summary.results.name, summary.picture.name]
    window.record_controls.annotated.setChecked(True)
    assert window.settings.record_video


def test_recording_stops_when_the_source_ends(qtbot, make_window):
    window = make_window(str(require_data(video(SHORT))))
    window.source_controls.loop.setChecked(False)
    wait_for_faces(qtbot, window, frames=2)
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as blocker:
        window.set_recording(True)
    check_recording(blocker.args[0])
    assert not window.record_controls.record_button.isChecked()
    assert "ended" in window.banner.text or "Saved" in window.banner.text


def test_closing_the_window_while_recording_finalises_the_file(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    window.set_recording(True)
    qtbot.waitUntil(lambda: window.recorder.active is not None and window.recorder.active.frames >= 10)
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as blocker:
        window.close()
    assert not window.worker.isRunning()
    check_recording(blocker.args[0])


def test_snapshot_writes_the_annotated_frame_as_png(qtbot, make_window, tmp_path):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=2)
    with qtbot.waitSignal(window.snapshotSaved, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_S)
    path = Path(blocker.args[0])
    assert path.parent == tmp_path / "out" and path.suffix == ".png"
    image = QImage(str(path))
    assert (image.width(), image.height()) == (596, 336)


def test_pause_freezes_the_view_and_resumes_where_it_stopped(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=2)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.wait(300)
    shown, index = window.view.frames_shown, window.last_frame.result.frame.index
    qtbot.wait(1000)
    assert window.view.frames_shown == shown
    assert "paused" in window.status.state.text()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.view.frames_shown > shown, timeout=WAIT_MS)
    # A file plays on from where it was paused (a camera-like source would have skipped ~30 frames).
    assert window.last_frame.result.frame.index - index <= 10


def test_full_screen_presentation_shows_the_video_alone_until_esc(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=1)
    controls = (window.source_controls, window.panel.timeline, window.status)
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.presenting and window.isFullScreen()
    assert not any(widget.isVisible() for widget in controls)
    qtbot.waitUntil(lambda: window.view.width() >= window.centralWidget().width() - 20, timeout=WAIT_MS)
    assert any("Esc" in text for text in window.banner.texts())  # how to get the controls back
    shown = window.view.frames_shown
    qtbot.waitUntil(lambda: window.view.frames_shown > shown + 3, timeout=WAIT_MS)  # the video plays on
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presenting and not window.isFullScreen()
    assert all(widget.isVisible() for widget in controls)
    assert not any("Esc" in text for text in window.banner.texts())
    on_face = face_on_screen(window, window.last_frame.result.faces[0])
    assert window.view.map_to_frame(QPointF(on_face)) is not None and window.selected_track is None
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=on_face)  # a real double-click: press, release,
    qtbot.mouseDClick(window.view, Qt.MouseButton.LeftButton, pos=on_face)  # then Qt's double-click event
    assert window.presenting and window.selected_track is None  # a double-click does the same, selecting no face
    qtbot.mouseDClick(window.view, Qt.MouseButton.LeftButton)
    assert not window.presenting and window.source_controls.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    window.close()  # closed while presenting: the next start opens as a window, not full screen
    again = make_window(source=None, model=None, start=False)
    assert not again.isFullScreen() and not again.presenting


def test_paused_a_click_or_a_display_option_redraws_the_frame_shown(qtbot, make_window):
    """Paused, no frame follows: clicking the face marks it and the panel follows it at once, and switching Labels
    off redraws the same frame without them, with no frame analysed meanwhile."""
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.wait(500)
    shown, processed = window.last_frame, window.worker.frames_processed
    face = shown.result.faces[0]
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=face_on_screen(window, face, shown.annotated))
    assert window.panel._title.text().startswith(f"Face #{face.track_id} (selected)")
    marked = window.last_frame.annotated
    assert not np.array_equal(marked, shown.annotated)  # the heavier box
    window.display_controls.labels.setChecked(False)
    assert not np.array_equal(window.last_frame.annotated, marked)  # the label tag is gone
    assert window.worker.frames_processed == processed and window.last_frame.result is shown.result


def test_paused_another_model_reads_the_frame_shown(qtbot, make_window):
    """Paused, switching the model analyses the frame on screen again with the new one (to compare models on one
    frame); the video stays paused and a recording does not get the frame twice."""
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.wait(500)
    shown = window.last_frame
    assert shown.result.model_name == "alpha"
    window.set_recording(True)
    recording = window.recorder.active
    combo = window.model_controls.model_combo
    combo.setCurrentIndex(combo.findData("beta"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: window.last_frame.result.model_name == "beta", timeout=WAIT_MS)
    again = window.last_frame
    assert again.result.frame.index == shown.result.frame.index and again.position == shown.position
    assert again.result.faces and len(again.result.faces[0].classes) == len(shown.result.faces[0].classes)
    qtbot.wait(500)
    assert window.last_frame is again and recording.frames == 0  # still paused; nothing new was recorded
    window.set_recording(False)


def test_at_a_files_end_another_model_reads_its_last_frame(qtbot, make_window, tmp_path):
    """An ended video (Loop off) leaves its last frame on screen; another model analyses that frame."""
    from tests.datapaths import cut_clip

    window = make_window(str(cut_clip(SMILE, tmp_path / "short.mp4", 20)), loop=False)
    qtbot.waitUntil(lambda: window._ended, timeout=WAIT_MS)
    last = window.last_frame
    combo = window.model_controls.model_combo
    combo.setCurrentIndex(combo.findData("beta"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: window.last_frame.result.model_name == "beta", timeout=WAIT_MS)
    assert window.last_frame.result.frame.index == last.result.frame.index and window._ended


def test_f1_lists_the_keys(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=1)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    texts = window.banner.texts()
    assert any(text.startswith("Keys: Space pause or play") and "Click a face" in text for text in texts)


def test_the_wheel_scrolls_the_controls_and_never_changes_a_dropdown_it_passes_over(qtbot, make_window):
    """Scrolling down the side panel over the Stability dropdown or the Max faces box leaves them as they were and
    scrolls the panel; once clicked (focused), the wheel changes them as usual."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication, QScrollArea

    window = make_window(source=None)
    window.resize(900, 500)  # the controls do not fit: the panel scrolls
    dc = window.display_controls
    bar = window.findChild(QScrollArea).verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=WAIT_MS)

    def wheel(widget, steps: int = -1) -> None:
        centre = QPointF(widget.rect().center())
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, 120 * steps), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)

    stability, faces, scrolled = dc.stability.currentIndex(), dc.max_faces.value(), bar.value()
    wheel(dc.stability)
    wheel(dc.max_faces)
    assert dc.stability.currentIndex() == stability and dc.max_faces.value() == faces
    assert bar.value() > scrolled  # the panel scrolled down instead
    dc.max_faces.setFocus()
    qtbot.waitUntil(dc.max_faces.hasFocus, timeout=WAIT_MS)
    wheel(dc.max_faces, steps=1)
    assert dc.max_faces.value() == faces + 1


def test_without_a_camera_the_window_opens_and_says_so(qtbot, make_window):
    window = make_window(source=None)
    assert window.isVisible()
    assert window.banner.isVisible() and window.banner.text == NO_CAMERA
    assert not window.source_controls.camera_combo.isEnabled()
    assert "No camera" in window.source_controls.camera_combo.currentText()
    qtbot.waitUntil(lambda: window.models.active_model == "alpha", timeout=WAIT_MS)  # ready for a file


def test_model_dropdown_shows_accuracy_and_disables_unusable_models(qtbot, make_window):
    window = make_window(source=None)
    combo = window.model_controls.model_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert "alpha (FER2013 61.0%)" in texts
    nocard = combo.findData("nocard")
    assert not combo.model().item(nocard).isEnabled()
    assert "no model card" in combo.itemData(nocard, Qt.ItemDataRole.ToolTipRole)
    assert combo.model().item(combo.findData("beta")).isEnabled()
    providers = [window.model_controls.provider_combo.itemText(i) for i in range(4)]
    assert providers == ["Auto", "TensorRT", "CUDA", "CPU"]


def test_explicit_provider_that_cannot_start_keeps_the_running_one(qtbot, make_window):
    window = make_window(source=None)
    qtbot.waitUntil(lambda: window.models.active_model == "alpha", timeout=WAIT_MS)
    running = window.models.engine
    combo = window.model_controls.provider_combo
    combo.setCurrentIndex(combo.findData("cuda"))
    combo.activated.emit(combo.currentIndex())
    window.banner.dismiss()  # the "no camera" notice

    def settled() -> bool:
        return (window.banner.isVisible() and window.banner.kind == "error") or window.models.engine is not running

    qtbot.waitUntil(settled, timeout=WAIT_MS)
    if window.models.engine is not running:  # a machine where CUDA really loads
        assert window.models.engine.provider == "cuda"
        assert "CUDA" in window.model_controls.provider_label.text()
    else:
        assert "CUDA" in window.banner.text and "Still using alpha" in window.banner.text
        assert window.model_controls.current_provider() == "auto"
        assert window.settings.provider == "auto"


def test_missing_file_is_reported_in_the_banner(qtbot, make_window, tmp_path):
    window = make_window(str(tmp_path / "missing.mp4"))
    qtbot.waitUntil(lambda: window.banner.isVisible() and "not found" in window.banner.text, timeout=WAIT_MS)
    assert window.isVisible()


def test_settings_are_remembered(qtbot, make_window):
    window = make_window(str(require_data(video(SHORT))))
    wait_for_faces(qtbot, window, frames=1)
    window.display_controls.landmarks.setChecked(True)
    window.display_controls.select_stability("steady")
    window.display_controls.max_faces.setValue(2)
    window.source_controls.mirror.setChecked(False)
    window.close()
    again = make_window(source=None, model=None)
    assert again.display_controls.landmarks.isChecked()
    assert again.display_controls.current_stability() == "steady"
    assert again.display_controls.max_faces.value() == 2
    assert not again.source_controls.mirror.isChecked()
    assert again.settings.source == str(video(SHORT))
    qtbot.waitUntil(lambda: again.models.active_model == "alpha", timeout=WAIT_MS)


def test_dropping_a_video_file_opens_it(qtbot, make_window):
    path = require_data(video(SHORT))
    window = make_window(source=None)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(
        QPointF(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(drop)
    wait_for_faces(qtbot, window, frames=2)
    assert window.source_info.name == SHORT
    assert not window.banner.isVisible()  # the "no camera" notice goes once video plays


def test_signal_refcount_guard_survives_many_signals():
    """PySide6 6.12.0 on CPython < 3.12 drops a reference to True per Python-side emit and to None per void call;
    unguarded, this loop would abort the interpreter (see app/ui/qt_compat.py)."""
    from PySide6.QtCore import QObject, Signal

    from app.ui.qt_compat import guard_signal_refcount

    class Emitter(QObject):
        ping = Signal(object)

    guard_signal_refcount()
    emitter = Emitter()
    for _ in range(60_000):
        emitter.ping.emit(None)
        emitter.setObjectName("x")
    assert sys.getrefcount(True) > 1000 and sys.getrefcount(None) > 1000


def test_the_model_tooltip_tells_accuracy_and_cpu_cost():
    """Choosing a model means weighing accuracy against cost: the ensemble's tooltip must show both."""
    from app.inference.registry import default_models_dir
    from app.ui.controls import model_tooltip

    entries = {e.name: e for e in ModelRegistry(default_models_dir()).entries()}
    if "ensemble-large" not in entries:
        pytest.skip("ensemble-large is not shipped in models/")
    tip = model_tooltip(entries["ensemble-large"])
    card = entries["ensemble-large"].card
    assert f"{100 * card.accuracy:.1f}%" in tip
    assert f"{card.metrics['cpu_ms_per_face']:.0f} ms per face" in tip


def test_the_face_panel_says_when_a_face_is_talking(qtbot):
    """The panel names a talking face under its title, so that an open mouth not shown as surprise is explained."""
    from dataclasses import replace

    import numpy as np

    from app.types import FaceResult
    from app.ui.probability_panel import ProbabilityPanel

    panel = ProbabilityPanel()
    qtbot.addWidget(panel)
    probs = np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.7], np.float32)
    face = FaceResult(track_id=3, box=(0, 0, 10, 10), landmarks=np.zeros((478, 3), np.float32), probabilities=probs,
                      classes=("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), talking=True)
    panel.update_face(face, 0.0)
    assert (panel._title.text(), panel._notes.text()) == ("Face #3 (largest): neutral 70%", "talking")
    panel.update_face(replace(face, talking=False), 0.1)
    assert (panel._title.text(), panel._notes.text()) == ("Face #3 (largest): neutral 70%", "")
    panel.update_face(replace(face, dim=True), 0.2)  # a dim face: the remedy, since its label is less sure
    assert panel._notes.text() == "talking · dim: light the face"


def test_the_face_panel_explains_a_label_held_beside_a_higher_bar(qtbot):
    """While the smoother holds the shown label and another class leads, the title says so and the shown class's
    name is the bold one, so "happy 36%" beside a 48% neutral bar is not a puzzle."""
    import numpy as np

    from app.types import FaceResult
    from app.ui.probability_panel import ProbabilityPanel

    panel = ProbabilityPanel()
    qtbot.addWidget(panel)
    probs = np.array([0.02, 0.02, 0.04, 0.36, 0.04, 0.04, 0.48], np.float32)
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    face = FaceResult(track_id=1, box=(0, 0, 10, 10), landmarks=np.zeros((478, 3), np.float32), probabilities=probs,
                      classes=classes, shown_index=3, calibrated=True)
    panel.update_face(face, 0.0)
    assert panel._title.text() == "Face #1 (largest): happy 36%"
    assert panel._notes.text() == "held: neutral 48% leads · neutral calibrated"
    bold = [name.text() for name in panel._names if "bold" in name.styleSheet()]
    assert bold == ["happy"]
    panel.update_face(FaceResult(track_id=1, box=face.box, landmarks=face.landmarks, probabilities=probs,
                                 classes=classes, shown_index=6), 0.1)  # the switch: no hold to explain
    assert (panel._title.text(), panel._notes.text()) == ("Face #1 (largest): neutral 48%", "")
    assert [name.text() for name in panel._names if "bold" in name.styleSheet()] == ["neutral"]
    panel.update_face(None, 0.2)
    assert not any("bold" in name.styleSheet() for name in panel._names)


def test_the_chart_draws_photos_as_dots_and_video_as_lines(qtbot):
    """A slideshow's photos are unrelated people: a line from one to the next would read as a change of expression."""
    from app.ui.probability_panel import ProbabilityPanel

    panel = ProbabilityPanel()
    qtbot.addWidget(panel)
    panel.set_classes(("happy", "sad"))
    panel.set_stills(True)
    assert all(c.opts["symbol"] == "o" and c.opts["pen"].style() == Qt.PenStyle.NoPen for c in panel._curves)
    panel.set_classes(("happy", "sad", "neutral"))  # another model while photos play: still dots
    assert all(c.opts["symbol"] == "o" for c in panel._curves)
    panel.set_stills(False)
    assert all(c.opts["symbol"] is None and c.opts["pen"].style() == Qt.PenStyle.SolidLine for c in panel._curves)


def test_a_group_photo_shows_every_face_whatever_the_video_face_limit(make_window, qtbot, tmp_path):
    """The Max faces box (4 by default) is a per-frame cost limit for video; a photo is analysed once."""
    import cv2
    import numpy as np

    from app.capture import VideoFileSource

    with VideoFileSource(require_data(video(SMILE))) as src:
        face = cv2.resize(src.read().image[40:250, 180:390], (180, 180))
    photos = tmp_path / "photos"
    photos.mkdir()
    group = np.full((420, 1500, 3), 110, np.uint8)
    for x in range(30, 1500 - 180, 245):  # six faces side by side
        group[120:300, x:x + 180] = face
    cv2.imwrite(str(photos / "team.png"), group)
    window = make_window(str(photos))
    assert window.display_controls.max_faces.value() == 4
    qtbot.waitUntil(lambda: window.last_frame is not None and len(window.last_frame.result.faces) == 6,
                    timeout=30_000)
    assert sorted(f.track_id for f in window.last_frame.result.faces) == [1, 2, 3, 4, 5, 6]


def test_the_talking_discount_can_be_switched_off_and_is_remembered(qtbot, make_window):
    """Off, every frame of a talking face counts alike in the smoothing (the preset, talk weight 1); on again,
    the preset's own weight; the choice outlives the window."""
    from dataclasses import replace

    from app.smoothing import PRESETS

    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=1)
    assert window.display_controls.talking.isChecked()
    smoother = lambda: window.worker._pipeline.smoother  # noqa: E731
    assert smoother().stability == PRESETS["balanced"]
    window.display_controls.talking.setChecked(False)
    qtbot.waitUntil(lambda: smoother().stability.talk_weight == 1.0, timeout=WAIT_MS)
    assert smoother().stability.name == "balanced" and smoother().stability.margin == PRESETS["balanced"].margin
    window.display_controls.select_stability("steady")
    qtbot.waitUntil(lambda: smoother().stability.name == "steady", timeout=WAIT_MS)
    assert smoother().stability.talk_weight == 1.0  # the switch holds across presets
    window.close()
    again = make_window(str(require_data(video(SMILE))))
    assert not again.display_controls.talking.isChecked()
    wait_for_faces(qtbot, again, frames=1)
    assert again.worker._pipeline.smoother.stability == replace(PRESETS["steady"], talk_weight=1.0)
    again.display_controls.talking.setChecked(True)
    qtbot.waitUntil(lambda: again.worker._pipeline.smoother.stability == PRESETS["steady"], timeout=WAIT_MS)


def test_a_labelled_photo_folder_shows_its_score_in_the_status_bar(qtbot, make_window, tmp_path):
    """Photos in class folders (a labelled set): the status bar says how many of those shown the label got right,
    each photo counted once (the slideshow loops), as ``app.dataset_score`` counts them; a folder of photos in no
    class folder, or a video, shows none."""
    import shutil

    from app.dataset_score import DatasetScore
    from tests.datapaths import data_dir

    valid = require_data(data_dir() / "affectnet96" / "valid")
    dataset = tmp_path / "posed"
    for name in ("happy", "surprise"):
        (dataset / name).mkdir(parents=True)
        for photo in sorted((valid / name).iterdir())[:2]:
            shutil.copy(photo, dataset / name / photo.name)
    window = make_window(str(dataset), loop=True)
    seen: dict[str, object] = {}

    def every_photo_shown() -> bool:  # polled far more often than photos change (one a second)
        if window.last_frame is not None:
            seen[window.last_frame.result.frame.image_name] = window.last_frame.result
        return len(seen) == 4 and "of 4 photos right" in window.status.score.text()

    qtbot.waitUntil(every_photo_shown, timeout=6 * WAIT_MS)
    expected = DatasetScore(tuple(next(r for r in seen.values() if r.faces).faces[0].classes))
    for name, result in seen.items():
        expected.add(name, result.faces)
    assert window.status.score.text() == f"{100 * expected.accuracy:.0f}% of 4 photos right"
    assert "against the photo's class folder" in window.status.score.toolTip()
    window.open_source(str(require_data(video(SHORT))))
    qtbot.waitUntil(lambda: window.status.score.text() == "", timeout=WAIT_MS)


def test_a_face_clicked_in_a_photo_is_followed_in_that_photo_only(qtbot, make_window, tmp_path):
    """A folder of photos: faces are numbered afresh in each photo, so a click picks a face of the photo shown (the
    panel follows it at once, even while the slideshow plays) and the next photo starts again from its largest face
    (before, face #2 of every later photo was taken for the one clicked)."""
    import cv2

    from app.capture import open_source
    from tests.datapaths import side_by_side

    photos = tmp_path / "pairs"
    photos.mkdir()
    with open_source(require_data(video(SMILE))) as her, open_source(require_data(video("interview_50s.mp4"))) as him:
        for i in range(3):
            for _ in range(20):
                left, right = her.read().image, him.read().image
            cv2.imwrite(str(photos / f"p{i}.jpg"), side_by_side(left, right))
    window = make_window(str(photos), loop=True)
    qtbot.waitUntil(lambda: window.last_frame is not None and len(window.last_frame.result.faces) == 2,
                    timeout=3 * WAIT_MS)
    window.toggle_pause()
    shown = window.last_frame.result
    small = min(shown.faces, key=lambda f: f.area)
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=face_on_screen(window, small))
    assert window.selected_track == small.track_id
    assert window.panel._title.text().startswith(f"Face #{small.track_id} (selected)")
    window.toggle_pause()
    qtbot.waitUntil(lambda: window.last_frame.result.frame.image_name != shown.frame.image_name, timeout=WAIT_MS)
    assert window.selected_track is None and window.last_frame.result.subject is None
    assert "(largest)" in window.panel._title.text()


def test_open_folder_plays_its_photos(qtbot, make_window, monkeypatch, tmp_path):
    """The Source section's Open folder… button: the chosen folder's photos are analysed one by one, and with Loop
    on the slideshow starts again after the last."""
    import cv2
    from PySide6.QtWidgets import QFileDialog

    from app.capture import VideoFileSource

    with VideoFileSource(require_data(video(SMILE))) as src:
        frames = [src.read().image for _ in range(3)]
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate(frames):
        cv2.imwrite(str(photos / f"{i}.jpg"), image)
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: asked.append(args) or str(photos))
    window = make_window(source=None)
    window.source_controls.folder_button.click()
    assert asked
    qtbot.waitUntil(lambda: window.source_info is not None and window.source_info.name == "photos", timeout=WAIT_MS)
    wait_for_faces(qtbot, window, frames=1)
    assert window.last_frame.result.frame.image_name in {"0.jpg", "1.jpg", "2.jpg"}
    # Loop is on (the default): at one photo a second, the first photo follows the last
    qtbot.waitUntil(lambda: window.last_frame.result.frame.index >= 3, timeout=WAIT_MS)
    frame = window.last_frame.result.frame
    assert frame.image_name == f"{frame.index % 3}.jpg" and not window._ended


def test_a_paused_slideshow_of_photos_stays_put_and_steps_photo_by_photo(qtbot, make_window, tmp_path):
    """A folder of photos plays at a photo a second: paused, it holds (resuming shows the next photo, not one that
    ran on unseen), and , and . show the previous and the next photo."""
    import cv2

    from app.capture import VideoFileSource

    with VideoFileSource(require_data(video(SMILE))) as src:
        frame = src.read().image
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        cv2.imwrite(str(photos / f"p{i}.jpg"), frame)
    window = make_window(str(photos))
    wait_for_faces(qtbot, window, frames=1)
    bar = window.playback_bar
    assert bar.step_on_button.isVisible() and not bar.slider.isVisible()
    window.toggle_pause()
    number = lambda: int(window.last_frame.result.frame.image_name[1])  # noqa: E731
    paused_on = number()
    qtbot.wait(2500)  # two photos' time
    assert number() == paused_on
    qtbot.keyClick(window, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: number() == paused_on + 1, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: number() == paused_on, timeout=WAIT_MS)
    assert window.last_frame.result.faces  # analysed again
    window.toggle_pause()
    qtbot.waitUntil(lambda: number() != paused_on, timeout=WAIT_MS)
    assert number() == paused_on + 1


def test_open_folder_plays_its_videos_one_after_another(qtbot, make_window, monkeypatch, tmp_path):
    """A folder of videos chosen with Open folder… plays each in turn, named in the source line, then ends."""
    from PySide6.QtWidgets import QFileDialog

    from tests.datapaths import cut_clip

    folder = tmp_path / "session"
    (folder / "day2").mkdir(parents=True)
    cut_clip(SHORT, folder / "a.mp4", 20)
    cut_clip("interview_50s.mp4", folder / "day2" / "b.mp4", 20)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    window = make_window(source=None, loop=False)
    window.source_controls.folder_button.click()
    qtbot.waitUntil(lambda: "session/a.mp4 (1 of 2)" in window.source_controls.current_label.text(), timeout=WAIT_MS)
    assert window.playback_bar.slider.isVisible() and window.playback_bar.time_label.text().endswith("/ 0:00")
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as blocker:  # a recording across both videos
        window.set_recording(True)
        qtbot.waitUntil(lambda: "session/day2/b.mp4 (2 of 2) 360×640" in window.source_controls.current_label.text(),
                        timeout=WAIT_MS)
        qtbot.waitUntil(lambda: window.view.image is not None and window.view.image.height() == 640, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any("session has ended" in t for t in window.banner.texts()), timeout=WAIT_MS)
    bar = window.playback_bar  # the files are closed: nothing left to seek or step in
    assert not bar.slider.isVisible() and not bar.step_on_button.isVisible() and not bar.steppable
    summary = blocker.args[0]
    check_recording(summary)
    with open(summary.results, newline="") as f:
        videos = [row["image"] for row in csv.DictReader(f)]
    assert videos[-1] == "day2/b.mp4" and "a.mp4" in videos  # each row says which video it came from
    with av.open(str(summary.video)) as container:  # one size for the whole recording: the first video's
        assert (container.streams.video[0].width, container.streams.video[0].height) == (596, 336)


def test_the_playback_bar_pauses_and_goes_elsewhere_in_the_video_even_when_paused(qtbot, make_window, tmp_path):
    """Under the video: a pause button, and for a video file a slider over its length; a click on the slider goes
    there (paused, the view shows that frame, analysed); while recording the slider is off; photos get no slider."""
    window = make_window(str(require_data(video(SMILE))), loop=False)
    wait_for_faces(qtbot, window)
    bar = window.playback_bar
    assert bar.isVisible() and bar.duration == pytest.approx(15.48, abs=0.01)
    assert bar.time_label.text().endswith("/ 0:15")
    assert bar.pause_button.toolTip() == "Pause (Space)"
    bar.pause_button.click()
    qtbot.waitUntil(lambda: window.paused and bar.pause_button.toolTip() == "Play (Space)", timeout=WAIT_MS)
    bar.slider.setValue(100)  # 10 s, as a click on the groove or the arrow keys set it
    qtbot.waitUntil(lambda: abs(window.last_frame.position - 10.0) < 0.05, timeout=WAIT_MS)
    assert window.last_frame.result.faces and bar.time_label.text() == "0:10 / 0:15"
    shown = window.view.frames_shown
    qtbot.wait(400)
    assert window.view.frames_shown == shown  # one frame for the seek, then still paused
    bar.pause_button.click()
    qtbot.waitUntil(lambda: window.last_frame.position > 10.3, timeout=WAIT_MS)
    window.set_recording(True)
    qtbot.waitUntil(lambda: not bar.slider.isEnabled(), timeout=WAIT_MS)
    window.set_recording(False)
    qtbot.waitUntil(lambda: bar.slider.isEnabled(), timeout=WAIT_MS)
    photo = tmp_path / "still.png"
    cv2.imwrite(str(photo), window.last_frame.result.frame.image)
    window.open_source(str(photo))
    qtbot.waitUntil(lambda: window.source_info.name == "still.png", timeout=WAIT_MS)
    assert bar.pause_button.isVisible() and not bar.slider.isVisible() and not bar.time_label.isVisible()


def test_paused_a_video_steps_a_frame_on_and_back(qtbot, make_window):
    """The , and . keys (and the buttons beside pause): playing, the first press pauses; paused, each press shows
    exactly the next or the previous frame, analysed; a step on keeps the face's track and smoothing, a step back
    shows the frame as it was shown (its smoothed probabilities, the chart up to it), and while recording only the
    step back (a jump) is off."""
    window = make_window(str(require_data(video(SMILE))), loop=False)
    wait_for_faces(qtbot, window)
    bar = window.playback_bar
    assert bar.step_on_button.isVisible() and not bar.step_on_button.isEnabled()  # playing
    qtbot.keyClick(window, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: window.paused and bar.step_on_button.isEnabled(), timeout=WAIT_MS)
    qtbot.wait(300)
    shown = window.last_frame
    track = shown.result.faces[0].track_id
    stepped = []
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_Period)
        qtbot.waitUntil(lambda s=shown: window.last_frame is not s, timeout=WAIT_MS)
        assert window.last_frame.result.frame.index == shown.result.frame.index + 1
        assert window.last_frame.result.faces[0].track_id == track  # the same face, smoothing went on
        shown = window.last_frame
        stepped.append(shown)
    chart = window.panel.history_length()
    bar.step_back_button.click()
    qtbot.waitUntil(lambda: window.last_frame is not shown, timeout=WAIT_MS)
    back = window.last_frame
    assert back.position == pytest.approx(shown.position - 1 / 29.97, abs=0.005) and back.result.faces
    before = stepped[1].result.faces[0]  # the same frame when it was stepped on to
    assert back.result.faces[0].track_id == track and back.result.faces[0].label == before.label
    np.testing.assert_array_equal(back.result.faces[0].probabilities, before.probabilities)
    assert window.panel.history_length() == chart - 1  # the chart runs up to the frame shown
    qtbot.keyClick(window, Qt.Key.Key_Period)  # and on again: the frame as shown before, too
    qtbot.waitUntil(lambda: window.last_frame is not back, timeout=WAIT_MS)
    np.testing.assert_array_equal(window.last_frame.result.faces[0].probabilities, shown.result.faces[0].probabilities)
    qtbot.keyClick(window, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: window.last_frame.position == pytest.approx(back.position, abs=0.005), timeout=WAIT_MS)
    back = window.last_frame
    qtbot.wait(400)
    assert window.last_frame is back  # still paused
    window.set_recording(True)
    qtbot.waitUntil(lambda: window.recorder.active is not None, timeout=WAIT_MS)
    bar.step_on_button.click()
    qtbot.waitUntil(lambda: window.last_frame is not back and not bar.step_back_button.isEnabled(), timeout=WAIT_MS)
    assert window.last_frame.position == pytest.approx(back.position + 1 / 29.97, abs=0.005)
    stepped = window.last_frame
    qtbot.keyClick(window, Qt.Key.Key_Comma)  # no jump back into what is recorded
    qtbot.wait(400)
    assert window.last_frame is stepped
    window.set_recording(False)


def test_a_step_back_in_a_folders_second_video_shows_that_video_as_played(qtbot, make_window, tmp_path):
    """In a folder of videos, the frames shown are kept per video: paused in the second video, a step back shows its
    own previous frame as it was shown, never one of the first video's."""
    from tests.datapaths import cut_clip

    folder = tmp_path / "session"
    folder.mkdir()
    cut_clip(SHORT, folder / "a.mp4", 30)
    cut_clip(SMILE, folder / "b.mp4", 90)
    window = make_window(str(folder), loop=False)
    qtbot.waitUntil(lambda: "(2 of 2)" in window.source_controls.current_label.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.last_frame.result.faces and window.last_frame.result.frame.source == "b.mp4",
                    timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.wait(300)
    stepped = []
    for _ in range(2):
        shown = window.last_frame
        qtbot.keyClick(window, Qt.Key.Key_Period)
        qtbot.waitUntil(lambda s=shown: window.last_frame is not s, timeout=WAIT_MS)
        stepped.append(window.last_frame)
    qtbot.keyClick(window, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: window.last_frame is not stepped[1], timeout=WAIT_MS)
    back = window.last_frame
    assert back.result.frame.source == "b.mp4" and back.position == pytest.approx(stepped[0].position, abs=0.005)
    np.testing.assert_array_equal(back.result.faces[0].probabilities, stepped[0].result.faces[0].probabilities)


def test_neutral_calibration_makes_a_resting_face_read_neutral_until_model_or_source_change(qtbot, make_window,
                                                                                           tmp_path):
    """N (or the Display section's button): three seconds of the woman's talking neutral face, which the default
    reads as fear and surprise, are learnt; then it reads neutral. Calibrating her again replaces hers. Another
    model or another source drops the calibration, saying so; Clear stops one being gathered."""
    from app.inference.registry import default_models_dir
    from tests.datapaths import cut_clip

    clip = cut_clip(SMILE, tmp_path / "resting.mp4", 128, start=196)  # her first neutral stretch
    window = make_window(str(clip), model="poster-small", folder=default_models_dir(), loop=True)
    wait_for_faces(qtbot, window)
    dc = window.display_controls
    assert dc.calibration_label.text() == "Neutral face: not calibrated" and not dc.clear_calibration_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert "Calibrating" in dc.calibration_label.text() and not dc.calibrate_button.isEnabled()
    assert any("relaxed, neutral face" in t for t in window.banner.texts())
    qtbot.waitUntil(lambda: "calibrated (poster-small)" in dc.calibration_label.text(), timeout=3 * WAIT_MS)
    assert len(window.worker.neutrals) == 1 and window.worker.neutrals[0].frames >= 30
    assert dc.calibrate_button.isEnabled() and dc.clear_calibration_button.isEnabled()
    assert any(t.startswith("Calibrated:") for t in window.banner.texts())
    faces = []
    for i in range(45):  # the first 15: the smoothing still carries the frames before the calibration
        shown = window.last_frame
        qtbot.waitUntil(lambda s=shown: window.last_frame is not s, timeout=WAIT_MS)
        faces += [f for f in window.last_frame.result.faces if not f.held] if i >= 15 else []
    neutral = window.last_frame.result.faces[0].classes.index("neutral")
    shown_neutral = np.mean([f.probabilities[neutral] for f in faces])
    raw_neutral = np.mean([f.raw_probabilities[neutral] for f in faces])
    assert all(f.calibrated for f in faces)
    # what the app shows is weighed towards her resting face (measured 0.30-0.32 against the model's own 0.18-0.19;
    # smoothing alone moves a mean by no more than a hundredth)
    assert shown_neutral >= raw_neutral + 0.06
    assert [f.label for f in faces].count("neutral") >= 0.6 * len(faces)
    assert "neutral calibrated" in window.panel._notes.text()  # why her face reads otherwise than a moment ago
    first = window.worker.neutrals[0]
    qtbot.keyClick(window, Qt.Key.Key_N)  # the same person again: hers is replaced, not joined by a second
    # the worker keeps the new calibration, then tells the window (a signal to its thread): wait for both
    qtbot.waitUntil(lambda: window.worker.neutrals[-1] is not first
                    and dc.calibration_label.text().startswith("Neutral face calibrated"), timeout=3 * WAIT_MS)
    assert len(window.worker.neutrals) == 1
    combo = window.model_controls.model_combo
    combo.setCurrentIndex(combo.findData("ferformer-small"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: not window.worker.neutrals, timeout=WAIT_MS)
    assert dc.calibration_label.text() == "Neutral face: not calibrated"
    assert any("made with poster-small: calibrate again for ferformer-small" in t for t in window.banner.texts())
    wait_for_faces(qtbot, window, frames=2)
    assert "calibrated" not in window.panel._notes.text()
    dc.calibrate_button.click()
    qtbot.waitUntil(lambda: bool(window.worker.neutrals), timeout=3 * WAIT_MS)
    assert window.worker.neutrals[-1].model == "ferformer-small"
    window.open_source(str(require_data(video(SMILE))))  # someone else, maybe
    # dropped on the worker's thread; the window hears of it a moment later
    qtbot.waitUntil(lambda: any("for the person before another source" in t for t in window.banner.texts()),
                    timeout=WAIT_MS)
    assert not window.worker.neutrals and dc.calibration_label.text() == "Neutral face: not calibrated"
    dc.calibrate_button.click()
    dc.clear_calibration_button.click()  # while it gathers: nothing is learnt, and the buttons come back
    assert dc.calibrate_button.isEnabled() and not dc.clear_calibration_button.isEnabled()
    qtbot.wait(int(1000 * 3.5))
    assert not window.worker.neutrals


def test_the_next_video_of_a_folder_drops_the_last_persons_calibration(qtbot, make_window, tmp_path):
    """A folder of session videos, one person each: a calibration learnt on the first does not carry into the next."""
    from app.inference.registry import default_models_dir
    from tests.datapaths import cut_clip

    folder = tmp_path / "sessions"
    folder.mkdir()
    cut_clip(SMILE, folder / "p1.mp4", 180, start=196)  # her neutral stretch: six seconds, room for the three
    cut_clip(SHORT, folder / "p2.mp4", 30)
    window = make_window(str(folder), model="poster-small", folder=default_models_dir(), loop=False)
    wait_for_faces(qtbot, window, frames=1)
    window.calibrate_neutral()
    qtbot.waitUntil(lambda: bool(window.worker.neutrals), timeout=3 * WAIT_MS)
    # the worker drops the calibration, then names the next video: two signals the window takes in turn
    qtbot.waitUntil(lambda: any("for the person before another video" in t for t in window.banner.texts())
                    and "p2.mp4 (2 of 2)" in window.source_controls.current_label.text(), timeout=WAIT_MS)
    assert not window.worker.neutrals
    assert window.display_controls.calibration_label.text() == "Neutral face: not calibrated"


def test_an_ended_video_plays_again_from_the_start(qtbot, make_window, tmp_path):
    """Without Loop a video ends; the bar's button (and Space) then offers to play it again, from its first frame."""
    from tests.datapaths import cut_clip

    clip = cut_clip(SHORT, tmp_path / "short.mp4", 30)
    window = make_window(str(clip), loop=False)
    qtbot.waitUntil(lambda: any("short.mp4 has ended. Play it again (Space)" in t for t in window.banner.texts()),
                    timeout=WAIT_MS)
    bar = window.playback_bar
    assert bar.pause_button.toolTip() == "Play again from the start (Space)"
    last = window.last_frame.result.frame.index
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.last_frame.result.frame.index < last, timeout=WAIT_MS)
    assert not any("has ended" in t for t in window.banner.texts())
    assert bar.pause_button.toolTip() == "Pause (Space)" and bar.slider.isVisible() and not window.paused
    qtbot.waitUntil(lambda: any("has ended" in t for t in window.banner.texts()), timeout=WAIT_MS)  # and ends again


UPRIGHT_SMILE_BOX = (232, 94, 342, 220)  # the face's box in the first seconds of SMILE (ferlive analyze)


def test_a_camera_mounted_upside_down_is_turned_upright_and_the_choice_is_remembered(qtbot, make_window, tmp_path):
    """Rotate 180° in the Source section: the upside-down clip's face is found and boxed in the turned picture,
    the source line says so, and the next start turns it too."""
    from app.face.stills import face_turn
    from app.ui.settings import AppSettings
    from tests.datapaths import cut_clip

    clip = cut_clip(SMILE, tmp_path / "ceiling.mp4", 90, turn=cv2.ROTATE_180)
    window = make_window(str(clip))
    qtbot.waitUntil(lambda: window.view.frames_shown >= 20, timeout=WAIT_MS)
    # upside down, the mesh misses the face or lays an upright mesh over it (eyes on the mouth): a box off the face
    before = [f.box for f in window.last_frame.result.faces]
    assert not before or np.abs(np.array(before[0]) - UPRIGHT_SMILE_BOX).max() > 15
    # after a few seconds the app says what to do
    qtbot.waitUntil(lambda: any("look upside down" in t and "choose Rotate 180° in Source" in t
                                for t in window.banner.texts()), timeout=WAIT_MS)
    qtbot.wait(500)
    assert window.banner.kind == "warning"  # it stays until the rotation changes
    window.source_controls.select_rotation(180)
    assert not any("look upside down" in t for t in window.banner.texts())
    assert "rotated 180°" in window.source_controls.current_label.text()
    wait_for_faces(qtbot, window, frames=5)
    face = window.last_frame.result.faces[0]
    assert face_turn(face) is None  # upright again, and where the face is in the original clip
    assert np.abs(np.array(face.box) - UPRIGHT_SMILE_BOX).max() < 15
    assert AppSettings().rotation == 180
    window.source_controls.select_rotation(0)
    assert AppSettings().rotation == 0


def test_f_follows_each_face_from_the_left_then_the_largest_again(qtbot, make_window, tmp_path):
    """The keyboard's click (also in full screen): F follows the leftmost face, then the next to its right, and after
    the rightmost lets go (the largest face again)."""
    from tests.datapaths import two_people_clip

    window = make_window(str(two_people_clip(tmp_path / "two.mp4", 60)), loop=True)
    qtbot.waitUntil(lambda: window.last_frame is not None and len(window.last_frame.result.faces) == 2,
                    timeout=3 * WAIT_MS)
    left, right = sorted(window.last_frame.result.faces, key=lambda f: f.box[0])
    for expected in (left.track_id, right.track_id, None):
        qtbot.keyClick(window, Qt.Key.Key_F)
        assert window.selected_track == expected
        qtbot.waitUntil(lambda e=expected: window.last_frame.result.subject == e, timeout=WAIT_MS)
    assert window.panel._title.text().startswith(f"Face #{left.track_id} (largest)")


def test_a_clicked_person_who_steps_out_is_awaited_and_followed_again_when_back(qtbot, make_window, tmp_path):
    """The athlete clicked, then out of the picture for two seconds (their track ends): the panel and the
    single-subject outputs wait for them (no face; the woman is not taken for them), and the panel says so; back in
    view (a new track), they are followed again, with no click."""
    from app.publish.messages import primary_face
    from app.ui.probability_panel import AWAITED
    from tests.datapaths import leaving_clip

    window = make_window(str(leaving_clip(tmp_path / "leave.mp4", 150, away=(30, 90))), loop=False)
    qtbot.waitUntil(lambda: window.last_frame is not None and len(window.last_frame.result.faces) == 2,
                    timeout=3 * WAIT_MS)
    small = min(window.last_frame.result.faces, key=lambda f: f.area)
    assert window.last_frame.result.frame.index < 25
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=face_on_screen(window, small))
    qtbot.waitUntil(lambda: window.last_frame.result.subject == small.track_id, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.last_frame.result.frame.index >= 60, timeout=3 * WAIT_MS)  # track ended at ~46
    away = window.last_frame.result
    assert away.subject is None and away.subject_away and window.selected_track is None
    assert len(away.faces) == 1 and primary_face(away) is None  # LSL and VRChat: no face, not hers
    assert window.panel._title.text() == AWAITED and "followed again when back" in window.panel._notes.text()
    assert all(bar.value() == 0 and bar.format() == "–" for bar in window.panel._bars)  # no stale reading
    qtbot.waitUntil(lambda: window.last_frame.result.frame.index >= 100, timeout=3 * WAIT_MS)
    back = min(window.last_frame.result.faces, key=lambda f: f.area)
    assert len(window.last_frame.result.faces) == 2 and back.track_id != small.track_id  # a new track
    assert window.last_frame.result.subject == back.track_id == window.selected_track
    assert window.panel._title.text().startswith(f"Face #{back.track_id} (selected)")
    assert primary_face(window.last_frame.result).track_id == back.track_id


def test_a_clicked_face_is_followed_by_the_panel_and_the_single_subject_outputs(qtbot, make_window, tmp_path):
    """Two real people: the panel, LSL and VRChat follow the larger face until the smaller one is clicked; then
    that face (each frame's result names it), also after a seek; a click beside both faces goes back to the larger
    one."""
    from app.publish.messages import primary_face
    from tests.datapaths import two_people_clip

    window = make_window(str(two_people_clip(tmp_path / "two.mp4", 90)), loop=True)
    qtbot.waitUntil(lambda: window.last_frame is not None and len(window.last_frame.result.faces) == 2,
                    timeout=3 * WAIT_MS)
    large, small = sorted(window.last_frame.result.faces, key=lambda f: -f.area)
    assert primary_face(window.last_frame.result).track_id == large.track_id
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=face_on_screen(window, small))
    assert window.selected_track == small.track_id
    qtbot.waitUntil(lambda: window.last_frame.result.subject == small.track_id, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: primary_face(window.last_frame.result).track_id == small.track_id, timeout=WAIT_MS)
    assert window.panel._title.text().startswith(f"Face #{small.track_id} (selected)")
    window.toggle_pause()
    window.seek(0.3)  # faces are numbered afresh there: the person clicked is found again by their look
    qtbot.waitUntil(lambda: abs(window.last_frame.position - 0.3) < 0.05, timeout=WAIT_MS)
    for _ in range(10):  # the mesh may need a frame or two to find the small face from scratch
        if len(window.last_frame.result.faces) == 2:
            break
        index = window.last_frame.result.frame.index
        qtbot.keyClick(window, Qt.Key.Key_Period)
        qtbot.waitUntil(lambda index=index: window.last_frame.result.frame.index > index, timeout=WAIT_MS)
    sought = window.last_frame.result
    assert len(sought.faces) == 2 and sought.subject == min(sought.faces, key=lambda f: f.area).track_id
    assert window.selected_track == sought.subject
    assert window.panel._title.text().startswith(f"Face #{sought.subject} (selected)")
    window.toggle_pause()
    height, width = window.last_frame.annotated.shape[:2]
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=on_screen(window, width - 5, height - 5))  # black
    assert window.selected_track is None
    qtbot.waitUntil(lambda: window.last_frame.result.subject is None, timeout=WAIT_MS)
    assert primary_face(window.last_frame.result).track_id == large.track_id
