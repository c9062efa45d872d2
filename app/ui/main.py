"""Desktop entry point: ``run_app`` builds the QApplication and the window and starts on the asked-for source."""

from __future__ import annotations

import logging
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.inference.registry import ModelRegistry
from app.publish import OutputConfig
from app.ui.main_window import MainWindow
from app.ui.qt_compat import drop_opencv_qt_paths, guard_signal_refcount
from app.ui.settings import APPLICATION, ORGANISATION, AppSettings


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication with ferlive's names (QSettings and QStandardPaths use them); reused if one exists."""
    drop_opencv_qt_paths()
    guard_signal_refcount()
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("ferlive")
    return app


def run_app(
    source: str | int | None = None,
    model: str | None = None,
    provider: str | None = None,
    models_dir: str | None = None,
    stability: str | None = None,
    loop: bool | None = None,
    mirror: bool | None = None,
    rotate: int | None = None,
    outputs: OutputConfig | None = None,
) -> int:
    """Show the window and run until it is closed; returns the process exit code.

    ``source`` is a camera index or a path (None: the last source, else the first camera); ``model`` a name in
    the models folder (None: the last one, else the registry's default); ``provider`` auto/tensorrt/cuda/cpu;
    ``stability`` a preset name (None: the last one chosen, else the default), remembered like a choice in the panel;
    ``loop`` whether video files restart at their end (None: the last choice, else on), remembered the same way;
    ``mirror`` whether a camera is shown mirrored (None: the last choice, else on), remembered too;
    ``rotate`` degrees clockwise a camera's or video's picture is turned (None: the last choice, else 0), likewise;
    ``outputs`` the live outputs to switch on (``--osc``, ``--ws``, ``--lsl``), remembered too.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app()
    window = MainWindow(registry=ModelRegistry(models_dir), settings=AppSettings())
    if stability:
        window.display_controls.select_stability(stability)
    if loop is not None:
        window.source_controls.loop.setChecked(loop)
    if mirror is not None:
        window.source_controls.mirror.setChecked(mirror)
    if rotate is not None:
        window.source_controls.select_rotation(rotate)
    window.show()
    window.start(source=source, model=model, provider=provider)
    if outputs is not None:
        window.outputs.apply_config(outputs)  # a port in use shows in the banner; the app keeps running
    # Ctrl-C (or a polite kill) closes the window properly, finalising a recording, instead of killing it mid-file.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    heartbeat = QTimer(interval=200, timeout=lambda: None)  # lets Python run its signal handlers
    heartbeat.start()
    return app.exec()
