"""Offering to reconnect a camera that was unplugged or is busy, instead of leaving a dead view.

The stream worker reports a lost camera with ``sourceLost`` (it already released the device). Here the recording
is stopped and finalised, the banner says what happened, and a Reconnect button floats over the video until the
camera opens again; pressing it asks the worker to open the same camera with the same options. Meanwhile the same
is tried every ``RETRY_S`` seconds, so a camera plugged back in (or let go by another application) comes back by
itself, as a demo left running needs. A failed automatic attempt does not raise the message again (the button,
still there, says it is not back; its tooltip gives the latest reason).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QPushButton, QWidget

from app.ui.workers import StreamWorker

RETRY_S = 3.0
HINT = (f"Plug it back in or close the other application: ferlive tries again every {RETRY_S:.0f} s "
        f"(or press Reconnect).")


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
        self._retry = QTimer(self, singleShot=True, interval=int(RETRY_S * 1000), timeout=self._retry_now)
        self._retrying = False  # the attempt under way is an automatic one
        worker.sourceLost.connect(self._on_lost)
        worker.sourceOpened.connect(self._on_opened)

    @property
    def retrying(self) -> bool:
        """Whether an automatic attempt is scheduled."""
        return self._retry.isActive()

    def reconnect(self) -> None:
        self._retry.stop()
        self._retrying = False
        self.button.setEnabled(False)
        self.button.setText("Reconnecting…")
        self._worker.reconnect()

    def _retry_now(self) -> None:
        if self.button.isVisible():
            self._retrying = True
            self._worker.reconnect()

    def _on_opened(self, _info: object) -> None:
        self._retry.stop()
        self._retrying = False
        self.button.hide()

    def _on_lost(self, message: str) -> None:
        self._stop_recording()  # finalise what was recorded: the file stays playable up to the last frame
        if not self._retrying:  # a message the person closed is not raised again every few seconds
            self._show_error(f"{message} {HINT}")
        self.button.setToolTip(f"{message} Open the same camera again")
        self._retrying = False
        self._retry.start()
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
