"""Work-around for PySide6 6.12.0 reference-count bugs that abort the app within a minute on CPython < 3.12.

Measured with PySide6-Essentials 6.12.0 on CPython 3.11 (6.11.3 has neither bug):

* every Python-side ``SignalInstance.emit()`` drops one reference to ``True`` that it never took;
* every call of a C++ method returning ``void`` (``QLabel.setText``, ``QProgressBar.setValue``...) drops one
  reference to ``None``.

``True`` starts with about 9,000 references and ``None`` with about 40,000; the live view makes thousands of such
calls a second (pyqtgraph alone emits ``sigPlotChanged`` per curve update), so the process dies with "Fatal
Python error: bool_dealloc" or "none_dealloc". From CPython 3.12 on both objects are immortal and the bugs are
harmless.

``guard_signal_refcount()`` measures each leak with a few probe calls and, only where one is present, gives the
object a large reserve of references so it can never reach zero. Installing a PySide6 release without the bug is
the real fix; this keeps an installation that picked up 6.12.0 alive.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

_RESERVE = 1 << 40  # a trillion emits: years of running at any realistic signal rate
_PROBES = 16
_applied: list[str] | None = None


class _Probe(QObject):
    ping = Signal()


def _leaks(singleton: object, action) -> bool:
    """Whether ``action()`` drops references to ``singleton`` (measured, not guessed from the version)."""
    before = sys.getrefcount(singleton)
    for _ in range(_PROBES):
        action()
    return before - sys.getrefcount(singleton) >= _PROBES // 2


def leaking_singletons() -> list[str]:
    """Names of the singletons this PySide6 build loses references to: "True" (signal emit), "None" (void calls)."""
    probe = _Probe()
    found = []
    if _leaks(True, probe.ping.emit):
        found.append("True")
    if _leaks(None, lambda: probe.setObjectName("probe")):
        found.append("None")
    return found


def guard_signal_refcount() -> list[str]:
    """Give each leaking singleton a reserve of references, once; returns the names compensated. Idempotent."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = []
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    for name in leaking_singletons():
        # ob_refcnt is the first field of every CPython object (a Py_ssize_t) in non-debug builds up to 3.11.
        ctypes.c_ssize_t.from_address(id({"True": True, "None": None}[name])).value += _RESERVE
        _applied.append(name)
    if _applied:
        import PySide6

        log.warning(
            "PySide6 %s loses references to %s on every signal emit / void call; compensated. Install a PySide6 "
            "release without this bug (6.11.3 is known good).",
            PySide6.__version__,
            " and ".join(_applied),
        )
    return _applied


def drop_opencv_qt_paths() -> list[str]:
    """Undo ``import cv2`` pointing Qt at OpenCV's own bundled Qt plugins and fonts; returns the variables removed.

    The opencv(-contrib)-python wheels (not the headless ones) set ``QT_QPA_PLATFORM_PLUGIN_PATH`` and
    ``QT_QPA_FONTDIR`` on import. PySide6 then tries to load OpenCV's Qt 5 xcb plugin and aborts with "no Qt
    platform plugin could be initialized". Must run before the QApplication exists; values not inside the cv2
    package (a person's own settings) are left alone.
    """
    removed = []
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        value = os.environ.get(name, "")
        parts = value.replace("\\", "/").split("/")
        if "cv2" in parts and "qt" in parts:
            del os.environ[name]
            removed.append(name)
    return removed
