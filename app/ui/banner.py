"""A non-modal, dismissable message strip at the top of the window.

Errors must never block the video with a modal dialog: the banner shows one sentence, stays until the person
closes it (or a newer message replaces it), and the app keeps running underneath.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background:#5c1f1f; color:#ffe9e9; border:1px solid #a33;",
    "warning": "background:#5a4a12; color:#fff6d5; border:1px solid #a80;",
    "info": "background:#1f3b5c; color:#e6f0ff; border:1px solid #37a;",
}


class Banner(QFrame):
    """One message at a time; ``kind`` is "error", "warning" or "info". Info lines fade after a while on their
    own; errors and warnings stay until dismissed or replaced."""

    dismissed = Signal()
    INFO_MS = 8000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self._label = QLabel(self)
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._close = QToolButton(self)
        self._close.setText("✕")
        self._close.setToolTip("Dismiss")
        self._close.setAutoRaise(True)
        self._close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(self._close, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self._expire = QTimer(self, singleShot=True, timeout=lambda: self.clear_if("info"))
        self.hide()

    @property
    def text(self) -> str:
        return self._label.text()

    def show_message(self, text: str, kind: str = "error") -> None:
        self.kind = kind
        self._label.setText(text)
        self.setStyleSheet(f"QFrame#banner {{{_STYLES.get(kind, _STYLES['info'])}}} QLabel {{border:none;}}")
        self.show()
        if kind == "info":
            self._expire.start(self.INFO_MS)
        else:
            self._expire.stop()

    def show_error(self, text: str) -> None:
        self.show_message(text, "error")

    def show_info(self, text: str) -> None:
        self.show_message(text, "info")

    def dismiss(self) -> None:
        self.hide()
        self.kind = ""
        self.dismissed.emit()

    def clear_if(self, kind: str) -> None:
        """Hide a message of ``kind`` only (e.g. drop an info line once video arrives, keep errors)."""
        if self.isVisible() and self.kind == kind:
            self.dismiss()
