"""Checkpoints rebuild themselves (nanoGPT style): arch, size and config travel inside the file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.models import create_model


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuilt model in eval mode, and the checkpoint dict (config, classes, history ...)."""
    ckpt = torch.load(Path(path), map_location=device, weights_only=False)
    args = ckpt["model_args"]
    model = create_model(args["arch"], args["size"], num_classes=args["num_classes"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


class ProbabilityHead(nn.Module):
    """What ships: the model plus its output rule (class head, blended with the text head where one exists)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        from training.train import probabilities

        return probabilities(self.model, self.model(image, landmarks))


def count_gmacs(model: nn.Module, size: int, channels: int) -> float:
    """Multiply-accumulates for one face (convolutions, linears and attention matmuls), in billions."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, channels, size, size)
    lm = torch.full((1, 478, 3), 0.5)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, lm)
    return counter.get_total_flops() / 2 / 1e9
