"""training.interpolate: the weights between a parent and its fine-tune (WiSE-FT)."""

import pytest

torch = pytest.importorskip("torch")

from training.interpolate import interpolate  # noqa: E402
from training.models import create_model  # noqa: E402


def _checkpoint(seed: int) -> dict:
    """A tiny POSTER with random weights and random BatchNorm statistics, as a training checkpoint stores it."""
    torch.manual_seed(seed)
    model = create_model("poster", "tiny", num_classes=7)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_()
    args = {"arch": "poster", "size": "tiny", "num_classes": 7}
    return {"model": model.state_dict(), "model_args": args, "config": {"seed": seed}, "optimizer": {}}


def _logits(ckpt: dict, x, lm):
    model = create_model("poster", "tiny", num_classes=7)
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        return model.eval()(x, lm)["logits"]


def test_the_ends_of_the_line_are_the_parent_and_the_child_and_the_middle_is_neither():
    parent, child = _checkpoint(0), _checkpoint(1)
    x, lm = torch.rand(3, 1, 32, 32), torch.rand(3, 478, 3)
    assert torch.allclose(_logits(interpolate(parent, child, 0.0), x, lm), _logits(parent, x, lm), atol=1e-5)
    assert torch.allclose(_logits(interpolate(parent, child, 1.0), x, lm), _logits(child, x, lm), atol=1e-5)
    middle = interpolate(parent, child, 0.5)
    assert not torch.allclose(_logits(middle, x, lm), _logits(parent, x, lm), atol=1e-3)
    assert middle["config"] == child["config"] and "optimizer" not in middle and middle["interpolated"]["alpha"] == 0.5


def test_batchnorm_is_averaged_by_what_it_does_not_by_how_it_is_stored():
    """The same layer stored two ways (as trained, and as scale and shift) must interpolate to itself."""
    from training.interpolate import eval_form_state

    ckpt = _checkpoint(2)
    rewritten = {**ckpt, "model": eval_form_state(ckpt)}
    x, lm = torch.rand(3, 1, 32, 32), torch.rand(3, 478, 3)
    assert torch.allclose(_logits(interpolate(ckpt, rewritten, 0.5), x, lm), _logits(ckpt, x, lm), atol=1e-5)


def test_different_architectures_are_refused():
    other = {**_checkpoint(3), "model_args": {"arch": "poster", "size": "small", "num_classes": 7}}
    with pytest.raises(ValueError, match="different architectures"):
        interpolate(_checkpoint(0), other, 0.5)


def test_the_model_between_names_every_dataset_either_end_saw():
    parent, child = _checkpoint(0), _checkpoint(1)
    parent["trained_on"], child["trained_on"] = ["fer2013"], ["fer2013", "affectnet96"]
    assert interpolate(parent, child, 0.7)["trained_on"] == ["fer2013", "affectnet96"]
