"""The prepared form of a dataset: aligned crops, their landmarks and labels, as training reads them.

It sits below both ways of producing it (``prepare`` runs MediaPipe over a dataset, ``bundle_file`` reads a
bundle carried to a machine without MediaPipe), so neither has to import the other to name it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PreparedData:
    images: np.ndarray  # (N,S,S) or (N,S,S,3) uint8
    landmarks: np.ndarray  # (N,478,3) float16
    labels: np.ndarray
    split: np.ndarray
    detected: np.ndarray  # bool: MediaPipe found the face
    usable: np.ndarray  # bool: detected, or fallback applied
    classes: tuple[str, ...]

    def subset(self, split: str) -> PreparedData:
        i = np.where(self.split == split)[0]
        return PreparedData(self.images[i], self.landmarks[i], self.labels[i], self.split[i], self.detected[i],
                            self.usable[i], self.classes)
