"""The mouse wheel scrolls the side panel, never a dropdown or number box the pointer happens to pass over.

Qt gives a combo box or spin box the wheel whenever the pointer is over it, so scrolling down the controls would
switch the model, the stability or the camera mode by accident, mid-demo. ``WheelGuard`` lets such a widget take
the wheel only once it has been clicked (it has the focus); otherwise the wheel goes to the panel's scroll bar.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QScrollArea, QWidget


class WheelGuard(QObject):
    """Installed on every combo box and spin box under ``root``; the wheel over an unfocused one scrolls
    ``scroll`` instead."""

    def __init__(self, scroll: QScrollArea, root: QWidget) -> None:
        super().__init__(scroll)
        self._scroll = scroll
        for widget in root.findChildren(QComboBox) + root.findChildren(QAbstractSpinBox):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel alone never gives it the focus
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            QCoreApplication.sendEvent(self._scroll.verticalScrollBar(), event)
            return True
        return False
