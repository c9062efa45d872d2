"""Telling a different face from the same face moving: a cut in an edited clip, or one person taking another's place.

The tracker follows boxes, so when a shot changes, or a new face appears where the last one was, the track (and
with it the smoothed label) carries over to a different face, and the old face's label lingers for the smoothing's
time constant. The signal here is the aligned crop's coarse appearance (16x16 grey, zero mean, unit norm) compared
with the track's own recent look. Measured on the shared clips, consecutive frames of one face correlate at 0.85 or
more on 99% of frames (median 0.99) even while talking, turning or blinking; two different faces at the same place
correlate below 0.6 (median 0.08). A single odd frame (motion blur, a mesh glitch) must not count as a new face,
so a change is confirmed only when the next frame looks like the newcomer and still unlike the old face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIGNATURE_SIZE = 16


def signature(crop: np.ndarray) -> np.ndarray:
    """The crop's coarse look: 16x16 grey, zero mean, unit norm (so exposure and contrast changes do not count)."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    s = cv2.resize(grey, (SIGNATURE_SIZE, SIGNATURE_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    s -= s.mean()
    return s / (float(np.linalg.norm(s)) + 1e-6)


@dataclass
class _Look:
    reference: np.ndarray
    candidate: np.ndarray | None = None


class FaceChangeDetector:
    """Per track: has a different face taken it over? ``threshold`` is the correlation below which two crops are
    different faces."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self._looks: dict[int, _Look] = {}

    def update(self, track_id: int, crop: np.ndarray) -> bool:
        """True on the frame a change of face is confirmed (the second frame of the newcomer)."""
        sig = signature(crop)
        look = self._looks.get(track_id)
        if look is None:
            self._looks[track_id] = _Look(sig)
            return False
        if look.candidate is not None:
            newcomer = float(look.candidate @ sig) >= self.threshold
            unlike_old = float(look.reference @ sig) < self.threshold
            look.candidate = None
            if newcomer and unlike_old:
                look.reference = sig
                return True
        if float(look.reference @ sig) < self.threshold:
            look.candidate = sig  # one frame unlike the face so far: wait for the next to tell
        else:
            look.reference = sig  # follows slow changes (turning, light) of the same face
        return False

    def forget(self, track_ids) -> None:
        for t in track_ids:
            self._looks.pop(t, None)

    def reset(self) -> None:
        self._looks.clear()
