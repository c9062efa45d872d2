"""The running score of a folder of photos played in the app, when the photos sit in class folders.

Playing a labelled set (``<class>/<image>``, as ``ferlive analyze`` scores it) shows how often the label the app
shows is the folder's class: each photo counted once with its latest reading (a photo shown again on a loop, or read
again by another model while paused, replaces its outcome), and another model starts the count again.
"""

from __future__ import annotations

from pathlib import Path

from app.dataset_score import DatasetScore, folder_class
from app.labels import EXPRESSIONS
from app.types import FrameResult


class PhotoScoreKeeper:
    """``start`` with each source; ``add`` each result shown."""

    def __init__(self) -> None:
        self._scoring = False
        self._folder = ""  # the folder's own name: photos directly in happy/ are happy
        self._score: DatasetScore | None = None
        self._model = ""

    def start(self, spec: str, stills: bool) -> None:
        """A new source: scored when it is a folder of photos (whether its photos sit in class folders shows as
        they come)."""
        self._scoring = stills and Path(spec).is_dir()
        self._folder = Path(spec).name
        self._score, self._model = None, ""

    def add(self, result: FrameResult) -> DatasetScore | None:
        """Count the photo of ``result``; the score so far (None when the source is not a folder of photos)."""
        if not self._scoring or not result.frame.image_name:
            return None
        if self._score is None or result.model_name != self._model:
            classes = tuple(result.faces[0].classes) if result.faces else EXPRESSIONS
            self._score = DatasetScore(classes, folder=folder_class(f"{self._folder}/", classes))
            self._model = result.model_name
        self._score.add(result.frame.image_name, result.faces)
        return self._score
