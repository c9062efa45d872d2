"""The models folder: every ``<name>.onnx`` with its ``<name>.json`` card, good or bad.

Listing never raises for one bad model: a missing or invalid card, or an ``.onnx`` that is cut short or does not
match the size and hash in its card (``integrity.py``), becomes the entry's ``error`` so the UI can show the model
disabled with its reason, and the other models stay usable. The folder is re-scanned on every
call, so a model dropped in while the app runs appears in the next listing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import app
from app.errors import ModelLoadError, UnknownModelError
from app.inference.card import ModelCard
from app.inference.engine import InferenceEngine
from app.inference.integrity import model_file_problem

CPU_SIZES = ("small",)  # sizes meant to run in real time on a CPU; preferred when no card says default


def default_models_dir() -> Path:
    """``$FERLIVE_MODELS`` when set, else the repository's ``models/`` folder."""
    env = os.environ.get("FERLIVE_MODELS")
    return Path(env) if env else Path(app.__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class ModelEntry:
    """One ``.onnx`` file; ``card`` is None and ``error`` says why when it cannot be used."""

    name: str
    onnx_path: Path
    card: ModelCard | None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.error is None and self.card is not None

    @property
    def display_name(self) -> str:
        return self.card.display_name if self.card is not None else self.name


class ModelRegistry:
    """Lists, picks and loads the models in one folder."""

    def __init__(self, models_dir: str | Path | None = None):
        self.models_dir = Path(models_dir) if models_dir is not None else default_models_dir()

    def entries(self) -> list[ModelEntry]:
        """Every ``*.onnx`` sorted by name; only the JSON cards are read (the graphs are checked on load)."""
        if not self.models_dir.is_dir():
            return []
        return [self._entry(path) for path in sorted(self.models_dir.glob("*.onnx"), key=lambda p: p.stem)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def get(self, name: str) -> ModelEntry:
        entries = self.entries()
        for entry in entries:
            if entry.name == name:
                return entry
        available = ", ".join(e.name for e in entries) or "none"
        raise UnknownModelError(f"no model named '{name}' in {self.models_dir} (available: {available})")

    def default(self) -> ModelEntry | None:
        """The card marked ``default: true``; else the most accurate small (CPU-friendly) model; else the first.

        Two usable cards marked default (typically a copied card) raise ``ModelLoadError`` naming both, rather
        than letting file order decide which model a person gets.
        """
        usable = [e for e in self.entries() if e.usable]
        marked = [e for e in usable if e.card.default]
        if len(marked) > 1:
            names = ", ".join(f"{e.name} ({e.onnx_path.with_suffix('.json').name})" for e in marked)
            raise ModelLoadError(
                f"{len(marked)} models in {self.models_dir} are marked \"default\": true: {names}; "
                "keep it in one card only"
            )
        if marked:
            return marked[0]
        small = [e for e in usable if e.card.size in CPU_SIZES and e.card.accuracy is not None]
        if small:
            return max(small, key=lambda e: e.card.accuracy)
        return usable[0] if usable else None

    def load(self, name: str, provider: str = "auto", threads: int | None = None) -> InferenceEngine:
        """Build the engine for ``name``; an entry listed with an error raises that error as ModelLoadError."""
        entry = self.get(name)
        if not entry.usable:
            raise ModelLoadError(entry.error or f"model {name} has no card")
        return InferenceEngine(entry.onnx_path, card=entry.card, provider=provider, threads=threads)

    @staticmethod
    def _entry(path: Path) -> ModelEntry:
        card_path = path.with_suffix(".json")
        if not card_path.is_file():
            return ModelEntry(path.stem, path, None, f"{path.name} has no model card ({card_path.name} is missing)")
        try:
            card = ModelCard.from_json(card_path)
        except ModelLoadError as exc:
            return ModelEntry(path.stem, path, None, str(exc))
        problem = model_file_problem(path, card.onnx)
        if problem:  # no card either: its accuracy describes a file that is not this one
            return ModelEntry(path.stem, path, None, problem)
        return ModelEntry(path.stem, path, card)
