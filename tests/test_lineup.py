"""The model lineup (issue 19): what each model is for, which ones cannot keep up live on a CPU, the order to fall
back in, and an ensemble that ships without its members' files."""

from __future__ import annotations

import json
import os

import pytest

from app.inference.card import ModelCard
from app.inference.lineup import declared_default, fallback_order, frame_budget_ms, too_slow_for_live
from app.inference.registry import ModelRegistry, default_models_dir
from tests.onnx_factory import default_card, make_model


def card(**overrides) -> ModelCard:
    data = default_card("m", [f"c{i}" for i in range(7)], 48, 1, False)
    data.update(overrides)
    return ModelCard.from_dict(data)


def test_purpose_is_optional_and_survives_a_round_trip():
    assert card().purpose == ""
    assert "purpose" not in card().to_dict()
    fast = card(purpose="fast default")
    assert fast.purpose == "fast default"
    assert ModelCard.from_dict(fast.to_dict()).purpose == "fast default"


def test_a_model_too_slow_for_live_video_is_marked_on_a_cpu_only():
    budget = frame_budget_ms()
    assert 40 < budget < 66.7  # 15 fps less the face mesh
    slow = card(metrics={"cpu_ms_per_face": 124.0})
    assert too_slow_for_live(slow, on_gpu=False) and not too_slow_for_live(slow, on_gpu=True)
    assert not too_slow_for_live(card(metrics={"cpu_ms_per_face": 24.5}), on_gpu=False)
    assert not too_slow_for_live(card(), on_gpu=False)  # not measured: not marked


def test_fallback_goes_to_the_default_then_the_most_accurate_live_model(tmp_path):
    make_model(tmp_path / "small.onnx", card_overrides={"metrics": {"publictest_acc": 0.66, "cpu_ms_per_face": 4}})
    make_model(tmp_path / "big.onnx", card_overrides={"metrics": {"publictest_acc": 0.70, "cpu_ms_per_face": 24}})
    make_model(tmp_path / "huge.onnx", card_overrides={"metrics": {"publictest_acc": 0.72, "cpu_ms_per_face": 124}})
    make_model(tmp_path / "fast.onnx", card_overrides={"default": True, "metrics": {"publictest_acc": 0.68}})
    entries = ModelRegistry(tmp_path).entries()
    assert fallback_order(entries, "typo", "fast") == ["typo", "fast", "big", "small", "huge"]
    assert fallback_order(entries, None, "fast", on_gpu=True) == ["fast", "huge", "big", "small"]
    assert declared_default(entries).name == "fast"


def test_the_dropdown_says_what_each_shipped_model_is_for_and_marks_only_those_over_the_budget():
    from app.ui.model_controls import TOO_SLOW, model_title

    entries = {e.name: e for e in ModelRegistry(default_models_dir()).entries()}
    if "ensemble-large" not in entries or "poster-small" not in entries:
        pytest.skip("the shipped lineup is not in models/")
    for name, entry in entries.items():
        purpose = json.loads((default_models_dir() / f"{name}.json").read_text())["purpose"]
        assert purpose and purpose in model_title(entry), name
        slow = entry.card.cpu_ms_per_face > frame_budget_ms()
        assert (TOO_SLOW in model_title(entry, on_gpu=False)) == slow, name
        assert TOO_SLOW not in model_title(entry, on_gpu=True)
    assert TOO_SLOW not in model_title(entries["poster-small"])


def test_an_ensemble_is_usable_without_its_members_files(tmp_path):
    """The ensemble carries its members inside its graph; the card keeps their names and hashes as provenance."""
    shipped = default_models_dir() / "ensemble-large.onnx"
    if not shipped.is_file():
        pytest.skip("ensemble-large is not shipped in models/")
    for suffix in (".onnx", ".json"):
        os.symlink(shipped.with_suffix(suffix), tmp_path / f"ensemble-large{suffix}")
    members = json.loads(shipped.with_suffix(".json").read_text())["members"]
    assert members and not any((tmp_path / m["file"]).exists() for m in members)
    (entry,) = ModelRegistry(tmp_path).entries()
    assert entry.usable, entry.error
    assert ModelRegistry(tmp_path).default().name == "ensemble-large"
