"""Training configs: JSON files in ``training/configs`` (one per arch/size), overridable from the command line."""

from __future__ import annotations

import json
from pathlib import Path

CONFIG_DIR = Path(__file__).with_name("configs")

DEFAULTS: dict = {
    "arch": "apvit",
    "size": "small",
    "epochs": 30,
    "batch_size": 64,
    "lr": 2e-3,
    "weight_decay": 0.05,
    "warmup_epochs": 2,
    "label_smoothing": 0.1,
    "balance": "sqrt",  # none | sqrt | full: class-balanced sampling strength
    "sam_rho": 0.0,  # > 0 turns on SAM
    "text_loss_weight": 1.0,  # ferformer's domain-steering loss
    "seed": 0,
    "mean": [0.5],
    "std": [0.25],
    "color": "gray",
    "augment": {"flip_p": 0.5, "max_rotate": 10.0, "scale": [0.9, 1.1], "max_shift": 0.08, "erase_p": 0.25,
                "jitter": 0.2},
    "teacher": None,  # checkpoint to distil from (training.distill)
    "kd_weight": 0.5,  # share of the distillation term in the loss when a teacher is set
    "kd_temperature": 2.0,
    "teacher_probs": None,  # cached teacher distributions (training.teacher_probs) blended into the targets
    "vote_weight": 0.0,  # share of the FERPlus crowd-vote distribution in FER2013's targets (training.data.mixture)
    "freeze_norm": False,  # BatchNorm kept in eval mode while training (fine-tunes of interpolated checkpoints)
    "max_steps_per_epoch": 0,  # 0 = full epoch; tests use a few steps
    "amp": True,  # bf16 autocast on CPU (3x faster on AVX512-BF16), fp16/bf16 on CUDA
}


def load_config(arch: str, size: str, path: str | Path | None = None, overrides: dict | None = None) -> dict:
    cfg = json.loads(json.dumps(DEFAULTS))
    file = Path(path) if path else CONFIG_DIR / f"{arch}_{size}.json"
    if file.exists():
        cfg.update(json.loads(file.read_text()))
    if path:  # a non-default file: the card's reproduction command must name it
        cfg["config_file"] = str(path)
    cfg.update({"arch": arch, "size": size})
    cfg.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return cfg
