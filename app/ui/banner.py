"""Non-modal, dismissable messages floating over the top of the video.

Errors must never block the video with a modal dialog, and a message coming or going must never move the controls
(a banner in the layout shifted everything by ~40 px, so clicks landed on the wrong control). So the banner is an
overlay on its host widget: messages stack there, each with its own close button. Info lines stay long enough to
read (longer for longer text) and a newer message does not replace an older one; errors and warnings stay until
dismissed. Messages about a source carry ``scope="source"`` and are cleared when another source opens.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QVBoxLayout, QWidget

_STYLES = {
    "error": "background:#5c1f1f; color:#ffe9e9; border:1px solid #a33;",
    "warning": "background:#5a4a12; color:#fff6d5; border:1px solid #a80;",
    "info": "background:#1f3b5c; color:#e6f0ff; border:1px solid #37a;",
}
MARGIN = 8


@dataclass
class _Message:
    text: str
    kind: str
    scope: str
    row: QFrame
    timer: QTimer | None


class Banner(QFrame):
    """A stack of at most ``MAX_MESSAGES`` messages; ``kind`` is "error", "warning" or "info"."""

    dismissed = Signal()
    INFO_MS = 8000  # the shortest time an info line stays
    MS_PER_CHAR = 70  # reading time for longer lines
    MAX_MESSAGES = 3

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet("QFrame#banner {background: transparent;}")
        self._rows = QVBoxLayout(self)
        self._rows.setContentsMargins(0, 0, 0, 0)
        self._rows.setSpacing(4)
        self._messages: list[_Message] = []
        self._host: QWidget | None = None
        self.hide()

    # ---- placement ------------------------------------------------------------------------------------------
    def attach(self, host: QWidget) -> None:
        """Float over the top of ``host`` (not in any layout), following its size."""
        self.setParent(host)
        self._host = host
        host.installEventFilter(self)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if watched is self._host and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        if self._host is None:
            return
        width = max(100, self._host.width() - 2 * MARGIN)
        height = self._rows.heightForWidth(width)
        self.setGeometry(MARGIN, MARGIN, width, height if height > 0 else self.sizeHint().height())
        self.raise_()

    # ---- messages -------------------------------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The newest message ("" when none)."""
        return self._messages[-1].text if self._messages else ""

    @property
    def kind(self) -> str:
        return self._messages[-1].kind if self._messages else ""

    def texts(self) -> list[str]:
        """Every message shown, oldest first."""
        return [m.text for m in self._messages]

    def show_message(self, text: str, kind: str = "error", scope: str = "") -> None:
        """Add ``text`` on top of the stack (the same text again only moves it up and restarts its time)."""
        for message in [m for m in self._messages if m.text == text]:
            self._remove(message)
        while len(self._messages) >= self.MAX_MESSAGES:
            infos = [m for m in self._messages if m.kind == "info"]
            self._remove(infos[0] if infos else self._messages[0])
        row = self._make_row(text, kind)
        message = _Message(text, kind, scope, row, None)
        if kind == "info":
            message.timer = QTimer(row, singleShot=True, timeout=lambda: self._remove(message))
            message.timer.start(max(self.INFO_MS, self.MS_PER_CHAR * len(text)))
        self._messages.append(message)
        self._rows.addWidget(row)
        row.show()  # now, not when the layout gets round to it: a hidden row counts for no height in _place
        self.show()
        self._place()

    def show_error(self, text: str, scope: str = "") -> None:
        self.show_message(text, "error", scope)

    def show_info(self, text: str, scope: str = "") -> None:
        self.show_message(text, "info", scope)

    def dismiss(self) -> None:
        """Close every message."""
        for message in list(self._messages):
            self._remove(message, notify=False)
        self.dismissed.emit()

    def clear_if(self, kind: str) -> None:
        """Close the messages of ``kind`` only (e.g. drop a warning once video arrives, keep errors)."""
        for message in [m for m in self._messages if m.kind == kind]:
            self._remove(message)

    def clear_scope(self, scope: str) -> None:
        """Close the messages about ``scope`` (e.g. "source" when another source opens)."""
        for message in [m for m in self._messages if m.scope == scope]:
            self._remove(message)

    def _make_row(self, text: str, kind: str) -> QFrame:
        row = QFrame(self)
        row.setObjectName("message")
        row.setStyleSheet(
            f"QFrame#message {{{_STYLES.get(kind, _STYLES['info'])} border-radius:4px;}} QLabel {{border:none;}}"
        )
        label = QLabel(text, row)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(row)
        close.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(lambda: self._remove(next(m for m in self._messages if m.row is row)))
        layout = QHBoxLayout(row)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        return row

    def _remove(self, message: _Message, notify: bool = True) -> None:
        if message not in self._messages:
            return
        self._messages.remove(message)
        if message.timer is not None:
            message.timer.stop()
        self._rows.removeWidget(message.row)
        message.row.hide()
        message.row.deleteLater()
        if not self._messages:
            self.hide()
            if notify:
                self.dismissed.emit()
        else:
            self._place()
