"""How far apart the lips are, and whether a face is talking: the evidence the label smoother weighs.

Expression datasets hold posed photographs, where parted lips mostly mean surprise or fear; a webcam mostly sees
people talking, and the models read a talking neutral face's open frames as surprise or fear. Between syllables
the lips close and the face looks like the photographs the models learnt from. So while a face talks (its lips
have opened and closed again within the last second), ``app.smoothing`` gives frames with parted lips less weight
in the average. A steady open mouth (a held gasp, a wide smile) is not talking, and every frame counts the same.
"""

from __future__ import annotations

import math

import numpy as np

# MediaPipe face-mesh indices: the inner edges of the upper and lower lip at the centre, the outer eye corners
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263

# Talking: within TALK_WINDOW_S the lip gap (in eye widths, ``mouth_opening``) rises by TALK_RANGE and falls back as
# much, or falls and rises again. Speech opens and closes the lips three to six times a second by 0.1-0.25 eye
# widths (the talking woman of woman_smile_neutral.mp4: 10th-90th percentile 0.01-0.25), with pauses between words
# that a second spans; a held expression moves them by a few hundredths. Chosen on that clip (training/README.md,
# "Evaluate": 0.5 s and 0.7 s found fewer of her open-lipped frames).
TALK_WINDOW_S = 1.0
TALK_RANGE = 0.08
# Lips closer than LIPS_CLOSED count fully; wider, the weight falls by e every LIPS_SCALE down to the floor.
LIPS_CLOSED = 0.05
LIPS_SCALE = 0.03


def mouth_opening(landmarks: np.ndarray) -> float:
    """The gap between the inner lips over the distance between the outer eye corners (scale and roll free)."""
    points = np.asarray(landmarks, np.float64)[:, :2]
    eyes = float(np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER]))
    if eyes <= 0:
        return 0.0
    return float(np.linalg.norm(points[UPPER_LIP_INNER] - points[LOWER_LIP_INNER])) / eyes


def is_talking(recent_openings: list[float]) -> bool:
    """Whether the lip gaps seen over the last ``TALK_WINDOW_S`` swing like speech: opened by ``TALK_RANGE`` and
    closed again, or closed and opened again. One step is not talking: lips parting into a held gasp, or the
    landmarks of one face giving way to another's."""
    gaps = np.asarray(recent_openings, np.float64)
    if len(gaps) < 3:
        return False
    low_before, low_after = np.minimum.accumulate(gaps), np.minimum.accumulate(gaps[::-1])[::-1]
    high_before, high_after = np.maximum.accumulate(gaps), np.maximum.accumulate(gaps[::-1])[::-1]
    peak = np.minimum(gaps - low_before, gaps - low_after).max()
    trough = np.minimum(high_before - gaps, high_after - gaps).max()
    return bool(max(peak, trough) >= TALK_RANGE)


def talking_weight(opening: float, talking: bool, floor: float) -> float:
    """A frame's weight in the smoothed average: 1 unless the face is talking with its lips apart, then down to
    ``floor`` (1 turns the weighting off)."""
    if not talking or floor >= 1.0:
        return 1.0
    return max(floor, math.exp(-max(0.0, opening - LIPS_CLOSED) / LIPS_SCALE))
