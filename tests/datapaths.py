"""Where the real test data lives (``../shared/data`` beside the repo, or ``$FERLIVE_DATA``); skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def data_dir() -> Path:
    """The shared data folder: ``$FERLIVE_DATA`` when set, else ``shared/data`` next to the repository."""
    env = os.environ.get("FERLIVE_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def video(name: str) -> Path:
    """Path of a real test video, e.g. ``video("woman_smile_neutral.mp4")`` (may not exist; see ``require_data``)."""
    return data_dir() / "videos" / name


def require_data(path: Path) -> Path:
    """Skip the calling test with a clear reason when ``path`` is missing; returns ``path`` for chaining."""
    if not path.exists():
        pytest.skip(f"test data not found: {path} (set FERLIVE_DATA to the folder holding videos/)")
    return path
