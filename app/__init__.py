"""ferlive runtime: camera/video -> MediaPipe face mesh -> shared alignment -> ONNX Runtime -> annotated output.

This package never imports torch or training; only ``app.ui`` imports Qt.
"""

__version__ = "0.1.0"

from app import quiet as _quiet  # noqa: E402

_quiet.apply()  # before any submodule loads OpenCV or MediaPipe: they read their log levels once, at import
