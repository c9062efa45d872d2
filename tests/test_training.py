"""Each architecture builds, trains a few hundred steps on real FER2013 faces with falling loss, exports to
ONNX within the parity tolerance, and evaluates through the app's pipeline exactly as the checkpoint does."""

import json

import numpy as np
import pytest
import torch

from tests.datapaths import data_dir, require_data

pytestmark = pytest.mark.slow

ARCHS = ["apvit", "poster", "ferformer"]


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    """A real 1,500-image slice of FER2013 (train + publictest) in the shared archive format."""
    src = require_data(data_dir() / "fer2013.npz")
    d = np.load(src)
    rng = np.random.default_rng(0)
    tr = rng.choice(np.where(d["split"] == "train")[0], 1200, replace=False)
    va = rng.choice(np.where(d["split"] == "publictest")[0], 300, replace=False)
    idx = np.concatenate([tr, va])
    path = tmp_path_factory.mktemp("data") / "fer_slice.npz"
    np.savez(path, images=d["images"][idx], labels=d["labels"][idx], split=d["split"][idx], classes=d["classes"],
             face_crops=np.array(True))
    return path


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FERLIVE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("arch", ARCHS)
def test_train_export_evaluate_round_trip(arch, small_archive, tmp_path):
    from training.config import load_config
    from training.evaluate import evaluate
    from training.export import export
    from training.train import train

    torch.set_num_threads(2)
    cfg = load_config(arch, "tiny", overrides={"epochs": 6, "batch_size": 32, "lr": 3e-3, "warmup_epochs": 1})
    state = train(cfg, str(small_archive), tmp_path / "run")
    losses = [h["train_loss"] for h in state["history"]]
    assert len(state["history"]) * 38 >= 200  # a few hundred optimiser steps
    assert losses[-1] < losses[0] - 0.02, losses
    assert (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "curves.png").exists()

    onnx_path = tmp_path / "models" / f"{arch}-tiny.onnx"
    card = export(tmp_path / "run" / "best.pt", onnx_path)
    assert card["onnx"]["parity_max_abs"] <= 1e-3
    saved = json.loads(onnx_path.with_suffix(".json").read_text())
    assert saved["input"]["landmarks"] == ("mediapipe478" if arch == "poster" else "none")
    assert saved["gmacs"] > 0 and saved["params"] > 0
    assert saved["tta"] == "hflip"
    assert 1000 < sum(saved["prior_correction"]["train_counts"]) <= 1200  # the usable part of 1,200 train images
    assert [st["epochs"] for st in saved["train"]["stages"]] == [6] and saved["train"]["total_epochs"] == 6

    result = evaluate(onnx_path, small_archive, "publictest", tmp_path / "reports",
                      checkpoint=tmp_path / "run" / "best.pt", provider="cpu")
    assert result["images"] == 300
    assert result["detection_coverage"] > 0.85  # MediaPipe finds most FER2013 faces once upscaled
    assert result["prediction_agreement"] >= 0.99
    assert abs(result["accuracy"] - result["checkpoint_accuracy"]) <= 1 / 300
    assert (tmp_path / "reports").glob("*confusion.png")


