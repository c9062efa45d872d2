"""Noticing a camera mounted sideways or upside down, so the app can point to its Rotate control.

The face mesh finds a sideways face with its eye line standing up, and covers an upside-down face with an upright
mesh (eyes on the mouth) or misses it; either way the labels are poor and nothing else says why. A few seconds
apart, the largest face's eye line (``app.face.stills.face_turn``) or, where no face lies on its side, the face
detector's preference for the half-turned picture (``app.face.stills.upside_down``) casts a vote; a turn with
``NEEDED`` of the last ``WINDOW`` votes is reported once per source (the detector's answer varies from frame to frame
on an upside-down face: on an upside-down cut of woman_smile_neutral, one frame in three looked upright).
"""

from __future__ import annotations

import cv2
import numpy as np

from app.face.stills import face_turn, upside_down
from app.types import Face

CHECK_EVERY_S = 1.0  # seconds of video between checks: two detector runs each, about 5 ms
WINDOW = 5  # the last this many checks
NEEDED = 4  # of which this many name the same turn before it is reported (3 s at the earliest)
# the clockwise rotation that stands a face upright, for each OpenCV turn face_turn can name
DEGREES = {cv2.ROTATE_90_CLOCKWISE: 90, cv2.ROTATE_180: 180, cv2.ROTATE_90_COUNTERCLOCKWISE: 270}


class OrientationHint:
    """Feed it every analysed video frame; ``update`` returns the clockwise degrees that would stand the faces
    upright once the evidence holds (then never again until ``reset``), else None."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new source, or a new rotation chosen: start over."""
        self._votes: list[int] = []
        self._last_check: float | None = None
        self.reported = False

    def update(self, mesh, image: np.ndarray, faces: list[Face], timestamp: float) -> int | None:
        if self.reported or (self._last_check is not None and 0 <= timestamp - self._last_check < CHECK_EVERY_S):
            return None
        self._last_check = timestamp
        self._votes = [*self._votes, self._vote(mesh, image, faces)][-WINDOW:]
        turn = max(set(self._votes), key=self._votes.count)
        if turn and self._votes.count(turn) >= NEEDED:
            self.reported = True
            return turn
        return None

    @staticmethod
    def _vote(mesh, image: np.ndarray, faces: list[Face]) -> int:
        """Degrees clockwise that would stand this frame's faces upright (0: they look upright, or none is seen)."""
        found = [f for f in faces if not getattr(f, "held", False)]
        if found:
            turn = face_turn(max(found, key=lambda f: f.area))
            if turn is not None:
                return DEGREES[turn]
        return 180 if upside_down(mesh, image) else 0
