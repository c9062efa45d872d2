"""Waiting for a camera: the app started with none, so it looks again every few seconds and says when one appears.

A demo is often set up in the wrong order: the app first, the camera plugged in after. Rather than leave "No camera
found" until someone presses the refresh button, the window runs a ``CameraWatch`` while nothing is open. The
look runs on a short-lived thread (listing cameras goes through the operating system and can take a moment), and
``found`` brings the cameras back to the GUI thread. Opening anything stops the watch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from app.capture import CameraInfo

log = logging.getLogger(__name__)

WATCH_S = 3.0  # how often to look


class CameraWatch(QObject):
    """Looks with ``find_cameras`` every ``WATCH_S`` seconds while started; ``found`` carries the first non-empty
    list, after which the watch stops by itself."""

    found = Signal(object)  # list[CameraInfo]
    _listed = Signal(object)  # a look's result, from its thread

    def __init__(self, find_cameras: Callable[[], list[CameraInfo]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._find_cameras = find_cameras
        self._timer = QTimer(self, interval=int(WATCH_S * 1000), timeout=self._look)
        self._looking = False
        self._listed.connect(self._on_listed)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _look(self) -> None:
        if self._looking:  # the last look has not come back yet
            return
        self._looking = True
        threading.Thread(target=self._list, name="look-for-cameras", daemon=True).start()

    def _list(self) -> None:
        try:
            cameras = self._find_cameras()
        except Exception as exc:  # list_cameras never raises; another lister might
            log.warning("Looking for cameras failed: %s", exc)
            cameras = []
        try:
            self._listed.emit(cameras)
        except RuntimeError:  # the window closed while this look ran: nobody is waiting for it
            pass

    def _on_listed(self, cameras: list[CameraInfo]) -> None:
        self._looking = False
        if cameras and self._timer.isActive():  # stopped meanwhile: something else was opened
            self._timer.stop()
            self.found.emit(cameras)