def test_resume_continues_from_last_checkpoint(small_archive, tmp_path):
    from training.config import load_config
    from training.train import train

    cfg = load_config("apvit", "tiny", overrides={"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 5})
    train(cfg, str(small_archive), tmp_path / "run")
    cfg["epochs"] = 2
    state = train(cfg, str(small_archive), tmp_path / "run", resume=True)
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["step"] == 10


def test_flip_augmentation_mirrors_landmark_identity():
    from app.face.align import canonical_shape
    from training.data.augment import augment_batch

    lm = torch.from_numpy(canonical_shape().copy())[None]
    img = torch.zeros(1, 1, 32, 32)
    img[..., :, :8] = 1.0  # bright stripe on the left
    out, lm2 = augment_batch(img, lm, flip_p=1.0, max_rotate=0, scale=(1, 1), max_shift=0, erase_p=0, jitter=0)
    assert out[0, 0, :, -8:].mean() > 0.9 and out[0, 0, :, :8].mean() < 0.1
    # after the mirror, index 468 sits at image left again, as MediaPipe would label the mirrored face
    assert lm2[0, 468, 0] < 0.5 and lm2[0, 473, 0] > 0.5
    np.testing.assert_allclose(lm2[0, 468, 0], 1 - lm[0, 473, 0], atol=0.02)


def test_flip_average_sees_a_face_and_its_mirror_alike():
    """The shipped mirror test-time augmentation is invariant to flipping the input, and differs from one view."""
    from training.checkpoint import shipped_module
    from training.models import create_model

    torch.manual_seed(0)
    model = create_model("apvit", "tiny", num_classes=7)
    tta, plain = shipped_module(model, "hflip"), shipped_module(model, "none")
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        p, p_mirror = tta(x), tta(x.flip(-1))
        one_view = plain(x)
    torch.testing.assert_close(p, p_mirror, atol=1e-5, rtol=0)
    torch.testing.assert_close(p, (one_view + plain(x.flip(-1))) / 2, atol=1e-5, rtol=0)
    assert not torch.allclose(p, one_view, atol=1e-4)
    with pytest.raises(ValueError, match="hflip"):
        shipped_module(model, "tencrop")


def test_distillation_from_a_trained_teacher(small_archive, tmp_path):
    """A poster checkpoint teaches an apvit student; the card names the teacher; mismatched input is refused."""
    from training.config import load_config
    from training.distill import Teacher, distillation_loss
    from training.export import export
    from training.models import model_config
    from training.train import train

    logits = torch.randn(8, 7)
    assert distillation_loss(logits, logits, 2.0).abs() < 1e-6
    assert distillation_loss(logits, torch.randn(8, 7), 2.0) > 0.01

    quick = {"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 5}
    train(load_config("poster", "tiny", overrides=quick), str(small_archive), tmp_path / "teacher")
    teacher = tmp_path / "teacher" / "best.pt"
    cfg = load_config("apvit", "tiny", overrides={**quick, "teacher": str(teacher), "kd_weight": 0.7})
    state = train(cfg, str(small_archive), tmp_path / "student")
    assert np.isfinite(state["history"][0]["train_loss"])
    card = export(tmp_path / "student" / "best.pt", tmp_path / "apvit-tiny.onnx")
    assert card["train"]["distilled_from"].endswith("best.pt")
    assert "--teacher" in card["train"]["command"] and "--kd-weight 0.7" in card["train"]["command"]

    small = load_config("apvit", "small")
    with pytest.raises(ValueError, match="input size"):
        Teacher(teacher, small, model_config("apvit", "small"), torch.device("cpu"))


def test_prior_correction_restores_the_training_prior():
    """Balanced sampling flattens the learned prior; the shipped head multiplies it back in and renormalises."""
    from training.checkpoint import PriorCorrection, prior_weights

    counts = [4000, 400, 4000, 7000, 4800, 3100, 4900]
    w = prior_weights(counts, "sqrt")
    np.testing.assert_allclose(w, np.sqrt(counts) / np.sqrt(7000), rtol=1e-5)
    assert prior_weights(counts, "none") is None
    assert prior_weights(counts, "full")[1] == pytest.approx(400 / 7000, rel=1e-4)

    class Flat(torch.nn.Module):  # a model with no idea: uniform probabilities
        def forward(self, image, landmarks=None):
            return torch.full((image.shape[0], 7), 1 / 7)

    p = PriorCorrection(Flat(), w)(torch.zeros(3, 1, 8, 8))
    torch.testing.assert_close(p.sum(-1), torch.ones(3))
    assert (p.argmax(-1) == 3).all()  # with no evidence, the most frequent training class wins
    assert p[0, 1] < p[0, 0] < p[0, 3]


def test_config_file_is_recorded_in_the_stage_command(small_archive, tmp_path):
    """A stage trained from a non-default config file names that file in the card's reproduction command."""
    from training.export import stage_command
    from training.train import main

    config = tmp_path / "light.json"
    config.write_text(json.dumps({"batch_size": 32, "augment": {"erase_p": 0.0}}))
    main(["--arch", "apvit", "--size", "tiny", "--data", str(small_archive), "--config", str(config), "--epochs", "1",
          "--max-steps-per-epoch", "3", "--out", str(tmp_path / "run")])
    ckpt = torch.load(tmp_path / "run" / "best.pt", map_location="cpu", weights_only=False)
    assert ckpt["config"]["augment"] == {"erase_p": 0.0}
    assert f"--config {config}" in stage_command(ckpt)


@pytest.mark.parametrize("color", ["gray", "rgb", "bgr"])
def test_training_sees_the_channel_order_the_app_feeds(color):
    """Cached crops are the app's BGR (or grey) alignment output; a colour model must be trained on the channels
    in the order the engine hands it, or it learns blue for red."""
    import cv2

    from app.inference.engine import _convert_color
    from training.train import channels_first

    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)
    bgr[..., 0] = 255  # a blue face: the first channel of BGR
    crops = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in bgr]) if color == "gray" else bgr
    trained = channels_first(crops, color).numpy()
    fed = _convert_color(bgr, color).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(trained, fed)
    if color == "rgb":
        assert (trained[:, 2] == 255).all() and not (trained[:, 0] == 255).all()


