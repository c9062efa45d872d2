"""Third-party log noise off unless asked for, so ferlive's own message and progress bar are what a person reads.

FFmpeg (inside OpenCV), OpenCV and MediaPipe (glog/absl, TFLite) print C++ lines nobody can act on ("partial
file", "can't open camera by index", "Feedback manager requires a model with a single signature"). OpenCV and
TensorFlow read their levels from the environment when they load, so ``apply()`` runs when ``app`` is imported,
before any of them, and ``set_verbose()`` (the ``--verbose`` flag) must also run before they are imported.
MediaPipe's absl and TFLite lines ignore every variable and are written straight to fd 2 while a graph is built
and first run: ``filtered_native_stderr()`` catches fd 2 around those calls and passes on everything else.
A value a person set in the environment always wins.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_VARIABLE = "FERLIVE_VERBOSE"
QUIET_ENV = {
    "OPENCV_LOG_LEVEL": "SILENT",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET for the FFmpeg inside OpenCV (PyAV's own logging is off already)
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
# glog/absl lines ("W0000 00:00:17.61 1234 file.cc:114] ...") below ERROR, and TFLite's start-up lines; found
# anywhere in a line, because a progress bar without a newline may precede them
_NOISE = re.compile(
    rb"[IW]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] "
    rb"|INFO: (?:Created|Initialized) TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
)

_ours: set[str] = set()  # variables apply() set, which --verbose may take back
_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture = None


def verbose() -> bool:
    """True when third-party logging was asked for (``--verbose``, or ``FERLIVE_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_VARIABLE) == "1"


def apply() -> None:
    """Quiet defaults for the libraries' log levels, unless verbose; variables already set are left alone."""
    if verbose():
        return
    for key, value in QUIET_ENV.items():
        if key not in os.environ:
            os.environ[key] = value
            _ours.add(key)


def set_verbose(on: bool) -> None:
    """Restore (``on``) or silence third-party logging; call before OpenCV/MediaPipe are imported."""
    os.environ[VERBOSE_VARIABLE] = "1" if on else "0"
    if not on:
        apply()
        return
    for key in _ours:
        os.environ.pop(key, None)
    _ours.clear()
    import av.logging

    av.logging.set_level(av.logging.WARNING)
    if "cv2" in sys.modules:  # already loaded: its level is no longer read from the environment
        sys.modules["cv2"].setLogLevel(3)  # cv2.utils.logging.LOG_LEVEL_WARNING


def drop_noise(text: bytes) -> bytes:
    """``text`` without the known third-party noise lines (kept: errors, and anything else)."""
    kept = []
    for line in text.splitlines(keepends=True):
        noise = _NOISE.search(line)
        if noise is None:
            kept.append(line)
        elif noise.start() > 0:  # e.g. a progress bar, then a C++ line: keep the bar, drop the rest
            kept.append(line[: noise.start()])
    return b"".join(kept)


@contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Catch what C++ writes to fd 2 inside the block; afterwards pass it on without the noise lines.

    Process-wide (fd 2 is shared): Python's own stderr output from other threads during the block is delayed, not
    lost. Nested and concurrent blocks share one capture. A no-op when verbose.
    """
    global _depth, _saved_fd, _capture
    if verbose():
        yield
        return
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _capture = tempfile.TemporaryFile()
            _saved_fd = os.dup(2)
            os.dup2(_capture.fileno(), 2)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _restore()


def _flush_c_streams() -> None:
    """C code may hold its stderr lines in a stdio buffer; flushed now, they land in the capture, not later."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to ask (Windows has no CDLL(None))
        pass


def _restore() -> None:
    global _saved_fd, _capture
    assert _saved_fd is not None and _capture is not None
    sys.stderr.flush()
    _flush_c_streams()
    os.dup2(_saved_fd, 2)
    os.close(_saved_fd)
    _capture.seek(0)
    kept = drop_noise(_capture.read())
    _capture.close()
    _saved_fd = _capture = None
    if kept:
        os.write(2, kept)
