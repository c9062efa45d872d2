"""Checkpoints rebuild themselves (nanoGPT style): arch, size and config travel inside the file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.data.augment import mirror_landmarks, mirror_permutation
from training.models import create_model


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuilt model in eval mode, and the checkpoint dict (config, classes, history ...)."""
    ckpt = torch.load(Path(path), map_location=device, weights_only=False)
    args = ckpt["model_args"]
    model = create_model(args["arch"], args["size"], num_classes=args["num_classes"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def _resize_token_grid(value: torch.Tensor, tokens: int) -> torch.Tensor:
    """A (1, side*side, dim) position embedding resampled to ``tokens`` = new side squared (bicubic)."""
    side, new_side = math.isqrt(value.shape[1]), math.isqrt(tokens)
    grid = value.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_side, new_side), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, tokens, -1)


def load_init_weights(model: nn.Module, state: dict) -> list[str]:
    """Load a checkpoint's weights to fine-tune from; a grey model's may start a colour one, a 48 px one a
    larger input.

    Where the model's input convolution takes three channels and the checkpoint's one, the grey filter is split
    evenly over R, G and B: on a grey face (three equal channels) the colour model then starts exactly where the
    grey one was, and training decides what colour adds. Where a square grid of position embeddings has another
    size (a larger input makes more image tokens), it is resampled over the new grid, so each token starts with
    the embedding of the same place on the face. Returns the names of the weights so adapted."""
    own = model.state_dict()
    adapted = []
    for name, value in state.items():
        target = own.get(name)
        if target is None or target.shape == value.shape:
            continue
        if (value.dim() == 4 and target.dim() == 4 and value.shape[1] == 1
                and target.shape[1] == 3 and value.shape[0] == target.shape[0]):
            state = {**state, name: value.repeat(1, 3, 1, 1) / 3}
            adapted.append(name)
        elif (value.dim() == 3 and target.dim() == 3 and value.shape[0] == target.shape[0] == 1
              and value.shape[2] == target.shape[2] and math.isqrt(value.shape[1]) ** 2 == value.shape[1]
              and math.isqrt(target.shape[1]) ** 2 == target.shape[1]):
            state = {**state, name: _resize_token_grid(value, target.shape[1])}
            adapted.append(name)
    model.load_state_dict(state)
    return adapted


def checkpoint_chain(ckpt: dict, max_stages: int = 10) -> list[dict | str]:
    """This checkpoint and the ones it was fine-tuned from (``--init``), oldest first. An ancestor whose file is
    gone appears as its path (a string) so callers can say so instead of guessing."""
    chain: list[dict | str] = [ckpt]
    seen: set[str] = set()
    current: dict | None = ckpt
    while current is not None and len(chain) < max_stages:
        parent = current["config"].get("init")
        current = None
        if parent and parent not in seen:
            seen.add(parent)
            if Path(parent).exists():
                current = torch.load(parent, map_location="cpu", weights_only=False)
                chain.append(current)
            else:
                chain.append(str(parent))
    return chain[::-1]


def probabilities(model: nn.Module, out: dict) -> torch.Tensor:
    """What the exported model outputs: the class head, blended with the text head where there is one.

    Training's validation (``training.train.predict``) and the shipped module both use this one rule."""
    p = out["logits"].float().softmax(-1)
    if "text_logits" in out:
        w = getattr(model, "text_weight", 0.5)
        p = (1 - w) * p + w * out["text_logits"].float().softmax(-1)
    return p


