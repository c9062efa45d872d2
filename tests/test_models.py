"""Every registered architecture/size builds and runs; CPU sizes stay well under 1 GMAC per face."""

import pytest
import torch

from training.checkpoint import count_gmacs
from training.models import create_model, list_models, model_config


@pytest.mark.parametrize("arch,size", list_models())
def test_model_builds_and_runs(arch, size):
    cfg = model_config(arch, size)
    model = create_model(arch, size).eval()
    x = torch.randn(2, cfg["in_ch"], cfg["input_size"], cfg["input_size"])
    with torch.no_grad():
        out = model(x, torch.rand(2, 478, 3))
    assert out["logits"].shape == (2, 7)
    if arch == "ferformer":
        assert out["text_logits"].shape == (2, 7)
    if size == "small":
        assert count_gmacs(model, cfg["input_size"], cfg["in_ch"]) < 0.5


def test_unknown_model_lists_known_ones():
    with pytest.raises(KeyError, match="apvit/small"):
        create_model("resnet", "small")
