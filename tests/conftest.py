"""Shared test setup: offscreen Qt, quiet MediaPipe, a few real-data fixtures."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")


import pytest  # noqa: E402

pytest.register_assert_rewrite("tests.ui_helpers")  # UI fixtures, imported by the UI test modules as a plugin


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path_factory):
    """Every test reads and writes QSettings in its own folder, never the developer's real settings.

    Does nothing where PySide6 is not installed (the core tests run without Qt).
    """
    try:
        from PySide6.QtCore import QSettings
    except ImportError:
        yield None
        return
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    yield folder
