"""Turning frames from a camera mounted sideways or upside down, before anything looks at them.

The face mesh misses upside-down faces and finds sideways ones with loose landmarks, and the models learnt upright
faces; a rig whose camera hangs under a monitor or stands on its side needs its picture turned first. Video files
carry their own rotation, which the decoders apply; this is for pictures that carry none.
"""

from __future__ import annotations

from dataclasses import replace

import cv2

from app.types import Frame

ROTATIONS: tuple[int, ...] = (0, 90, 180, 270)  # degrees clockwise
_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def rotated(frame: Frame, degrees: int) -> Frame:
    """``frame`` with its picture turned ``degrees`` clockwise (one of ``ROTATIONS``; 0 returns it unchanged)."""
    if degrees not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS} degrees, got {degrees}")
    if not degrees:
        return frame
    return replace(frame, image=cv2.rotate(frame.image, _CODES[degrees]))
