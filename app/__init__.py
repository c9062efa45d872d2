"""ferlive runtime: camera/video -> MediaPipe face mesh -> shared alignment -> ONNX Runtime -> annotated output.

This package never imports torch or training; only ``app.ui`` imports Qt.
"""

__version__ = "0.1.0"
