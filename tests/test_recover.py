"""A shipped ONNX model turns back into a trainable checkpoint (``training.recover``), and a stem moves between
families (``training.transplant``): trained here on real FER2013 faces, exported, recovered, fine-tuned."""

import json

import numpy as np
import onnx
import pytest
import torch

from tests.test_training import cache_in_tmp, small_archive  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

QUICK = {"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 8}


def _train_and_export(arch, archive, tmp_path):
    from training.config import load_config
    from training.export import export
    from training.train import train

    train(load_config(arch, "tiny", overrides=QUICK), str(archive), tmp_path / arch)
    onnx_path = tmp_path / "models" / f"{arch}-tiny.onnx"
    export(tmp_path / arch / "best.pt", onnx_path)
    return onnx_path


@pytest.mark.parametrize("arch", ["apvit", "poster", "ferformer"])
def test_recovered_checkpoint_reproduces_the_shipped_model_and_trains_on(arch, small_archive, tmp_path):  # noqa: F811
    from training.checkpoint import load_checkpoint
    from training.export import export
    from training.recover import _parity_inputs, read_card
    from training.recover import main as recover_main
    from training.train import main

    torch.manual_seed(0)
    onnx_path = _train_and_export(arch, small_archive, tmp_path)
    out = tmp_path / "recovered.pt"
    recover_main([str(onnx_path), "--out", str(out), "--data", str(small_archive)])
    ckpt = torch.load(out, weights_only=False)
    assert ckpt["recovered"]["parity_max_abs"] <= 1e-4
    # the datasets the shipped model saw, not the archive that calibrated the rebuild
    assert ckpt["trained_on"] == [d["name"] for d in json.loads(onnx_path.with_suffix(".json").read_text())["datasets"]]
    # the card of a model built on this file tells how to redo this step, data included
    assert ckpt["recovered"]["stages"][-1]["recovered"]["command"].endswith(f"--data {small_archive}")

    # training-mode BatchNorm starts where the shipped model is (statistics measured on real faces)
    model, _ = load_checkpoint(out)
    inputs = _parity_inputs(read_card(onnx_path), small_archive, count=256)
    with torch.no_grad():
        eval_pred = model(*inputs)["logits"].argmax(-1)
        model.train()
        train_pred = model(*inputs)["logits"].argmax(-1)
    assert (eval_pred == train_pred).float().mean() >= 0.9

    # the next stage starts from it and its card still lists the stage that made the shipped model
    main(["--arch", arch, "--size", "tiny", "--data", str(small_archive), "--epochs", "1", "--batch-size", "32",
          "--max-steps-per-epoch", "3", "--init", str(out), "--out", str(tmp_path / "next")])
    card = export(tmp_path / "next" / "best.pt", tmp_path / "models" / f"{arch}-next.onnx")
    # the stage that made the shipped model, the recovery, the new stage
    stages = card["train"]["stages"]
    assert len(stages) == 3 and "recovered" in stages[1] and card["train"]["total_epochs"] == 2
    assert stages[1]["recovered"]["command"].startswith(f"python -m training.recover {onnx_path}")
    assert card["train"]["fine_tuned_from"].endswith("recovered.pt")


def test_recovery_refuses_a_card_that_does_not_match_the_graph(small_archive, tmp_path):  # noqa: F811
    from training.recover import RecoveryError, recover

    onnx_path = _train_and_export("apvit", small_archive, tmp_path)
    proto = onnx.load(str(onnx_path))
    for entry in proto.metadata_props:
        if entry.key.startswith("ferlive"):
            card = json.loads(entry.value)
            card["size"] = "small"  # the graph is the tiny one
            entry.value = json.dumps(card)
    onnx.save(proto, str(onnx_path))
    with pytest.raises(RecoveryError, match="does not match the graph"):
        recover(onnx_path, small_archive)


def test_recovery_refuses_a_rebuild_that_answers_differently(small_archive, tmp_path):  # noqa: F811
    """The per-face check (99% of faces within 1e-4) still refuses a model that is wrong on most faces: here the
    card's prior correction no longer matches the one baked into the graph."""
    from training.recover import RecoveryError, recover

    onnx_path = _train_and_export("apvit", small_archive, tmp_path)
    proto = onnx.load(str(onnx_path))
    for entry in proto.metadata_props:
        if entry.key.startswith("ferlive"):
            card = json.loads(entry.value)
            weights = card["prior_correction"]["class_weights"]
            card["prior_correction"]["class_weights"] = weights[::-1]
            entry.value = json.dumps(card)
    onnx.save(proto, str(onnx_path))
    with pytest.raises(RecoveryError, match="faces within"):
        recover(onnx_path, small_archive)


def test_transplant_moves_the_stem_between_families(small_archive, tmp_path):  # noqa: F811
    from training.config import load_config
    from training.train import train
    from training.transplant import main

    for arch in ("apvit", "ferformer"):
        train(load_config(arch, "tiny", overrides=QUICK), str(small_archive), tmp_path / arch)
    out = tmp_path / "apvit_with_ferformer_stem.pt"
    main([str(tmp_path / "apvit" / "best.pt"), "--donor", str(tmp_path / "ferformer" / "best.pt"), "--parts", "stem",
          "--out", str(out)])
    got = torch.load(out, map_location="cpu", weights_only=False)
    donor = torch.load(tmp_path / "ferformer" / "best.pt", map_location="cpu", weights_only=False)["model"]
    receiver = torch.load(tmp_path / "apvit" / "best.pt", map_location="cpu", weights_only=False)["model"]
    for name, value in got["model"].items():
        expected = donor[name] if name.startswith("stem.") else receiver[name]
        assert torch.equal(value, expected), name
    assert got["transplant"]["copied_tensors"] == sum(n.startswith("stem.") for n in receiver)
    assert np.isfinite(sum(v.float().sum().item() for v in got["model"].values()))
