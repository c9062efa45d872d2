"""A model between two checkpoints of one architecture, by the mean of their weights (WiSE-FT):
``python -m training.interpolate PARENT.pt CHILD.pt --alpha 0.5 --out runs/mid/best.pt``.

Why: a camera model is fine-tuned from a FER2013-only parent, and the fine-tune trades FER2013 accuracy for
AffectNet. The weights on the straight line between parent and child give the models in between at no training
cost, so the trade-off can be read off and a point chosen on the validation splits (``--alpha 0`` is the parent,
``1`` the child).

BatchNorm is interpolated by what it does in eval mode (a per-channel scale and shift), not by its four stored
tensors: a model rebuilt by ``training.recover`` stores the same BatchNorm in another form than one trained
directly, and the mean of two (mean, variance, weight, bias) sets is not the mean of the two layers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from training.checkpoint import trained_on
from training.models import create_model


def eval_form_state(ckpt: dict) -> dict[str, torch.Tensor]:
    """The checkpoint's weights with every BatchNorm rewritten as scale and shift (unit statistics), same outputs."""
    args = ckpt["model_args"]
    model = create_model(args["arch"], args["size"], num_classes=args["num_classes"])
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                scale = m.weight / torch.sqrt(m.running_var + m.eps)
                shift = m.bias - m.running_mean * scale
                m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
                m.weight.copy_(scale)
                m.bias.copy_(shift)
    return model.state_dict()


def read_checkpoint(path: str | Path) -> dict:
    """A training checkpoint as stored (weights and record), on the CPU."""
    return torch.load(path, map_location="cpu", weights_only=False)


def interpolate(parent: dict, child: dict, alpha: float, paths: tuple[str, str] | None = None) -> dict:
    """A checkpoint whose weights are ``(1 - alpha) * parent + alpha * child``; the child's record otherwise (its
    datasets, splits and class counts decide the exported prior), with the line (alpha, and the two files where
    ``paths`` names them) noted under ``interpolated``."""
    if parent["model_args"] != child["model_args"]:
        raise ValueError(f"different architectures: {parent['model_args']} and {child['model_args']}")
    a, b = eval_form_state(parent), eval_form_state(child)
    state = {
        name: ((1 - alpha) * a[name].double() + alpha * b[name].double()).to(a[name].dtype)
        if a[name].is_floating_point() else b[name]
        for name in a
    }
    out = {key: value for key, value in child.items() if key != "optimizer"}
    # the model has seen what either end saw (the card must name every dataset and its terms)
    out["trained_on"] = list(dict.fromkeys(trained_on(parent) + trained_on(child)))
    line = {"alpha": alpha, **(dict(zip(("parent", "child"), paths)) if paths else {})}
    return {**out, "model": state, "interpolated": line}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parent", type=Path, help="checkpoint at alpha 0 (e.g. the FER2013-only model)")
    ap.add_argument("child", type=Path, help="checkpoint at alpha 1 (e.g. its camera fine-tune)")
    ap.add_argument("--alpha", type=float, required=True, help="share of the child, 0..1")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        ap.error(f"--alpha must lie in 0..1, not {args.alpha}")
    ckpt = interpolate(read_checkpoint(args.parent), read_checkpoint(args.child), args.alpha,
                       (str(args.parent), str(args.child)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(json.dumps({"out": str(args.out), **ckpt["interpolated"]}))


if __name__ == "__main__":
    main()
