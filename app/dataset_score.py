"""Scoring photos against the class folders they sit in.

A labelled set of photos is usually laid out as ``<class>/<image>``: your own lab's posed photos, a public
dataset, a held-out split. ``ferlive analyze`` on such a folder reads each photo's largest face as the app would
and, where the folder's name is one of the model's classes (or another dataset's name for one, ``app.labels``:
"anger", "happiness", "surprised"...), counts the label shown against it: accuracy, each class's recall and the
commonest mistakes, with photos where no face was found counted as misses. Folders named after no class (say
"contempt") are left out and counted. A class folder analysed on its own (``ferlive analyze posed/happy``) scores
its photos as that class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.labels import canonical_name
from app.types import FaceResult, largest_face


def folder_class(image_name: str, classes: tuple[str, ...]) -> str | None:
    """The class named by the first folder of ``image_name`` (``angry/0001.jpg`` -> ``angry``), None when the photo
    is not in a folder or the folder names no class of ``classes``."""
    parts = image_name.replace("\\", "/").split("/")
    if len(parts) < 2:
        return None
    name = canonical_name(parts[0]) or parts[0].strip().lower()
    return name if name in classes else None


@dataclass
class DatasetScore:
    """Photos counted against their folders' classes: ``confusion[true, shown]``, with a last column for photos in
    which no face was found. A photo scored again (the app showing it again) replaces its earlier outcome."""

    classes: tuple[str, ...]
    # the class the input folder itself names (``happy/`` analysed alone): its own photos' class
    folder: str | None = None
    # photo -> (true, shown) class indices; None: a photo in no class folder
    _outcomes: dict[str, tuple[int, int] | None] = field(default_factory=dict, init=False, repr=False)
    # confusion[true, shown], kept as photos come (the app asks for the score on every photo shown)
    confusion: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((len(self.classes), len(self.classes) + 1), np.int64)

    def add(self, image_name: str, faces: list[FaceResult]) -> None:
        """One photo and the faces found in it: its largest face's label is the one scored."""
        truth = folder_class(image_name, self.classes)
        if truth is None and "/" not in image_name.replace("\\", "/"):
            truth = self.folder
        outcome = None
        if truth is not None:
            face = largest_face(faces)
            shown = (len(self.classes) if face is None or face.label not in self.classes
                     else self.classes.index(face.label))
            outcome = (self.classes.index(truth), shown)
        if (earlier := self._outcomes.get(image_name)) is not None:
            self.confusion[earlier] -= 1  # shown again: its latest reading counts
        if outcome is not None:
            self.confusion[outcome] += 1
        self._outcomes[image_name] = outcome

    @property
    def unscored(self) -> int:
        """Photos in a folder that names no class, or in no folder."""
        return sum(outcome is None for outcome in self._outcomes.values())

    @property
    def scored(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float | None:
        """Share of the scored photos whose largest face shows the folder's class (no face: a miss)."""
        return float(np.trace(self.confusion[:, :-1])) / self.scored if self.scored else None

    def recall(self) -> dict[str, float]:
        """Per class with photos: the share of its photos labelled so."""
        totals = self.confusion.sum(axis=1)
        return {name: float(self.confusion[i, i]) / totals[i] for i, name in enumerate(self.classes) if totals[i]}

    def mistakes(self, n: int = 3) -> list[tuple[str, str, float]]:
        """The ``n`` commonest mistakes as (true class, what was shown or "no face", share of that class's photos)."""
        totals = self.confusion.sum(axis=1)
        shown_names = (*self.classes, "no face")
        found = [(self.confusion[t, s] / totals[t], self.classes[t], shown_names[s])
                 for t in range(len(self.classes)) for s in range(len(shown_names))
                 if t != s and self.confusion[t, s]]
        return [(truth, shown, float(share)) for share, truth, shown in sorted(found, key=lambda x: -x[0])[:n]]

    def describe(self) -> str:
        """Lines for the printed summary ("" when no photo was in a class folder)."""
        if not self.scored:
            return ""
        no_face = int(self.confusion[:, -1].sum())
        recall = ", ".join(f"{name} {100 * v:.0f}%" for name, v in self.recall().items())
        mistakes = ", ".join(f"{truth} as {shown} {100 * share:.0f}%" for truth, shown, share in self.mistakes())
        return (f"against the class folders: {100 * self.accuracy:.1f}% of {self.scored} photos right"
                + (f" ({no_face} without a face found, counted wrong)" if no_face else "")
                + (f"; {self.unscored} in folders named after no class, left out" if self.unscored else "")
                + f"\nrecall: {recall}\n" + (f"commonest mistakes: {mistakes}\n" if mistakes else ""))