def test_a_grey_checkpoint_starts_a_colour_model_where_it_left_off():
    """Colour input is tried by fine-tuning the grey model: on a grey face (three equal channels) the colour model's
    first answer must be the grey model's."""
    import torch

    from training.checkpoint import load_init_weights
    from training.models import create_model

    torch.manual_seed(0)
    grey = create_model("poster", "tiny", num_classes=7).eval()
    colour = create_model("poster", "tiny", num_classes=7, in_ch=3).eval()
    spread = load_init_weights(colour, grey.state_dict())
    assert len(spread) == 1 and spread[0].startswith("stem.entry")
    x, lm = torch.rand(2, 1, 32, 32), torch.rand(2, 478, 3)
    with torch.no_grad():
        assert torch.allclose(grey(x, lm)["logits"], colour(x.repeat(1, 3, 1, 1), lm)["logits"], atol=1e-5)
    assert load_init_weights(grey, grey.state_dict()) == []  # same shapes: a plain load


def test_a_small_input_checkpoint_starts_a_larger_input_model_with_its_position_grid_resampled():
    """A 64 px model is tried by fine-tuning the 48 px one: every weight carries over, and each position embedding
    grid is resampled so a token keeps the embedding of its place on the face."""
    import torch

    from training.checkpoint import load_init_weights
    from training.models import create_model

    torch.manual_seed(0)
    small = create_model("poster", "tiny", num_classes=7).eval()
    with torch.no_grad():  # a left-to-right ramp over the 16x16 grid of a 32 px face
        ramp = torch.linspace(-1, 1, 16).repeat(16).reshape(1, 256, 1)
        small.img_pos[0].copy_(ramp.expand_as(small.img_pos[0]))
    large = create_model("poster", "tiny", num_classes=7, input_size=48).eval()
    adapted = load_init_weights(large, small.state_dict())
    assert sorted(adapted) == ["img_pos.0", "img_pos.1", "img_pos.2"]  # 16, 8, 4 a side -> 24, 12, 6
    grid = large.img_pos[0][0, :, 0].reshape(24, 24)
    assert torch.allclose(grid[0], grid[5]) and (grid[0].diff() > 0).all()  # still a ramp along x only
    assert abs(grid[0, 0].item() + grid[0, -1].item()) < 1e-5 and grid[0, -1] > 0.9
    assert torch.equal(large.head.weight, small.head.weight)
    with torch.no_grad():
        assert large(torch.rand(2, 1, 48, 48), torch.rand(2, 478, 3))["logits"].shape == (2, 7)


@pytest.mark.parametrize("color, channels", [("gray", 1), ("rgb", 3)])
def test_a_card_spells_out_the_normalisation_per_channel_so_the_app_loads_a_colour_model(color, channels):
    from app.inference.card import ModelCard
    from training.export import input_spec

    spec = input_spec({"color": color, "mean": [0.5], "std": [0.25]}, {"input_size": 48}, True)
    assert spec["mean"] == [0.5] * channels and spec["std"] == [0.25] * channels
    card = ModelCard.from_dict({"name": "m", "architecture": "poster", "size": "small", "classes": ["a", "b"],
                               "input": spec})
    assert card.input.channels == channels


def test_frozen_batch_norm_keeps_its_statistics_while_the_weights_learn(small_archive, tmp_path):
    from training.config import load_config
    from training.train import train

    def norm_stats(run):
        ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
        return {k: v for k, v in ckpt["model"].items() if k.endswith(("running_mean", "running_var"))}, ckpt

    base = {"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 4, "warmup_epochs": 0}
    train(load_config("poster", "tiny", overrides=base), str(small_archive), tmp_path / "start")
    start, start_ckpt = norm_stats(tmp_path / "start")
    assert start
    for freeze in (True, False):
        cfg = load_config("poster", "tiny", overrides={**base, "freeze_norm": freeze})
        train(cfg, str(small_archive), tmp_path / f"freeze_{freeze}", init=str(tmp_path / "start" / "last.pt"))
        after, ckpt = norm_stats(tmp_path / f"freeze_{freeze}")
        same = all(torch.equal(start[k], after[k]) for k in start)
        assert same is freeze
        weights = [k for k in ckpt["model"] if k.endswith("weight")]
        assert any(not torch.equal(ckpt["model"][k], start_ckpt["model"][k]) for k in weights)  # they train either way
