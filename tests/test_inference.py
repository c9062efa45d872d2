"""Model cards, the ONNX Runtime engine and the models folder, on real (tiny) ONNX graphs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

pytest.importorskip("onnx")

from app.errors import ModelLoadError, ProviderError, UnknownModelError  # noqa: E402
from app.inference import InferenceEngine, ModelCard, ModelRegistry  # noqa: E402
from app.inference.providers import short_ort_error  # noqa: E402
from app.inference.registry import default_models_dir  # noqa: E402
from tests.onnx_factory import REMOVE, default_card, make_model, merge_overrides  # noqa: E402

EXPRESSIONS7 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture(scope="module")
def gray_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("gray") / "tiny-gray.onnx")


@pytest.fixture(scope="module")
def engine(gray_model) -> InferenceEngine:
    return InferenceEngine(gray_model, provider="cpu")


def crops(n: int, size: int = 48, color: bool = False, seed: int = 0) -> np.ndarray:
    shape = (n, size, size, 3) if color else (n, size, size)
    # each face a different brightness so the tiny model (a global average pool) gives each its own answer
    base = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    return np.clip(base // 2 + (np.arange(n) * 60).reshape((n,) + (1,) * (len(shape) - 1)), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------- card
def card_dict(**changes) -> dict:
    data = default_card("apvit-small", EXPRESSIONS7, 112, 3, landmarks=True, params=1234)
    data["metrics"] = {"publictest_acc": 0.684, "ckplus_acc": 0.9}
    data["custom_note"] = "kept"
    data.update(changes)
    return data


def test_card_round_trip_through_dict_and_json(tmp_path):
    data = card_dict()
    card = ModelCard.from_dict(data)
    assert card.to_dict() == {**data, "default": False}
    card.to_json(tmp_path / "c.json")
    again = ModelCard.from_json(tmp_path / "c.json")
    assert again == card
    assert (card.channels, card.uses_landmarks, card.accuracy) == (3, True, 0.684)
    assert card.display_name == "apvit-small (FER2013 68.4%)"  # the only accuracy measured
    with_camera = ModelCard.from_dict(card_dict(metrics={"publictest_acc": 0.684, "affectnet_acc": 0.671}))
    assert with_camera.display_name == "apvit-small (AffectNet 67.1%)"  # the closest to a camera's faces


def test_card_without_accuracy_and_gray():
    card = ModelCard.from_dict(default_card("poster-s", EXPRESSIONS7, 48, 1, landmarks=False))
    assert (card.channels, card.uses_landmarks, card.accuracy, card.display_name) == (1, False, None, "poster-s")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"classes": REMOVE}, "classes", "missing"),
        ({"input": {"size": REMOVE}}, "input.size", "missing"),
        ({"name": 5}, "name", "must be a string"),
        ({"input": {"size": "112"}}, "input.size", "must be an integer"),
        ({"input": {"color": "hsv"}}, "input.color", "must be one of gray, rgb, bgr"),
        ({"classes": []}, "classes", "empty"),
        ({"input": {"mean": [0.5]}}, "input.mean", "3 channel"),
        ({"input": {"color": "gray"}}, "input.mean", "1 channel"),
        ({"input": {"std": [0.5, 0.5]}}, "input.std", "3 channel"),
        ({"architecture": "resnet"}, "architecture", "must be one of"),
        ({"params": 1.5}, "params", "must be an integer"),
    ],
)
def test_card_validation_names_file_and_field(tmp_path, change, field, words):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(merge_overrides(card_dict(), change)))
    with pytest.raises(ModelLoadError) as info:
        ModelCard.from_json(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message and words in message


def test_card_file_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        ModelCard.from_json(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{'name': __import__('os')}")
    with pytest.raises(ModelLoadError, match=r"bad\.json is not valid JSON"):
        ModelCard.from_json(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="must be a JSON object"):
        ModelCard.from_json(bad)


# -------------------------------------------------------------------------------------------------------- engine
def test_engine_reports_what_really_loaded(engine):
    assert engine.providers == engine.session.get_providers()
    assert engine.provider == "cpu" and engine.providers[0] == "CPUExecutionProvider"
    assert engine.fallback_note is None  # CPU was asked for, nothing was skipped
    assert engine.card.name == "tiny-gray" and engine.classes == EXPRESSIONS7


def test_auto_uses_the_best_provider_that_loads_and_says_why_it_fell_back(gray_model):
    auto = InferenceEngine(gray_model, provider="auto")
    assert auto.providers == auto.session.get_providers()
    gpu_listed = {"TensorrtExecutionProvider", "CUDAExecutionProvider"} & set(ort.get_available_providers())
    if auto.provider == "cpu" and gpu_listed:
        assert auto.fallback_note and auto.fallback_note.endswith("running on CPU")
        assert "unavailable (" in auto.fallback_note
    elif auto.provider != "cpu":
        assert auto.fallback_note is None or "running on" in auto.fallback_note


def test_explicit_cuda_that_does_not_load_is_an_error(gray_model):
    try:
        cuda = InferenceEngine(gray_model, provider="cuda")
    except ProviderError as exc:
        assert "CUDA" in str(exc)
        if "CUDAExecutionProvider" in ort.get_available_providers():
            assert "CPU" in str(exc)  # says what loaded instead
        return
    assert cuda.provider == "cuda"
    pytest.skip("CUDA really loads on this machine")


def test_unknown_provider_name(gray_model):
    with pytest.raises(ProviderError, match="unknown provider 'gpu'"):
        InferenceEngine(gray_model, provider="gpu")


def test_predict_batches_all_faces_in_one_call(engine):
    faces = crops(3)
    probs = engine.predict(faces)
    assert probs.shape == (3, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    singles = np.concatenate([engine.predict(faces[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(probs, singles, atol=1e-6)
    assert not np.allclose(probs[0], probs[2])  # different faces, different answers
    assert engine.last_ms > 0


def test_empty_batch_does_not_call_onnx_runtime(engine, monkeypatch):
    def no_run(*args):
        raise AssertionError("ONNX Runtime called for zero faces")

    monkeypatch.setattr(engine, "_run", no_run)
    out = engine.predict(np.zeros((0, 48, 48), np.uint8))
    assert out.shape == (0, 7) and out.dtype == np.float32


def test_preprocess_converts_colour_resizes_and_normalises(tmp_path, engine):
    bgr = crops(2, size=64, color=True)
    x = engine.preprocess(bgr)  # grey model given BGR crops of another size
    gray = np.stack(
        [cv2.resize(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA) for c in bgr]
    )
    assert x.shape == (2, 1, 48, 48) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x[:, 0], (gray / 255.0 - 0.5) / 0.5, atol=1e-5)

    rgb_model = make_model(tmp_path / "rgb.onnx", channels=3, card_overrides={"input": {"mean": [0.1, 0.2, 0.3]}})
    rgb = InferenceEngine(rgb_model, provider="cpu")
    bgr48 = crops(2, color=True)
    y = rgb.preprocess(bgr48)
    assert y.shape == (2, 3, 48, 48)
    np.testing.assert_allclose(y[:, 0], (bgr48[..., 2] / 255.0 - 0.1) / 0.5, atol=1e-5)  # R first
    np.testing.assert_allclose(y[:, 2], (bgr48[..., 0] / 255.0 - 0.3) / 0.5, atol=1e-5)
    assert rgb.preprocess(crops(1)).shape == (1, 3, 48, 48)  # grey crops are replicated to 3 channels


def test_landmark_model_reads_landmarks_and_card_from_metadata(tmp_path):
    path = make_model(tmp_path / "lm.onnx", channels=3, landmarks=True, write_card=False)
    eng = InferenceEngine(path, provider="cpu")  # no JSON beside it: the card comes from the ONNX metadata
    assert eng.card.uses_landmarks and eng.card.name == "lm"
    faces = crops(2, color=True)
    lms = np.random.default_rng(1).uniform(0, 1, (2, 478, 3)).astype(np.float32)
    a, b = eng.predict(faces, lms), eng.predict(faces, lms + 0.3)
    assert a.shape == (2, 7) and not np.allclose(a, b)
    with pytest.raises(ValueError, match="needs the aligned landmarks"):
        eng.predict(faces)


def test_model_without_any_card(tmp_path):
    path = make_model(tmp_path / "bare.onnx", write_card=False, embed_card=False)
    with pytest.raises(ModelLoadError, match="no model card"):
        InferenceEngine(path, provider="cpu")


@pytest.mark.parametrize(
    ("graph", "overrides", "cause"),
    [
        ({"channels": 1}, {"input": {"color": "rgb", "mean": [0.5] * 3, "std": [0.5] * 3}}, "channels"),
        ({"classes": 7}, {"classes": ["a", "b", "c", "d", "e"]}, "classes"),
        ({"landmarks": False}, {"input": {"landmarks": "mediapipe478"}}, "no 'landmarks' input"),
        ({"landmarks": True}, {"input": {"landmarks": "none"}}, "has a 'landmarks' input"),
        ({"size": 48}, {"input": {"size": 64}}, "card input.size"),
    ],
)
def test_card_and_graph_disagreement_is_refused(tmp_path, graph, overrides, cause):
    path = make_model(tmp_path / "m.onnx", card_overrides=overrides, **graph)
    with pytest.raises(ModelLoadError) as info:
        InferenceEngine(path, provider="cpu")
    assert str(path) in str(info.value) and "disagree" in str(info.value) and cause in str(info.value)


def test_missing_corrupt_and_truncated_files(tmp_path, gray_model):
    with pytest.raises(ModelLoadError, match="not found"):
        InferenceEngine(tmp_path / "nothing.onnx")
    card = gray_model.with_suffix(".json").read_text()
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "corrupt.json").write_text(card)
    truncated = tmp_path / "truncated.onnx"
    data = gray_model.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    (tmp_path / "truncated.json").write_text(card)
    for path in (corrupt, truncated):
        with pytest.raises(ModelLoadError) as info:
            InferenceEngine(path)  # auto: the GPU attempts fail too, the error must still be about the file
        message = str(info.value)
        assert str(path) in message and "not a valid ONNX model" in message
        assert "[ONNXRuntimeError]" not in message and len(message) < len(str(path)) + 220


def test_short_ort_error_keeps_the_reason():
    raw = "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from /x/m.onnx failed:Protobuf parsing failed."
    assert short_ort_error(RuntimeError(raw)) == "Protobuf parsing failed."


# ------------------------------------------------------------------------------------------------------ registry
@pytest.fixture
def models_dir(tmp_path) -> Path:
    make_model(tmp_path / "a-large.onnx", card_overrides={"size": "large", "metrics": {"publictest_acc": 0.72}})
    make_model(tmp_path / "b-small.onnx", card_overrides={"metrics": {"publictest_acc": 0.61}})
    make_model(tmp_path / "c-small.onnx", card_overrides={"metrics": {"publictest_acc": 0.66}})
    make_model(tmp_path / "d-broken.onnx", card_overrides={"input": {"color": "hsv"}})
    make_model(tmp_path / "e-nocard.onnx", write_card=False)
    return tmp_path


def test_registry_lists_valid_and_invalid_entries(models_dir):
    entries = ModelRegistry(models_dir).entries()
    assert [e.name for e in entries] == ["a-large", "b-small", "c-small", "d-broken", "e-nocard"]
    by_name = {e.name: e for e in entries}
    assert by_name["b-small"].usable and by_name["b-small"].card.accuracy == 0.61
    assert not by_name["d-broken"].usable and "input.color" in by_name["d-broken"].error
    assert not by_name["e-nocard"].usable and "e-nocard.json is missing" in by_name["e-nocard"].error


def test_registry_default_prefers_flag_then_best_small(models_dir):
    reg = ModelRegistry(models_dir)
    assert reg.default().name == "c-small"  # a-large is more accurate but not CPU-sized
    card = json.loads((models_dir / "a-large.json").read_text())
    (models_dir / "a-large.json").write_text(json.dumps({**card, "default": True}))
    assert reg.default().name == "a-large"
    assert ModelRegistry(models_dir / "empty").default() is None


def test_registry_get_and_load(models_dir):
    reg = ModelRegistry(models_dir)
    with pytest.raises(UnknownModelError) as info:
        reg.get("poster-huge")
    assert "poster-huge" in str(info.value) and "a-large, b-small, c-small, d-broken, e-nocard" in str(info.value)
    eng = reg.load("c-small", provider="cpu")
    assert eng.card.name == "c-small" and eng.predict(crops(1)).shape == (1, 7)
    with pytest.raises(ModelLoadError, match="input.color"):
        reg.load("d-broken")


def test_default_models_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FERLIVE_MODELS", str(tmp_path))
    assert default_models_dir() == tmp_path
    monkeypatch.delenv("FERLIVE_MODELS")
    assert default_models_dir().name == "models" and (default_models_dir().parent / "app").is_dir()
