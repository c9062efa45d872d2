"""Tiny but real ONNX expression models for tests, built with ``onnx.helper`` (no torch).

Shared by the inference, pipeline and UI tests; keep :func:`make_model`'s signature stable.

The graph follows the app's I/O contract (see ``app/inference/engine.py``)::

    image (batch, C, S, S) -> GlobalAveragePool -> Flatten -> MatMul W + b ─┐
    landmarks (batch, 478, 3) -> ReduceMean(points) -> MatMul Wl + bl ──────┴─> Add -> Softmax -> probabilities

Weights are drawn from a seeded generator, so the same arguments always give the same model, and the output
depends on the input (brighter crops, or moved landmarks, change the probabilities).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from app.face.align import TEMPLATE_VERSION
from app.labels import EXPRESSIONS

OPSET = 17
REMOVE = object()  # a card_overrides value that deletes the key, to build cards with a missing field


def make_model(
    path: str | Path,
    classes: int | list[str] = 7,
    size: int = 48,
    channels: int = 1,
    landmarks: bool = False,
    card_overrides: dict[str, Any] | None = None,
    write_card: bool = True,
    embed_card: bool = True,
    seed: int = 0,
) -> Path:
    """Write a small ONNX model to ``path`` (and its card to ``path.with_suffix('.json')``); return ``path``.

    classes: a count (7 -> the FER2013 names from ``app.labels``, otherwise ``class0..``) or the names.
    size, channels: the static ``image`` input size and channel count (1 -> card colour gray, 3 -> rgb).
    landmarks: add the ``landmarks`` input (card ``input.landmarks = 'mediapipe478'``).
    card_overrides: merged into the card recursively (``{"input": {"color": "bgr"}}`` changes one field);
        a value of :data:`REMOVE` deletes that key. Overrides change only the card, never the graph, which is
        how tests build a card that disagrees with its graph.
    write_card / embed_card: write the JSON beside the model / embed it in ``metadata_props['ferlive_card']``.
    """
    path = Path(path)
    names = list(classes) if not isinstance(classes, int) else _class_names(classes)
    rng = np.random.default_rng(seed)
    model = _graph(len(names), size, channels, landmarks, rng)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    card = merge_overrides(default_card(path.stem, names, size, channels, landmarks, params), card_overrides or {})
    if embed_card:
        entry = model.metadata_props.add()
        entry.key, entry.value = "ferlive_card", json.dumps(card)
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    if write_card:
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return path


def default_card(
    name: str, classes: list[str], size: int, channels: int, landmarks: bool, params: int | None = None
) -> dict[str, Any]:
    """A complete, valid card matching the factory graph."""
    return {
        "name": name,
        "architecture": "other",
        "size": "small",
        "classes": list(classes),
        "input": {
            "size": size,
            "color": "gray" if channels == 1 else "rgb",
            "mean": [0.5] * channels,
            "std": [0.5] * channels,
            "landmarks": "mediapipe478" if landmarks else "none",
        },
        "alignment": {"template": "fer2013-5pt", "version": TEMPLATE_VERSION},
        "dataset": "synthetic",
        "splits": {},
        "metrics": {},
        "params": params,
        "gmacs": None,
        "train": {},
        "onnx": {"opset": OPSET, "parity_max_abs": 0.0},
        "description": "tiny test graph from tests/onnx_factory.py",
    }


def _graph(num_classes: int, size: int, channels: int, landmarks: bool, rng: np.random.Generator) -> onnx.ModelProto:
    init = [
        numpy_helper.from_array(rng.normal(0, 2.0, (channels, num_classes)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(0, 0.5, (num_classes,)).astype(np.float32), "b"),
    ]
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "W"], ["image_logits_raw"]),
        helper.make_node("Add", ["image_logits_raw", "b"], ["image_logits"]),
    ]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", channels, size, size])]
    logits = "image_logits"
    if landmarks:
        init += [
            numpy_helper.from_array(rng.normal(0, 4.0, (3, num_classes)).astype(np.float32), "Wl"),
            numpy_helper.from_array(rng.normal(0, 0.5, (num_classes,)).astype(np.float32), "bl"),
        ]
        nodes += [
            helper.make_node("ReduceMean", ["landmarks"], ["lm_mean"], axes=[1], keepdims=0),
            helper.make_node("MatMul", ["lm_mean", "Wl"], ["lm_logits_raw"]),
            helper.make_node("Add", ["lm_logits_raw", "bl"], ["lm_logits"]),
            helper.make_node("Add", ["image_logits", "lm_logits"], ["logits"]),
        ]
        inputs.append(helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, ["batch", 478, 3]))
        logits = "logits"
    nodes.append(helper.make_node("Softmax", [logits], ["probabilities"], axis=-1))
    output = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", num_classes])
    graph = helper.make_graph(nodes, "ferlive_test_model", inputs, [output], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ferlive-tests")
    model.ir_version = 8  # readable by every onnxruntime the app supports (>= 1.18)
    return model


def _class_names(count: int) -> list[str]:
    return list(EXPRESSIONS) if count == len(EXPRESSIONS) else [f"class{i}" for i in range(count)]


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in recursively; :data:`REMOVE` values delete keys. ``base`` is not changed."""
    out = dict(base)
    for key, value in overrides.items():
        if value is REMOVE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out
