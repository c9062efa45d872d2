"""Whether a face is too dim for a reliable label, so the app can say so instead of guessing quietly.

The training faces (FER2013 and AffectNet) are lit for a photograph: the face region of only 5% of them is darker
on average than ``DIM_LEVEL``. A webcam in a dim lab or a face lit from behind gives darker faces, and the default
model reads them worse: on AffectNet valid its faces darker than this score 59.0% against 67.4% for the rest, and
every face darkened to 0.3 of its level costs it 10 points (``training.exposure_eval``; training/README.md,
"Exposure"). Brightening the crop at test time does not help on real video, so the remedy is light on the face.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.face.track_flags import TrackFlags

# rows from the brows to the chin, columns from cheek to cheek, of an aligned crop (``app.face.align``'s template)
FACE_ROWS, FACE_COLS = (0.25, 0.9), (0.2, 0.8)
DIM_LEVEL = 79.0  # mean grey level of the face region: the 5th percentile over the training faces
# On video a dim face counts as lit again only above this: a face whose level hovers at DIM_LEVEL (woman_smile_neutral
# at 0.55 of its brightness) would otherwise turn the note on and off 1.4 times a second.
LIT_AGAIN_LEVEL = 87.0


def face_slices(size: int) -> tuple[slice, slice]:
    """Rows and columns of the face region in an aligned crop of ``size`` pixels."""
    return (slice(round(FACE_ROWS[0] * size), round(FACE_ROWS[1] * size)),
            slice(round(FACE_COLS[0] * size), round(FACE_COLS[1] * size)))


def face_level(crop: np.ndarray) -> float:
    """Mean grey level (0-255) of the face region of an aligned crop, grey (S, S) or BGR (S, S, 3)."""
    rows, cols = face_slices(crop.shape[0])
    region = crop[rows, cols]
    if region.ndim == 3:
        region = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_BGR2GRAY)
    return float(region.mean())


class DimFaces(TrackFlags):
    """Which tracked faces are dim, with hysteresis: a face turns dim below ``DIM_LEVEL`` and lit again only above
    ``LIT_AGAIN_LEVEL``, so the note stays put while a face's level hovers at the line."""

    def __init__(self) -> None:
        super().__init__(on_at=DIM_LEVEL, off_at=LIT_AGAIN_LEVEL, above=False)

    def update(self, track_id: int, crop: np.ndarray) -> bool:
        return self.flag(track_id, face_level(crop))
