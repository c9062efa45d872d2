"""Moving training to a rented GPU: the prepared-data bundle, the split checkpoint, the time budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.test_training import cache_in_tmp, small_archive  # noqa: F401  (fixtures)


def test_bundle_keeps_images_exact_and_landmarks_close(small_archive, tmp_path):  # noqa: F811
    from training.data.bundle import pack, unpack
    from training.data.prepare import load_or_prepare

    prep = load_or_prepare(small_archive, 32, gray=True)
    path = tmp_path / "slice.bundle.npz"
    report = pack(prep, path, components=48)
    back = unpack(path)
    assert np.array_equal(back.images, prep.images)
    assert np.array_equal(back.labels, prep.labels) and np.array_equal(back.split, prep.split)
    err = np.abs(back.landmarks.astype(np.float32) - prep.landmarks.astype(np.float32))[prep.usable]
    assert err.max() <= report["landmark_max_error"] + 2e-3 and err.mean() < 2e-3, (err.max(), report)
    assert report["bytes"] < prep.images.nbytes + prep.landmarks.nbytes / 4
    assert len(load_or_prepare(path, 32, gray=True).labels) == len(prep.labels)
    with pytest.raises(ValueError, match="48 px"):
        load_or_prepare(path, 48, gray=True)


def test_lossy_bundle_is_smaller_and_close_to_the_faces(small_archive, tmp_path):  # noqa: F811
    """Two datasets must fit one transfer: lossy WebP halves the images and moves pixels by a grey level or two."""
    from training.data.bundle import pack, unpack
    from training.data.prepare import load_or_prepare

    prep = load_or_prepare(small_archive, 32, gray=True)
    lossless = pack(prep, tmp_path / "exact.bundle.npz", components=48)
    lossy = pack(prep, tmp_path / "q90.bundle.npz", components=48, quality=90)
    assert lossy["image_quality"] == 90 and lossless["image_quality"] == "lossless"
    assert lossy["bytes"] < 0.8 * lossless["bytes"], (lossy, lossless)
    back = unpack(tmp_path / "q90.bundle.npz")
    diff = np.abs(back.images.astype(np.int16) - prep.images.astype(np.int16))
    assert not np.array_equal(back.images, prep.images) and diff.mean() < 4, diff.mean()
    with pytest.raises(ValueError, match="WebP quality"):
        pack(prep, tmp_path / "bad.bundle.npz", quality=0)


def test_training_reads_a_bundle_and_a_split_checkpoint_joins_back(small_archive, tmp_path):  # noqa: F811
    from training.carry import join, split
    from training.checkpoint import load_checkpoint
    from training.config import load_config
    from training.data.bundle import pack
    from training.data.prepare import load_or_prepare
    from training.train import train

    bundle = tmp_path / "slice.bundle.npz"
    pack(load_or_prepare(small_archive, 32, gray=True), bundle)
    cfg = load_config("poster", "tiny", overrides={"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 3})
    train(cfg, str(bundle), tmp_path / "run")
    parts = split(tmp_path / "run" / "best.pt", tmp_path / "out" / "poster_tiny", limit=20_000)
    assert len(parts) > 1 and all(p.stat().st_size < 40_000 for p in parts)
    with pytest.raises(ValueError, match="part files"):
        join(parts[:-1], tmp_path / "broken.pt")
    join(parts, tmp_path / "joined.pt")
    original, _ = load_checkpoint(tmp_path / "run" / "best.pt")
    joined, ckpt = load_checkpoint(tmp_path / "joined.pt")
    assert "optimizer" not in ckpt and ckpt["state"]["epoch"] == 1
    x, lm = torch.rand(4, 1, 32, 32), torch.rand(4, 478, 3)
    with torch.no_grad():
        a, b = original(x, lm)["logits"].softmax(-1), joined(x, lm)["logits"].softmax(-1)
    assert torch.allclose(a, b, atol=5e-3)
    relinked = join(parts, tmp_path / "relinked.pt", parent=tmp_path / "joined.pt")
    assert relinked["config"]["init"] == str(tmp_path / "joined.pt")
    with pytest.raises(FileNotFoundError, match="--parent"):
        join(parts, tmp_path / "orphan.pt", parent=tmp_path / "nowhere.pt")


def test_time_budget_fits_whole_epochs():
    from training.train import epochs_within

    assert epochs_within(10, elapsed_s=60, epoch_s=6, done=2, planned=200) == 83
    assert epochs_within(10, elapsed_s=60, epoch_s=6, done=2, planned=50) == 50
    assert epochs_within(1, elapsed_s=300, epoch_s=6, done=2, planned=200) == 2  # over budget: stop now


def test_a_bundle_trains_like_its_archive_with_votes_and_teacher(tmp_path, monkeypatch):
    """A GPU machine sees only bundles: they keep the dataset's name (which teacher files name) and its crowd votes,
    so the mixture built from bundles has the archive's targets, validation names and teacher blend."""
    from tests.datapaths import write_fer_slice
    from training.data.bundle import main as bundle_main
    from training.data.mixture import load_mixture

    monkeypatch.setenv("FERLIVE_CACHE", str(tmp_path / "cache"))
    fer = write_fer_slice(tmp_path / "fer2013.npz", {"train": 60, "publictest": 20}, seed=3, votes=True)
    bundle = tmp_path / "gpu" / "fer2013_48g_q90.bundle.npz"
    bundle_main([str(fer), "--size", "48", "--quality", "90", "--out", str(bundle)])
    from_archive = load_mixture([fer], 48, True, vote_weight=0.5)
    from_bundle = load_mixture([bundle], 48, True, vote_weight=0.5)
    assert from_bundle.names == from_archive.names == ["fer2013"]
    assert [v.name for v in from_bundle.validation] == ["fer2013"]
    assert not np.allclose(from_archive.targets, np.eye(7)[from_archive.labels])  # the votes moved some targets
    assert np.allclose(from_bundle.targets, from_archive.targets, equal_nan=True)
    teacher = np.full((80, 7), 1 / 7, np.float32)  # rows of the prepared cache, as training.teacher_probs writes
    assert from_bundle.blend_teacher("fer2013", teacher, 0.5) == len(from_bundle.labels)
    assert np.allclose(from_bundle.targets.sum(1), 1.0)

    # a model trained there names the dataset, with its terms, not the bundle file
    from training.config import load_config
    from training.export import export
    from training.train import train

    small = tmp_path / "gpu" / "fer2013_32g_q90.bundle.npz"
    bundle_main([str(fer), "--size", "32", "--quality", "90", "--out", str(small)])
    train(load_config("poster", "tiny", overrides={"epochs": 1, "max_steps_per_epoch": 2}), [str(small)],
          tmp_path / "run")
    card = export(tmp_path / "run" / "best.pt", tmp_path / "m.onnx")
    assert [d["name"] for d in card["datasets"]] == ["fer2013"]
    assert "FERPlus" in card["datasets"][0]["terms"]
