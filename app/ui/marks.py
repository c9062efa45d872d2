"""Event marks (M, or the Mark button): the operator notes a moment (a stimulus shown, a trial starting) and the mark
goes with the next frame to the recording (``<stem>-marks.csv``, a line on its timeline picture) and to the live
outputs (OSC ``/ferlive/mark``, WebSocket ``ferlive.mark/1``, the LSL marker stream), so the expressions can be
lined up with the events later. A mark is called what the operator typed under the button ("stimulus A"), else it
is numbered from 1 for as long as the app runs, so "mark 3" means the same moment in every file and stream. The
program the demo runs in can set its own marks by sending ``{"mark": "stimulus 3"}`` to the WebSocket output: they
take the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLineEdit, QStatusBar, QWidget

from app.publish.base import mark_text
from app.ui.banner import Banner
from app.ui.playback_bar import clock
from app.ui.probability_panel import ProbabilityPanel
from app.ui.workers import StreamWorker

NOTHING_TO_MARK = "Nothing to mark: no video is playing. Open a camera or a video first."
MESSAGE_MS = 5000


def clock_tenths(seconds: float) -> str:
    """The seek bar's ``m:ss`` with tenths (``1:02.5``): where a mark landed, closer than a second."""
    return f"{clock(seconds)}.{int(max(0.0, seconds) * 10) % 10}"


class MarkFlow(QObject):
    """Numbers the marks and hands them to the worker; the status bar says where each one landed, and the live
    chart draws it.

    ``available``: whether frames flow (the Record button's rule). Paused, a mark goes on the frame on screen.
    """

    def __init__(self, worker: StreamWorker, status: QStatusBar, banner: Banner, panel: ProbabilityPanel,
                 name: QLineEdit, available: Callable[[], bool], parent: QWidget) -> None:
        super().__init__(parent)
        self.worker, self.status, self.banner, self.panel, self.name = worker, status, banner, panel, name
        self._available = available
        self.count = 0
        worker.marked.connect(self._on_marked)
        worker.publishers.set_mark_handler(worker.mark)  # a WebSocket client's {"mark": ...}, kept as sent

    def mark(self) -> str | None:
        """Set the next mark: the name typed for it, else "mark 1", "mark 2"...; its text, or None when no frame
        would take it."""
        if not self._available():
            self.banner.show_error(NOTHING_TO_MARK)
            return None
        text = mark_text(self.name.text())
        if not text:
            self.count += 1
            text = f"mark {self.count}"
        self.worker.mark(text)
        return text

    def _on_marked(self, text: str, seconds: float, frame_index: int, timestamp: float) -> None:
        self.status.showMessage(f"{text} at {clock_tenths(seconds)} (frame {frame_index})", MESSAGE_MS)
        self.panel.add_mark(timestamp, text)
