"""Fixtures and helpers shared by the desktop-app tests: real tiny ONNX models, started windows that clean up."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.inference.registry import ModelRegistry
from app.ui.main_window import MainWindow
from app.ui.settings import AppSettings
from tests.onnx_factory import make_model

WAIT_MS = 20_000  # generous: training processes share this machine's two cores


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Two valid models of different shapes, and a corrupt .onnx whose card is fine (so it is listed)."""
    folder = tmp_path_factory.mktemp("models")
    make_model(folder / "alpha.onnx", card_overrides={"metrics": {"publictest_acc": 0.61}})
    make_model(folder / "beta.onnx", size=64, channels=3, landmarks=True, seed=1)
    make_model(folder / "broken.onnx")
    (folder / "broken.onnx").write_bytes(b"this is not an ONNX protobuf")
    make_model(folder / "nocard.onnx", write_card=False)  # listed by the registry as unusable
    return folder


@pytest.fixture
def make_window(qtbot, models_dir, tmp_path):
    """Factory for windows (started unless ``start=False``); each is closed (threads stopped, files finalised)."""
    windows: list[MainWindow] = []

    def factory(
        source: str | None = None,
        model: str | None = "alpha",
        start: bool = True,
        loop: bool | None = None,
        folder: Path | None = None,
        find_cameras=list,  # the cameras the window finds when it looks again: none, unless a test plugs one in
    ) -> MainWindow:
        settings = AppSettings()
        settings.set_output_dir("video", tmp_path / "out")
        settings.set_output_dir("image", tmp_path / "out")
        if loop is not None:
            settings.loop_files = loop
        window = MainWindow(registry=ModelRegistry(folder or models_dir), settings=settings, cameras=[],
                            find_cameras=find_cameras)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        if start:
            window.start(source=source, model=model)
        return window

    yield factory
    for window in windows:
        window.close()


def wait_for_faces(qtbot, window: MainWindow, frames: int = 5) -> None:
    """Until ``frames`` analysed frames with a face have been painted."""
    start = window.view.frames_shown

    def ready() -> bool:
        f = window.last_frame
        return window.view.frames_shown >= start + frames and f is not None and bool(f.result.faces)

    qtbot.waitUntil(ready, timeout=WAIT_MS)


def on_screen(window: MainWindow, x: float, y: float, annotated=None):
    """The widget point of the video view that shows pixel (``x``, ``y``) of the frame shown (or ``annotated``)."""
    from PySide6.QtCore import QPointF

    rect = window.view.target_rect()
    width = (window.last_frame.annotated if annotated is None else annotated).shape[1]
    return QPointF(rect.x() + x * rect.width() / width, rect.y() + y * rect.width() / width).toPoint()


def face_on_screen(window: MainWindow, face, annotated=None):
    """The widget point at the centre of ``face``'s box, to click it."""
    return on_screen(window, (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2, annotated)
