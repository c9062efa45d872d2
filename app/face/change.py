"""Telling a different face from the same face moving: a cut in an edited clip, or one person taking another's place.

The tracker follows boxes, so when a shot changes, or a new face appears where the last one was, the track (and
with it the smoothed label) carries over to a different face, and the old face's label lingers for the smoothing's
time constant. The signal is the aligned crop's look at the scale of facial features: the crop at 48x48 grey,
band-passed (a difference of Gaussians, sigma 1 and 4 pixels) so that neither pixel noise nor overall shading counts,
at 24x24, zero mean, unit norm, compared with the track's own recent look. Aligned faces share their coarse layout
(eyes, nose and mouth sit where the template puts them), so a plain 16x16 thumbnail of two different people at one
place correlates at 0.5 or more on 7.4% of face changes in the stream benchmark (600 FER2013 publictest faces,
``training.stream_eval``); the band-passed look does on 0.7%, and one face's consecutive frames on the shared clips
still correlate at 0.85 or more on 96-100% of frames (median 0.97-1.00), a 1.5-pixel blur or not. A single
odd frame (motion blur, a mesh glitch) must not count as a new face, so a change is confirmed only when the next
frame looks like the newcomer and still unlike the old face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIGNATURE_SIZE = 24
_WORK_SIZE = 48  # crops of any model's input size are compared at this size, so the filter means the same
_BAND_SIGMAS = (1.0, 4.0)  # in pixels of the 48x48 crop: below the first is noise, above the second shading


def signature(crop: np.ndarray) -> np.ndarray:
    """The crop's look at the scale of facial features (band-passed 24x24 grey, zero mean, unit norm): exposure,
    contrast, shading and sensor noise do not count, the shape of eyes, brows, nose and mouth does."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (_WORK_SIZE, _WORK_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    fine, coarse = (cv2.GaussianBlur(grey, (0, 0), s) for s in _BAND_SIGMAS)
    s = cv2.resize(fine - coarse, (SIGNATURE_SIZE, SIGNATURE_SIZE), interpolation=cv2.INTER_AREA).ravel()
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

    def look(self, track_id: int) -> np.ndarray | None:
        """The track's current look (``signature`` of its face), None before its first frame."""
        look = self._looks.get(track_id)
        return None if look is None else look.reference

    def forget(self, track_ids) -> None:
        for t in track_ids:
            self._looks.pop(t, None)

    def reset(self) -> None:
        self._looks.clear()
