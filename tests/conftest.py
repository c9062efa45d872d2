"""Shared test setup: offscreen Qt, quiet MediaPipe, a few real-data fixtures."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")
