"""Offering to reconnect a camera that was unplugged or is busy, instead of leaving a dead view.

The stream worker reports a lost camera with ``sourceLost`` (it already released the device). Here the recording
is stopped and finalised, the banner says what happened, and a Reconnect button floats over the video until the
camera opens again; pressing it asks the worker to open the same camera with the same options.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QPushButton, QWidget

from app.ui.workers import StreamWorker

HINT = "Plug it back in or close the other application, then press Reconnect."


class ReconnectOffer(QObject):
    """Wires ``worker.sourceLost`` to the banner (``show_error``), ``stop_recording`` and a Reconnect button."""

    def __init__(
        self,
        worker: StreamWorker,
        show_error: Callable[[str], None],
        stop_recording: Callable[[], None],
        host: QWidget,
    ) -> None:
        super().__init__(host)
        self._worker, self._show_error, self._stop_recording = worker, show_error, stop_recording
        self.button = QPushButton("Reconnect", host)
        self.button.setToolTip("Open the same camera again")
        self.button.hide()
        self.button.clicked.connect(self.reconnect)
        self._host = host
        host.installEventFilter(self)
        worker.sourceLost.connect(self._on_lost)
        worker.sourceOpened.connect(lambda _info: self.button.hide())

    def reconnect(self) -> None:
        self.button.setEnabled(False)
        self.button.setText("Reconnecting…")
        self._worker.reconnect()

    def _on_lost(self, message: str) -> None:
        self._stop_recording()  # finalise what was recorded: the file stays playable up to the last frame
        self._show_error(f"{message} {HINT}")
        self.button.setText("Reconnect")
        self.button.setEnabled(True)
        self.button.adjustSize()
        self._place()
        self.button.show()
        self.button.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if watched is self._host and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        size = self.button.sizeHint()
        self.button.resize(size)
        self.button.move((self._host.width() - size.width()) // 2, (self._host.height() - size.height()) // 2)
