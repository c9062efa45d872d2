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


def cut_clip(name: str, out: Path, frames: int, turn: int | None = None, start: int = 0) -> Path:
    """``frames`` frames of the shared clip ``name`` from frame ``start`` as a short H.264 file at the clip's own
    rate, written by the app's recorder, each turned by the OpenCV rotation code ``turn`` if given (a camera mounted
    turned, with no rotation metadata); skips the calling test when the clip is missing."""
    import cv2

    from app.capture import open_source
    from app.record.recorder import VideoRecorder

    with open_source(require_data(video(name))) as src:
        fps = src.fps
        for _ in range(start):
            src.read()
        images = [src.read().image for _ in range(frames)]
    if turn is not None:
        images = [cv2.rotate(image, turn) for image in images]
    with VideoRecorder(out, fps=fps) as recorder:
        for image in images:
            recorder.write(image)
    return out


def side_by_side(left, right, show_left: bool = True):
    """Two real people in one frame: ``left`` at its size, ``right`` scaled to half its height beside it (top);
    ``show_left`` False leaves the left black, that person having stepped away."""
    import cv2
    import numpy as np

    height = left.shape[0] // 2
    small = cv2.resize(right, (right.shape[1] * height // right.shape[0], height))
    canvas = np.zeros((left.shape[0], left.shape[1] + small.shape[1], 3), np.uint8)
    if show_left:
        canvas[:, :left.shape[1]] = left
    canvas[:height, left.shape[1]:] = small
    return canvas


def _pair_clip(out: Path, frames: int, start: int, compose) -> Path:
    """The woman of woman_smile_neutral.mp4 (from frame ``start``) and the athlete of interview_50s.mp4 in one
    picture, ``compose(i, hers, theirs)`` for frame ``i``, written by the app's recorder; skips without the clips."""
    from app.capture import open_source
    from app.record.recorder import VideoRecorder

    with open_source(require_data(video("woman_smile_neutral.mp4"))) as her, \
            open_source(require_data(video("interview_50s.mp4"))) as athlete:
        fps = her.fps
        for _ in range(start):
            her.read()
        with VideoRecorder(out, fps=fps) as recorder:
            for i in range(frames):
                recorder.write(compose(i, her.read().image, athlete.read().image))
    return out


def two_people_clip(out: Path, frames: int, start: int = 196) -> Path:
    """The talking woman (from frame ``start``) beside the smaller athlete (``side_by_side``), ``frames`` long."""
    return _pair_clip(out, frames, start, lambda i, hers, theirs: side_by_side(hers, theirs))


def leaving_clip(out: Path, frames: int, away: tuple[int, int], start: int = 196) -> Path:
    """The woman beside the athlete at the same height, the athlete out of the picture (black) for frames
    ``away[0]`` to ``away[1]``."""
    import cv2
    import numpy as np

    def compose(i: int, hers, theirs):
        theirs = cv2.resize(theirs, (theirs.shape[1] * hers.shape[0] // theirs.shape[0], hers.shape[0]))
        if away[0] <= i < away[1]:
            theirs[:] = 0
        return np.hstack([hers, theirs])

    return _pair_clip(out, frames, start, compose)


def write_fer_slice(path: Path, counts: dict[str, int], seed: int, votes: bool = False) -> Path:
    """A small FER2013 archive at ``path``: ``counts`` faces per split drawn at random (with the FERPlus votes when
    ``votes``), marked as face crops; skips the calling test when the shared archive is missing."""
    import numpy as np

    src = np.load(require_data(data_dir() / "fer2013.npz"))
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.where(src["split"] == s)[0], n, replace=False) for s, n in counts.items()])
    extra = {"ferplus_votes": src["ferplus_votes"][idx], "ferplus_vote_columns": src["ferplus_vote_columns"]} \
        if votes else {}
    np.savez(path, images=src["images"][idx], labels=src["labels"][idx], split=src["split"][idx],
             classes=src["classes"], face_crops=np.array(True), **extra)
    return path
