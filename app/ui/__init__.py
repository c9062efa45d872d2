"""The desktop app (PySide6 + pyqtgraph). The only package under ``app`` that may import Qt.

Entry point: ``app.ui.main.run_app``. Module map: ``main_window`` lays out and wires; ``workers`` runs capture and
inference off the GUI thread; ``model_switcher`` loads and hot-swaps models; ``recording`` writes video + CSV;
``video_view``, ``probability_panel``, ``controls``, ``banner``, ``status`` are widgets; ``settings`` is QSettings;
``playback`` paces video files like a camera; ``qt_compat`` works around a PySide6 6.12.0 reference-count bug.
"""
