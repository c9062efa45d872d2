"""Cached teacher probabilities: one pass of real ONNX models over real faces, resumable, and blended into the
targets of exactly the faces it covers."""

import numpy as np
import pytest

from tests.datapaths import write_fer_slice

TEACHERS = ["models/ferformer-small.onnx", "models/apvit-small.onnx"]


@pytest.fixture
def fer_slice(tmp_path, monkeypatch):
    monkeypatch.setenv("FERLIVE_CACHE", str(tmp_path / "cache"))
    return write_fer_slice(tmp_path / "fer_slice.npz", {"train": 40, "publictest": 12}, seed=3)


def test_teacher_pass_resumes_and_covers_only_its_splits(fer_slice, tmp_path, monkeypatch):
    from pathlib import Path

    from app.inference.engine import InferenceEngine
    from training import teacher_probs

    models = [Path(m) for m in TEACHERS]
    full = teacher_probs.cache_teacher(models, fer_slice, tmp_path / "full.npz")
    probs, meta = teacher_probs.load_teacher(full)
    split = np.load(fer_slice)["split"]
    covered = ~np.isnan(probs).any(1)
    assert covered[split == "publictest"].sum() == 0 and covered[split == "train"].all()
    assert np.allclose(probs[covered].sum(1), 1.0, atol=1e-4)
    assert meta["models"] == [str(m) for m in models] and meta["dataset"] == "fer_slice"

    # an interrupted pass: the first 16 faces are in the .part file; the rerun predicts only the rest
    monkeypatch.setattr(teacher_probs, "CHUNK", 16)
    out = tmp_path / "resumed.npz"
    part_probs = np.where(np.arange(len(probs))[:, None] < 16, probs, np.nan).astype(np.float32)
    np.savez(out.with_suffix(".part.npz"), probs=part_probs, done=16)
    seen = []
    real_predict = InferenceEngine.predict
    monkeypatch.setattr(InferenceEngine, "predict", lambda self, x, lm=None: seen.append(len(x)) or
                        real_predict(self, x, lm))
    teacher_probs.cache_teacher(models, fer_slice, out)
    assert sum(seen) == len(models) * (covered.sum() - 16)
    assert np.allclose(teacher_probs.load_teacher(out)[0], probs, equal_nan=True, atol=1e-5)
    assert not out.with_suffix(".part.npz").exists()


def test_soften_spreads_and_keeps_the_order():
    from training.teacher_probs import soften

    p = np.array([[0.7, 0.2, 0.1]], np.float32)
    s = soften(p, 2.0)
    assert np.allclose(s.sum(), 1.0) and s[0, 0] < 0.7 and (np.argsort(s[0]) == np.argsort(p[0])).all()
    assert np.allclose(soften(p, 1.0), p)


def test_teacher_blends_into_its_dataset_only(fer_slice, tmp_path):
    from pathlib import Path

    from training import teacher_probs
    from training.data.mixture import load_mixture

    out = teacher_probs.cache_teacher([Path(TEACHERS[0])], fer_slice, tmp_path / "t.npz")
    probs, meta = teacher_probs.load_teacher(out)
    mix = load_mixture([fer_slice], 48, gray=True)
    onehot = mix.targets.copy()
    assert mix.blend_teacher(meta["dataset"], probs, 0.5) == len(mix.labels)
    assert np.allclose(mix.targets, 0.5 * onehot + 0.5 * probs[mix.rows])
    with pytest.raises(ValueError, match="affectnet96"):
        mix.blend_teacher("affectnet96", probs, 0.5)
