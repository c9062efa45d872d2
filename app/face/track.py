"""Stable ids per person across frames: greedy IoU matching with a centre-distance fallback.

MediaPipe does not give identities; the smoother and the per-face panel need one per person, and an id must not
jump to another face when people cross or a face is missed for a few frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.types import Face


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    track_id: int
    box: tuple[float, float, float, float]
    missed: int = 0


class FaceTracker:
    """Assigns ``Face.track_id``; a track survives ``max_missed`` frames without a match."""

    def __init__(self, max_missed: int = 15, min_iou: float = 0.2, max_centre_shift: float = 0.6):
        self.max_missed = max_missed
        self.min_iou = min_iou
        self.max_centre_shift = max_centre_shift  # in units of the track's box size
        self._tracks: list[_Track] = []
        self._next_id = 1
        self.ended: list[int] = []  # ids dropped by the last update (smoothers forget them)

    def reset(self) -> None:
        self._tracks.clear()
        self._next_id = 1

    def update(self, faces: list[Face]) -> list[Face]:
        scores = np.zeros((len(self._tracks), len(faces)))
        for i, t in enumerate(self._tracks):
            for j, f in enumerate(faces):
                scores[i, j] = self._affinity(t.box, f.box)
        matched_tracks, matched_faces = set(), set()
        for flat in np.argsort(-scores, axis=None):
            i, j = np.unravel_index(flat, scores.shape)
            if scores[i, j] <= 0:
                break
            if i in matched_tracks or j in matched_faces:
                continue
            matched_tracks.add(i)
            matched_faces.add(j)
            self._tracks[i].box, self._tracks[i].missed = faces[j].box, 0
            faces[j].track_id = self._tracks[i].track_id
        for i, t in enumerate(self._tracks):
            if i not in matched_tracks:
                t.missed += 1
        self.ended = [t.track_id for t in self._tracks if t.missed > self.max_missed]
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for j, f in enumerate(faces):
            if j not in matched_faces:
                f.track_id = self._next_id
                self._tracks.append(_Track(self._next_id, f.box))
                self._next_id += 1
        return faces

    def _affinity(self, a: tuple[float, ...], b: tuple[float, ...]) -> float:
        """IoU when boxes overlap enough, else a small score for a close centre (fast motion), else 0."""
        o = iou(a, b)
        if o >= self.min_iou:
            return 1.0 + o
        size = max(a[2] - a[0], a[3] - a[1], 1.0)
        shift = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / size
        return max(0.0, 1.0 - shift / self.max_centre_shift) if shift < self.max_centre_shift else 0.0
