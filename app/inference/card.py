"""The model card: what a model expects and how well it did, read from JSON beside the ``.onnx`` file.

The card is the app's only source of truth about a model's preprocessing (input size, colour order,
normalisation, whether it needs landmarks) and its class names, so a card that is wrong in any of those must
be refused here, with the file and the field named, rather than produce silently wrong predictions later.
The same JSON is embedded in the ONNX ``metadata_props`` under :data:`METADATA_KEY`, so a lone ``.onnx``
still describes itself. JSON is parsed with :mod:`json`, never ``eval``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import ModelLoadError

METADATA_KEY = "ferlive_card"
ARCHITECTURES = ("poster", "apvit", "ferformer", "ensemble", "other")
COLORS = ("gray", "rgb", "bgr")
LANDMARK_KINDS = ("none", "mediapipe478")


@dataclass(frozen=True)
class InputSpec:
    """How a crop becomes the ``image`` tensor: ``(x / 255 - mean) / std`` per channel, in ``color`` order."""

    size: int
    color: str  # 'gray' | 'rgb' | 'bgr'
    mean: list[float]
    std: list[float]
    landmarks: str = "none"  # 'none' | 'mediapipe478'

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3


@dataclass
class ModelCard:
    """Everything the app knows about one exported model; see ``docs/design.md`` "Model card"."""

    name: str
    architecture: str
    size: str
    classes: list[str]
    input: InputSpec
    alignment: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""
    splits: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    params: int | None = None
    gmacs: float | None = None
    train: dict[str, Any] = field(default_factory=dict)
    onnx: dict[str, Any] = field(default_factory=dict)
    default: bool = False
    description: str = ""
    purpose: str = ""  # what the model is for, in a few words for the model menu ("fast default"); optional
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, kept so a round trip loses nothing

    @property
    def channels(self) -> int:
        """1 for a grey model, else 3."""
        return self.input.channels

    @property
    def uses_landmarks(self) -> bool:
        """True when the graph takes a ``landmarks`` input (the aligned 478 face-mesh points)."""
        return self.input.landmarks == "mediapipe478"

    def metric(self, key: str) -> float | None:
        """A measured number from the card, or None when absent or not a finite number."""
        value = self.metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(value)

    @property
    def accuracy(self) -> float | None:
        """FER2013 PublicTest accuracy as a fraction, or None when not measured."""
        return self.metric("publictest_acc")

    @property
    def cpu_ms_per_face(self) -> float | None:
        """ONNX Runtime CPU milliseconds per face as measured when shipped, or None."""
        ms = self.metric("cpu_ms_per_face")
        return ms if ms is not None and ms > 0 else None

    @property
    def neutral_reference(self) -> list[float] | None:
        """The model's mean probabilities over neutral faces, in class order (``app.neutral`` calibrates a resting
        face towards them), or None when not measured or not one finite share per class."""
        ref = self.metrics.get("neutral_reference")
        if not isinstance(ref, dict) or set(ref) != set(self.classes):
            return None
        values = [ref[c] for c in self.classes]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                   for v in values):
            return None
        return [float(v) for v in values]

    @property
    def camera_accuracy(self) -> float | None:
        """AffectNet valid accuracy (in-the-wild colour faces, the closest measure of faces in front of a camera) as
        a fraction, or None when not measured."""
        return self.metric("affectnet_acc")

    @property
    def display_name(self) -> str:
        """Name for menus with the accuracy that best predicts a camera's faces, named: ``poster-small (AffectNet
        67.0%)``; a card with only FER2013's says ``apvit-small (FER2013 68.4%)``. (FER2013's grey crops alone
        rank the models otherwise than real faces do: the FER2013-only model scores best there and worst on
        AffectNet.)"""
        for dataset, acc in (("AffectNet", self.camera_accuracy), ("FER2013", self.accuracy)):
            if acc is not None:
                return f"{self.name} ({dataset} {acc * 100:.1f}%)"
        return self.name

    # ----------------------------------------------------------------------------------------- (de)serialising
    @classmethod
    def from_dict(cls, data: Any, source: str = "model card") -> ModelCard:
        """Validate and build a card; ``source`` (a file name) goes into every error message."""
        return _CardParser(source).card(data)

    @classmethod
    def from_json_text(cls, text: str, source: str = "model card") -> ModelCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(
                f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        return cls.from_dict(data, source)

    @classmethod
    def from_json(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelLoadError(f"model card {path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"model card {path} cannot be read: {exc}") from None
        return cls.from_json_text(text, str(path))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "architecture": self.architecture,
            "size": self.size,
            "classes": list(self.classes),
            "input": {
                "size": self.input.size,
                "color": self.input.color,
                "mean": list(self.input.mean),
                "std": list(self.input.std),
                "landmarks": self.input.landmarks,
            },
            "alignment": dict(self.alignment),
            "dataset": self.dataset,
            "splits": dict(self.splits),
            "metrics": dict(self.metrics),
            "params": self.params,
            "gmacs": self.gmacs,
            "train": dict(self.train),
            "onnx": dict(self.onnx),
            "default": self.default,
            "description": self.description,
        }
        if self.purpose:
            data["purpose"] = self.purpose
        data.update(self.extra)
        return data

    def to_json_text(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json_text(), encoding="utf-8")


class _CardParser:
    """Checks one card field by field so each error names the file and the dotted field path."""

    _KNOWN = {f for f in ModelCard.__dataclass_fields__ if f != "extra"}

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str) -> ModelLoadError:
        return ModelLoadError(f"{self.source}: {message}")

    def card(self, data: Any) -> ModelCard:
        if not isinstance(data, dict):
            raise self.fail(f"a model card must be a JSON object, got {_kind(data)}")
        spec = self.input(self.require(data, "input", dict), "input")
        classes = self.classes(self.require(data, "classes", list))
        return ModelCard(
            name=self.non_empty(self.require(data, "name", str), "name"),
            architecture=self.choice(self.require(data, "architecture", str), "architecture", ARCHITECTURES),
            size=self.require(data, "size", str),
            classes=classes,
            input=spec,
            alignment=self.optional(data, "alignment", dict, {}),
            dataset=self.optional(data, "dataset", str, ""),
            splits=self.optional(data, "splits", dict, {}),
            metrics=self.optional(data, "metrics", dict, {}),
            params=self.optional(data, "params", int, None),
            gmacs=self.optional(data, "gmacs", float, None),
            train=self.optional(data, "train", dict, {}),
            onnx=self.optional(data, "onnx", dict, {}),
            default=self.optional(data, "default", bool, False),
            description=self.optional(data, "description", str, ""),
            purpose=self.optional(data, "purpose", str, "").strip(),
            extra={k: v for k, v in data.items() if k not in self._KNOWN},
        )

    def input(self, data: dict, where: str) -> InputSpec:
        size = self.require(data, "size", int, where)
        if size <= 0:
            raise self.fail(f"field '{where}.size' must be a positive integer, got {size}")
        color = self.choice(self.require(data, "color", str, where), f"{where}.color", COLORS)
        landmarks = self.choice(
            self.optional(data, "landmarks", str, "none", where), f"{where}.landmarks", LANDMARK_KINDS
        )
        channels = 1 if color == "gray" else 3
        mean = self.numbers(self.require(data, "mean", list, where), f"{where}.mean", channels, color)
        std = self.numbers(self.require(data, "std", list, where), f"{where}.std", channels, color)
        if any(s <= 0 for s in std):
            raise self.fail(f"field '{where}.std' must be positive, got {std}")
        return InputSpec(size=size, color=color, mean=mean, std=std, landmarks=landmarks)

    def classes(self, values: list) -> list[str]:
        if not values:
            raise self.fail("field 'classes' is empty; a model needs at least one class name")
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise self.fail(f"field 'classes' must be a list of non-empty strings, got {values}")
        if len(set(values)) != len(values):
            raise self.fail(f"field 'classes' has duplicate names: {values}")
        return list(values)

    def numbers(self, values: list, where: str, channels: int, color: str) -> list[float]:
        if not all(_is_number(v) for v in values):
            raise self.fail(f"field '{where}' must be a list of numbers, got {values}")
        if len(values) != channels:
            raise self.fail(f"field '{where}' has {len(values)} values but colour '{color}' has {channels} channel(s)")
        return [float(v) for v in values]

    def choice(self, value: str, where: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(f"field '{where}' must be one of {', '.join(allowed)}, got '{value}'")
        return value

    def non_empty(self, value: str, where: str) -> str:
        if not value.strip():
            raise self.fail(f"field '{where}' is empty")
        return value

    def require(self, data: dict, key: str, kind: type, parent: str = "") -> Any:
        where = f"{parent}.{key}" if parent else key
        if key not in data:
            raise self.fail(f"missing field '{where}'")
        return self.typed(data[key], where, kind)

    def optional(self, data: dict, key: str, kind: type, default: Any, parent: str = "") -> Any:
        if data.get(key) is None:
            return default
        return self.typed(data[key], f"{parent}.{key}" if parent else key, kind)

    def typed(self, value: Any, where: str, kind: type) -> Any:
        if kind is float:
            ok = _is_number(value)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a count
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise self.fail(f"field '{where}' must be {_TYPE_NAMES[kind]}, got {_kind(value)} {value!r:.60}")
        return float(value) if kind is float else value


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
