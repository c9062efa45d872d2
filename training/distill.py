"""Knowledge distillation: a trained model (any family) teaches another on the same augmented batch.

Hinton-style: the student's loss becomes ``(1 - w) * its own loss + w * T^2 * KL(teacher_T || student_T)`` with
logits softened by temperature ``T``. Both models see the same augmented faces and landmarks, so the soft targets
carry the teacher's view of exactly what the student sees. The teacher is trained on the same train split only.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from training.checkpoint import load_checkpoint


class Teacher:
    """A frozen checkpoint that gives class logits for the student's batch (softened in ``distillation_loss``)."""

    def __init__(self, path: str | Path, student_cfg: dict, student_model_cfg: dict, device: torch.device):
        self.model, ckpt = load_checkpoint(path, device=str(device))
        self.model.to(device).eval().requires_grad_(False)
        t_cfg, t_mcfg = ckpt["config"], ckpt["model_config"]
        mismatch = [
            key
            for key, theirs, ours in [
                ("input size", t_mcfg["input_size"], student_model_cfg["input_size"]),
                ("channels", t_mcfg["in_ch"], student_model_cfg["in_ch"]),
                ("mean", t_cfg["mean"], student_cfg["mean"]),
                ("std", t_cfg["std"], student_cfg["std"]),
            ]
            if theirs != ours
        ]
        if mismatch:
            raise ValueError(f"teacher {path} takes different input than the student ({', '.join(mismatch)} differ)")
        self.classes = list(ckpt["classes"])

    @torch.no_grad()
    def logits(self, images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        return self.model(images, landmarks)["logits"].float()


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2-scaled KL divergence between softened teacher and student distributions (batch mean)."""
    t = temperature
    return F.kl_div(
        F.log_softmax(student_logits.float() / t, -1), F.log_softmax(teacher_logits / t, -1),
        reduction="batchmean", log_target=True,
    ) * (t * t)


def blend(own_loss: torch.Tensor, student: dict, teacher_logits: torch.Tensor, weight: float,
          temperature: float) -> torch.Tensor:
    return (1 - weight) * own_loss + weight * distillation_loss(student["logits"], teacher_logits, temperature)
