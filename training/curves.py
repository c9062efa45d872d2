"""Training curves as a picture: loss and accuracy per epoch, across every stage of a model's training."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], path: Path, title: str, stage_starts: list[int] | None = None) -> None:
    """Loss and accuracy per epoch; ``stage_starts`` (epoch numbers) draws a dashed line where a fine-tune began."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    a1.plot(ep, [h["val_loss"] for h in history], label="val")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    a2.plot(ep, [h["train_acc"] for h in history], label="train")
    a2.plot(ep, [h["val_acc"] for h in history], label="val (publictest)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.legend()
    for start in stage_starts or []:
        for ax in (a1, a2):
            ax.axvline(start - 0.5, color="grey", linestyle="--", linewidth=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
