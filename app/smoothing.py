"""Per-track temporal smoothing of class probabilities (exponential moving average).

Single-frame predictions flicker; a demo audience wants a label that changes when the face does. ``strength``
0 means no smoothing, 0.9 means heavy (each frame adds 10%).
"""

from __future__ import annotations

import numpy as np


class ProbabilitySmoother:
    def __init__(self, strength: float = 0.6):
        self.strength = strength
        self._state: dict[int, np.ndarray] = {}

    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"smoothing strength must be in [0, 1), got {value}")
        self._strength = float(value)

    def update(self, track_id: int, probs: np.ndarray) -> np.ndarray:
        prev = self._state.get(track_id)
        if prev is None or prev.shape != probs.shape:
            smoothed = probs.astype(np.float32)
        else:
            smoothed = (self._strength * prev + (1.0 - self._strength) * probs).astype(np.float32)
        self._state[track_id] = smoothed
        return smoothed

    def forget(self, track_ids) -> None:
        for t in track_ids:
            self._state.pop(t, None)

    def reset(self) -> None:
        self._state.clear()