class ProbabilityHead(nn.Module):
    """What ships: the model plus its output rule (class head, blended with the text head where one exists)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        return probabilities(self.model, self.model(image, landmarks))


class FlipAverage(nn.Module):
    """Test-time augmentation baked into the graph: the mean of the probabilities for the face and its mirror.

    The mirror flips the crop, maps landmark x -> 1 - x and swaps each landmark with its mirror partner, exactly
    as training's flip augmentation does. Both views run as one batch of 2B. Worth +0.4 to +1.3 points on
    FER2013 publictest for our small models at twice the per-face cost.
    """

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head
        self.register_buffer("perm", torch.as_tensor(mirror_permutation(), dtype=torch.long), persistent=False)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        images = torch.cat([image, image.flip(-1)])
        both = None
        if landmarks is not None:
            both = torch.cat([landmarks, mirror_landmarks(landmarks, self.perm)])
        probs = self.head(images, both)
        return probs.reshape(2, -1, probs.shape[-1]).mean(0)


class PriorCorrection(nn.Module):
    """Undo the class-balanced sampling's shift of the class prior (logit adjustment, Menon et al. 2021).

    Training draws class c with probability proportional to n_c * w_c (w_c = 1/sqrt(n_c) for "sqrt" balance), so
    the model learns p(c | x) under that prior; multiplying by n_c / (n_c * w_c) and renormalising gives p(c | x)
    under the real training prior. The weights come from the train split's class counts, never from a test set.
    """

    def __init__(self, inner: nn.Module, class_weights: list[float]):
        super().__init__()
        self.inner = inner
        self.register_buffer("weights", torch.tensor(class_weights, dtype=torch.float32), persistent=False)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        p = self.inner(image, landmarks) * self.weights
        return p / p.sum(-1, keepdim=True)


PRIOR_TARGETS = ("train", "uniform")


def prior_weights(train_counts: list[int], balance: str, target: str = "train") -> list[float] | None:
    """Per-class factors applied to the model's probabilities (None: no change).

    The model learns p(c | x) under the prior it was sampled with: n_c for no balancing, sqrt(n_c) for "sqrt",
    uniform for "full". ``target`` "train" turns that back into the training prior (FER2013's, whose many happy and
    neutral faces are not a camera's); "uniform" divides it out so that no class is favoured before the face is
    seen, which suits a mixture of datasets or a camera whose class frequencies nobody knows.
    """
    if target not in PRIOR_TARGETS:
        raise ValueError(f"unknown prior target {target!r}; choose one of {', '.join(PRIOR_TARGETS)}")
    counts = np.maximum(np.asarray(train_counts, np.float64), 1.0)
    sampled = {"none": counts, "sqrt": np.sqrt(counts), "full": np.ones_like(counts)}[balance]
    w = counts / sampled if target == "train" else 1.0 / sampled
    if np.allclose(w, w[0]):
        return None
    return [round(float(v), 6) for v in w / w.max()]


TTA_MODES = ("none", "hflip")


def shipped_module(model: nn.Module, tta: str = "none", class_weights: list[float] | None = None) -> nn.Module:
    """The module that ships, in eval mode: probabilities, averaged over the mirror when ``tta`` is "hflip",
    re-weighted to the training prior when ``class_weights`` are given."""
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose one of {', '.join(TTA_MODES)}")
    module: nn.Module = ProbabilityHead(model)
    if tta == "hflip":
        module = FlipAverage(module)
    if class_weights is not None:
        module = PriorCorrection(module, class_weights)
    return module.eval()


def count_gmacs(model: nn.Module, size: int, channels: int) -> float:
    """Multiply-accumulates for one face (convolutions, linears and attention matmuls), in billions."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, channels, size, size)
    lm = torch.full((1, 478, 3), 0.5)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, lm)
    return counter.get_total_flops() / 2 / 1e9


def trained_on(ckpt: dict) -> list[str]:
    """The datasets' own names: a bundle's file name (``fer2013_48g_q90.bundle.npz``) is not its dataset's, but the
    mixture recorded each source under its dataset name."""
    if ckpt.get("trained_on"):  # a recovered or interpolated model: what its sources saw, not its calibration data
        return list(ckpt["trained_on"])
    by_dataset = ckpt.get("train_class_counts_by_dataset")
    if by_dataset:
        return list(by_dataset)
    return [Path(d).name for d in ckpt.get("datasets") or ([ckpt["data"]] if ckpt.get("data") else [])]
