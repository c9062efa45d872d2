"""Damaged model files and conflicting cards, on copies of a real shipped model in a temporary models folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.cli import main
from app.errors import ModelLoadError
from app.inference.integrity import file_sha256, protobuf_problem
from app.inference.registry import ModelRegistry, default_models_dir

SHIPPED = "poster-small"


def shipped(suffix: str) -> Path:
    path = default_models_dir() / f"{SHIPPED}{suffix}"
    if not path.exists():
        pytest.skip(f"shipped model not found: {path}")
    return path


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    """A models folder holding one intact copy of the shipped default model."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(shipped(".onnx"), folder / f"{SHIPPED}.onnx")
    shutil.copy(shipped(".json"), folder / f"{SHIPPED}.json")
    monkeypatch.setenv("FERLIVE_MODELS", str(folder))
    return folder


def add_copy(folder: Path, name: str, data: bytes, card_changes: dict | None = None, drop_fingerprint=False) -> None:
    """``name``.onnx holding ``data`` beside a copy of the shipped card (``default: true`` included)."""
    (folder / f"{name}.onnx").write_bytes(data)
    card = json.loads(shipped(".json").read_text())
    card.update(card_changes or {})
    if drop_fingerprint:
        card["onnx"] = {k: v for k, v in card["onnx"].items() if k not in ("bytes", "sha256")}
    (folder / f"{name}.json").write_text(json.dumps(card, indent=2))


def listing(capsys) -> dict[str, dict]:
    assert main(["models", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_shipped_cards_pin_their_files():
    for card_path in sorted(default_models_dir().glob("*.json")):
        onnx = json.loads(card_path.read_text())["onnx"]
        model = card_path.with_suffix(".onnx")
        assert onnx["bytes"] == model.stat().st_size, card_path.name
        assert onnx["sha256"] == file_sha256(model), card_path.name


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.98])
@pytest.mark.parametrize("drop_fingerprint", [False, True], ids=["card-with-hash", "card-without-hash"])
def test_truncated_copy_is_listed_as_broken_and_never_default(models_dir, capsys, fraction, drop_fingerprint):
    data = shipped(".onnx").read_bytes()
    add_copy(models_dir, "half-copied", data[: int(len(data) * fraction)], drop_fingerprint=drop_fingerprint)
    rows = listing(capsys)
    broken = rows["half-copied"]
    assert broken["error"] and "half-copied.onnx" in broken["error"]
    assert "incomplete" in broken["error"] or "cut short" in broken["error"]
    assert broken["publictest_acc"] is None and broken["default"] is False
    assert rows[SHIPPED]["error"] is None and rows[SHIPPED]["default"] is True
    with pytest.raises(ModelLoadError, match="half-copied"):
        ModelRegistry().load("half-copied", provider="cpu")


def test_same_size_damage_is_caught_by_the_hash(models_dir, capsys):
    data = bytearray(shipped(".onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights: the protobuf frame still looks whole
    add_copy(models_dir, "bit-rot", bytes(data))
    assert protobuf_problem(models_dir / "bit-rot.onnx") is None
    error = listing(capsys)["bit-rot"]["error"]
    assert error and "sha256" in error and "damaged" in error


def test_not_an_onnx_file_is_named(models_dir, capsys):
    add_copy(models_dir, "notes", b"\x08\x07garbage" * 10, drop_fingerprint=True)
    assert "not an ONNX model" in listing(capsys)["notes"]["error"]


def test_two_default_cards_are_refused_with_both_names(models_dir, capsys):
    add_copy(models_dir, "poster-copy", shipped(".onnx").read_bytes())  # a whole copy, card says default: true
    with pytest.raises(ModelLoadError, match=r"poster-copy.*poster-small|poster-small.*poster-copy"):
        ModelRegistry().default()
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert "poster-copy.json" in err and "poster-small.json" in err and "default" in err
    add_copy(models_dir, "poster-copy", shipped(".onnx").read_bytes(), {"default": False})
    assert ModelRegistry().default().name == SHIPPED


def test_save_card_writes_the_fingerprint_of_the_finished_file(tmp_path):
    pytest.importorskip("onnx")
    from training.evaluate import save_card

    model = tmp_path / "m.onnx"
    shutil.copy(shipped(".onnx"), model)
    card = json.loads(shipped(".json").read_text())
    card["onnx"] = {"opset": 17, "sha256": "stale", "bytes": 1}
    save_card(model, card)
    written = json.loads(model.with_suffix(".json").read_text())["onnx"]
    assert written["bytes"] == model.stat().st_size and written["sha256"] == file_sha256(model)
    assert ModelRegistry(tmp_path).get("m").usable
    import onnx

    from app.inference.card import METADATA_KEY

    meta = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    assert "sha256" not in json.loads(meta[METADATA_KEY])["onnx"]  # a file cannot hold its own hash


def test_the_listing_reads_as_a_table_with_the_default_marked_and_broken_models_explained(models_dir, capsys):
    add_copy(models_dir, "notes", b"\x08\x07garbage" * 10, drop_fingerprint=True)
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["model", "publictest", "AffectNet"]
    shipped_row = next(line for line in lines if line.startswith(SHIPPED))
    card = json.loads(shipped(".json").read_text())
    assert shipped_row.startswith(f"{SHIPPED} *") and f"{100 * card['metrics']['publictest_acc']:.1f}%" in shipped_row
    assert "unusable: " in next(line for line in lines if line.startswith("notes"))
