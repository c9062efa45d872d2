"""Issue 18, "demo-ready": what a new user met in the first minutes with video files standing in for a camera.

Real windows, real MediaPipe, real ONNX models (tiny ones from tests/onnx_factory.py, and the shipped ensemble where
a slow model is the point); every wait is on something the user would see.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QApplication, QComboBox, QLabel  # noqa: E402

from app.cli import build_parser  # noqa: E402
from app.inference.registry import default_models_dir  # noqa: E402
from tests.datapaths import require_data, video  # noqa: E402
from tests.onnx_factory import make_model  # noqa: E402
from tests.ui_helpers import WAIT_MS, wait_for_faces  # noqa: E402

pytest_plugins = ["tests.ui_helpers"]  # the models_dir and make_window fixtures

SMILE = "woman_smile_neutral.mp4"  # 596x336, 29.97 fps, 15.5 s, one frontal face
SHORT = "woman_phone_night.mp4"  # 596x336, 25 fps, 4.6 s (about 115 frames)
ENSEMBLE = default_models_dir() / "ensemble-large.onnx"


def record_shown(window) -> list:
    """The frames painted from now on (appended by a slot that runs after the window's own). A ``frameReady`` whose
    frame the worker dropped (stale after a model switch) paints nothing, so it adds nothing here either."""
    shown: list = []
    last = [window.last_frame]

    def on_frame_ready() -> None:
        if window.last_frame is not last[0]:
            last[0] = window.last_frame
            shown.append(window.last_frame)

    window.worker.frameReady.connect(on_frame_ready)
    return shown


# ---- 1. looping files ---------------------------------------------------------------------------------------
def test_a_video_file_loops_by_default_and_the_choice_is_remembered(qtbot, make_window):
    window = make_window(str(require_data(video(SHORT))))
    assert window.source_controls.loop.isChecked()
    played_past_the_end = lambda: window.last_frame is not None and window.last_frame.result.frame.index > 130  # noqa: E731
    qtbot.waitUntil(played_past_the_end, timeout=30_000)
    assert "has ended" not in " ".join(window.banner.texts())
    assert window.record_controls.record_button.isEnabled()
    window.source_controls.loop.setChecked(False)
    window.close()
    again = make_window(source=None)
    assert not again.source_controls.loop.isChecked()


def test_the_command_line_has_loop_and_no_loop():
    parser = build_parser()
    assert parser.parse_args(["--source", "clip.mp4", "--loop"]).loop is True
    assert parser.parse_args(["--no-loop"]).loop is False
    assert parser.parse_args([]).loop is None  # the remembered choice (on by default)


# ---- 2. switching away from a slow model --------------------------------------------------------------------
@pytest.fixture
def slow_models_dir(tmp_path, models_dir) -> Path:
    """The shipped ensemble (its member models absent: it carries them inside its graph) beside a tiny model."""
    if not ENSEMBLE.is_file():
        pytest.skip("ensemble-large is not shipped in models/")
    folder = tmp_path / "slow-models"
    folder.mkdir()
    for suffix in (".onnx", ".json"):
        os.symlink(ENSEMBLE.with_suffix(suffix), folder / f"ensemble-large{suffix}")
        os.symlink(models_dir / f"alpha{suffix}", folder / f"alpha{suffix}")
    return folder


def test_switching_away_from_a_slow_model_drops_its_frame_in_flight(qtbot, make_window, slow_models_dir):
    window = make_window(str(require_data(video(SMILE))), model="ensemble-large", folder=slow_models_dir)
    qtbot.waitUntil(lambda: window.models.active_model == "ensemble-large", timeout=60_000)
    wait_for_faces(qtbot, window, frames=2)
    combo = window.model_controls.model_combo
    with qtbot.waitSignal(window.models.activated, timeout=WAIT_MS) as blocker:
        combo.setCurrentIndex(combo.findData("alpha"))
        combo.activated.emit(combo.currentIndex())
        assert window.model_controls.loading  # a busy bar while it loads; the ensemble keeps running meanwhile
        assert "alpha" in window.model_controls.provider_label.text()
        shown = record_shown(window)
    assert blocker.args == ["alpha"]
    assert not window.model_controls.loading
    after = len(shown)
    qtbot.waitUntil(lambda: sum(f.result.faces != [] for f in shown[after:]) >= 5, timeout=WAIT_MS)
    names = [f.result.model_name for f in shown[after:]]
    assert names and set(names) == {"alpha"}, names  # the ensemble's frame in flight was never shown


# ---- 3. the dropdown at start-up ----------------------------------------------------------------------------
def test_at_start_up_the_dropdown_shows_the_loading_model_and_every_frame_is_analysed(qtbot, make_window):
    window = make_window(start=False)
    shown = record_shown(window)
    window.start(source=str(require_data(video(SMILE))), model="beta")
    assert window.model_controls.model_combo.currentData() == "beta"  # not the first entry
    assert window.model_controls.loading
    wait_for_faces(qtbot, window, frames=5)
    # the recording slot runs after the window's own: wait for it to have seen five frames as well
    qtbot.waitUntil(lambda: sum(f is not None for f in shown) >= 5, timeout=WAIT_MS)
    assert [f.result.model_name for f in shown if f is not None][:5] == ["beta"] * 5
    # the video opened once the model was ready (only frames dropped while MediaPipe starts are skipped)
    assert shown[0].result.frame.timestamp < 1.0


# ---- 4. a start-up model that cannot load -------------------------------------------------------------------
@pytest.fixture(scope="module")
def corrupt_default_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corrupt-default")
    make_model(folder / "alpha.onnx", card_overrides={"metrics": {"publictest_acc": 0.61}})
    make_model(folder / "zeta.onnx", card_overrides={"metrics": {"publictest_acc": 0.64}})
    make_model(folder / "bad.onnx", card_overrides={"default": True, "metrics": {"publictest_acc": 0.7}})
    (folder / "bad.onnx").write_bytes(b"damaged in transit")
    return folder


@pytest.mark.parametrize("model, folder, failed, fallback", [
    ("nosuchmodel", None, "nosuchmodel", "alpha"),  # --model with a typo: the default takes over
    ("broken", None, "broken", "alpha"),
    (None, "corrupt_default_dir", "bad", "zeta"),  # a corrupt default: the most accurate live model takes over
])
def test_a_start_up_model_that_cannot_load_falls_back_and_says_so(
    qtbot, make_window, request, model, folder, failed, fallback
):
    folder = request.getfixturevalue(folder) if folder else None
    window = make_window(str(require_data(video(SMILE))), model=model, folder=folder)
    qtbot.waitUntil(lambda: window.models.active_model is not None, timeout=WAIT_MS)
    assert window.models.active_model == fallback
    assert window.model_controls.model_combo.currentData() == fallback
    text = " ".join(window.banner.texts())
    assert f"Could not load model {failed}" in text and f"Using {fallback} instead" in text
    wait_for_faces(qtbot, window, frames=3)
    assert window.last_frame.result.model_name == fallback


# ---- 6. recording with no frames to record ------------------------------------------------------------------
def test_record_is_disabled_once_a_file_has_ended(qtbot, make_window):
    window = make_window(str(require_data(video(SHORT))), loop=False)
    qtbot.waitUntil(lambda: "has ended" in " ".join(window.banner.texts()), timeout=30_000)
    assert not window.record_controls.record_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.recorder.active is None
    assert "ended" in window.banner.text and window.banner.kind == "error"


def test_a_recording_that_got_no_frame_leaves_nothing_and_says_so(qtbot, make_window, tmp_path):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=2)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.wait(300)  # let a frame already in the pipeline finish before recording starts
    qtbot.keyClick(window, Qt.Key.Key_R)
    recording = window.recorder.active
    assert recording is not None
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_R)
    summary = blocker.args[0]
    assert summary.empty and summary.frames == 0
    assert not summary.video.exists() and not summary.results.exists()
    assert "no frames" in window.banner.text and "nothing was saved" in window.banner.text


# ---- 7. banners ---------------------------------------------------------------------------------------------
def test_messages_float_over_the_video_and_never_move_the_controls(qtbot, make_window):
    window = make_window(source=None)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.models.active_model == "alpha", timeout=WAIT_MS)

    def positions() -> list[QPoint]:
        QApplication.processEvents()
        widgets = (window.view, window.record_controls.record_button, window.model_controls.model_combo)
        return [w.mapTo(window, QPoint(0, 0)) for w in widgets]

    assert window.banner.isVisible()  # "no camera"
    with_banner = positions()
    window.banner.dismiss()
    assert positions() == with_banner
    window.banner.show_error("A long message. " * 30)
    assert positions() == with_banner
    assert window.banner.isVisible() and window.banner.geometry().top() < window.view.height() // 2


def test_stacked_messages_each_get_the_height_their_text_needs(qtbot, make_window):
    """"No camera found" with the key help (F1) under it: each message gets room for its wrapped text, at once (a
    message was squashed to a sliver, its text unreadable, when the stack was sized before the new row counted)."""
    from app.ui.main_window import KEYS_HELP

    window = make_window(source=None)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.models.active_model == "alpha", timeout=WAIT_MS)
    assert len(window.banner.texts()) == 1  # "no camera"
    qtbot.keyClick(window, Qt.Key.Key_F1)
    window.banner.show_error("A long message. " * 30)
    rows = [m.row for m in window.banner._messages]
    assert [m.text for m in window.banner._messages][1] == KEYS_HELP and len(rows) == 3
    for row in rows:  # no event loop turn in between: the stack is sized when a message arrives
        assert row.height() >= row.heightForWidth(row.width()) - 1
    assert window.banner.height() >= sum(row.heightForWidth(row.width()) for row in rows)


def test_source_messages_clear_when_another_source_opens_and_saved_lines_stay(qtbot, make_window):
    window = make_window(str(require_data(video(SHORT))), loop=False)
    qtbot.waitUntil(lambda: "has ended" in " ".join(window.banner.texts()), timeout=30_000)
    window.open_source(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=2)
    assert "has ended" not in " ".join(window.banner.texts())
    window.banner.show_info("Saved 60 frames to /tmp/x.mp4 (+ x.csv).")
    window.banner.show_info("Snapshot saved: /tmp/y.png")
    assert any(t.startswith("Saved 60 frames") for t in window.banner.texts())  # not replaced by the newer line


# ---- 8. rates -----------------------------------------------------------------------------------------------
def test_the_display_rate_restarts_with_a_new_file(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=5)
    assert window.display_rate.value > 0
    seen: list[float] = []
    window.worker.sourceOpened.connect(lambda _: seen.append(window.display_rate.value))  # after the window's slot
    window.open_source(str(require_data(video(SHORT))))
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert seen == [0.0]


# ---- 12. small screens and missing glyphs -------------------------------------------------------------------
def test_at_1024x700_all_seven_bars_are_visible_without_scrolling(qtbot, make_window):
    window = make_window(source=None)
    qtbot.waitUntil(lambda: len(window.panel.bar_values()) == 7, timeout=WAIT_MS)
    window.resize(1024, 700)
    QApplication.processEvents()
    assert (window.width(), window.height()) == (1024, 700)
    bars = window.panel.findChildren(type(window.panel._bars[0]))
    assert len(bars) == 7
    for bar in bars:
        assert bar.visibleRegion().boundingRect().height() == bar.height(), "a bar is cut off or scrolled away"


def test_no_symbol_glyphs_that_a_font_may_lack(qtbot, make_window):
    window = make_window(str(require_data(video(SMILE))))
    wait_for_faces(qtbot, window, frames=2)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.status.state.text() == "recording" and not window.status.state_icon.pixmap().isNull()
    texts = [w.text() for w in window.findChildren(QLabel) + window.findChildren(QAbstractButton)]
    texts += [c.itemText(i) for c in window.findChildren(QComboBox) for i in range(c.count())]
    odd = {ch for text in texts for ch in text if ord(ch) >= 0x2100}  # arrows, shapes, dingbats, media signs
    assert not odd, odd
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.status.state.text() == "paused" and not window.status.state_icon.pixmap().isNull()
