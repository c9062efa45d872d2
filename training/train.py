"""Train one model: ``python -m training.train --arch apvit --size small --data ../shared/data/fer2013.npz``.

AdamW (optionally SAM), cosine schedule with warm-up, label smoothing, class-balanced sampling, augmentation that
keeps image and landmarks consistent, bf16/fp16 autocast, a checkpoint every epoch (``--resume`` continues),
the best epoch on the validation split kept as ``best.pt``, a progress bar and a per-epoch log.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from training.checkpoint import load_init_weights, probabilities
from training.config import load_config
from training.curves import plot_curves
from training.data.augment import augment_batch
from training.data.mixture import load_mixture
from training.data.prepare import PreparedData
from training.distill import Teacher, blend
from training.hardware import autocast, hardware_name, pick_device
from training.models import create_model, model_config
from training.sam import SAM
from training.teacher_probs import load_teacher, soften


def channels_first(crops: np.ndarray | torch.Tensor, color: str) -> torch.Tensor:
    """Cached crops (N,S,S) grey or (N,S,S,3) BGR, as the app's alignment makes them -> (N,C,S,S) in the card's
    ``color`` order, so a colour model sees in training the channel order the app's engine feeds it."""
    imgs = torch.as_tensor(crops)
    if imgs.ndim == 3:
        return imgs[:, None]
    return (imgs.flip(-1) if color == "rgb" else imgs).permute(0, 3, 1, 2)


def to_tensors(data: PreparedData, device: torch.device, color: str
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 crops -> uint8 (B,C,S,S) in ``color`` order; landmarks float32; labels."""
    imgs = channels_first(data.images, color)
    return imgs.to(device), torch.from_numpy(data.landmarks.astype(np.float32)).to(device), torch.from_numpy(
        data.labels.astype(np.int64)).to(device)


def normalise(images_u8_or_float: torch.Tensor, mean: list[float], std: list[float], channels: int) -> torch.Tensor:
    x = images_u8_or_float.float()
    if images_u8_or_float.dtype == torch.uint8:
        x = x / 255.0
    if x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def sample_weights(labels: np.ndarray, mode: str) -> np.ndarray | None:
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=labels.max() + 1).astype(np.float64)
    per_class = 1.0 / np.sqrt(counts) if mode == "sqrt" else 1.0 / counts
    return per_class[labels]


def freeze_batch_norm(model: torch.nn.Module) -> None:
    """Put every BatchNorm layer in eval mode (running statistics used and kept, not batch statistics). A fine-tune
    of an interpolated checkpoint needs it: its BatchNorm was averaged in eval form, and batch statistics would
    shift every layer at the first step."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def compute_loss(out: dict, y: torch.Tensor, cfg: dict) -> torch.Tensor:
    loss = F.cross_entropy(out["logits"].float(), y, label_smoothing=cfg["label_smoothing"])
    if "text_logits" in out:
        loss = loss + cfg["text_loss_weight"] * F.cross_entropy(out["text_logits"].float(), y,
                                                                label_smoothing=cfg["label_smoothing"])
    return loss


@torch.no_grad()
def predict(model, images, landmarks, cfg, channels, device, batch=256) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = normalise(images[i : i + batch].to(device), cfg["mean"], cfg["std"], channels)
        with autocast(device, cfg):
            o = model(x, landmarks[i : i + batch].to(device))
        out.append(probabilities(model, o).cpu())
    return torch.cat(out).numpy()


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def epochs_within(minutes: float, elapsed_s: float, epoch_s: float, done: int, planned: int) -> int:
    """How many epochs fit a time budget, given what one epoch of this process took (never fewer
    than ``done``, so a run always ends on a finished epoch, never more than ``planned``). Epochs are counted 10%
    slower than measured: on the H100 later epochs ran 4.7 s after a 4 s second epoch, and the run overshot."""
    left = minutes * 60 - elapsed_s
    return max(done, min(planned, done + int(left // max(1.1 * epoch_s, 1e-3))))


def train(cfg: dict, data_path: str | list[str], out_dir: Path, device_name: str = "auto", resume: bool = False,
          train_split: str = "train", val_split: str = "publictest", init: str | None = None,
          minutes: float | None = None) -> dict:
    """Train ``cfg`` on ``data_path`` (one dataset, or a list trained on together and validated one by one,
    selecting on the mean of their validation accuracies); ``minutes`` shortens the cosine schedule, after the
    first and again after the second epoch, to the epochs that fit (the shortened count is written into the
    checkpoint's config)."""
    t_process = time.time()
    device = pick_device(device_name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    if device.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    mcfg = model_config(cfg["arch"], cfg["size"])
    size, channels = mcfg["input_size"], mcfg["in_ch"]
    sources = [str(data_path)] if isinstance(data_path, (str, Path)) else [str(d) for d in data_path]
    mix = load_mixture(sources, size, gray=cfg["color"] == "gray", train_split=train_split, val_split=val_split,
                       vote_weight=cfg.get("vote_weight", 0.0))
    for path in cfg.get("teacher_probs") or []:  # cached teacher distributions join the targets before training
        probs, meta = load_teacher(path)
        if meta["classes"] != list(mix.classes):
            raise ValueError(f"teacher file {path} predicts {meta['classes']}, the data has {list(mix.classes)}")
        covered = mix.blend_teacher(meta["dataset"], soften(probs, cfg["kd_temperature"]), cfg["kd_weight"])
        cfg.setdefault("teacher_models", {})[meta["dataset"]] = meta["models"]  # the card names the teachers
        print(f"teacher {Path(path).name}: {covered} {meta['dataset']} faces, weight {cfg['kd_weight']}", flush=True)
    tr_x = channels_first(mix.images, cfg["color"])
    tr_lm, tr_y = torch.from_numpy(mix.landmarks.astype(np.float32)), torch.from_numpy(mix.labels)
    tr_t = torch.from_numpy(mix.targets)
    vals = [(v.name, v.split, *to_tensors(PreparedData(v.images, v.landmarks, v.labels, None, None, None, ()),
                                          torch.device("cpu"), cfg["color"])) for v in mix.validation]
    if device.type == "cuda":  # a few hundred MB: keep the training set on the GPU and augment there
        tr_x, tr_lm, tr_y, tr_t = tr_x.to(device), tr_lm.to(device), tr_y.to(device), tr_t.to(device)
    classes = list(mix.classes)
    mcfg = model_config(cfg["arch"], cfg["size"], num_classes=len(classes))
    model = create_model(cfg["arch"], cfg["size"], num_classes=len(classes))
    if hasattr(model, "set_text_embeddings"):
        from training.models.ferformer import text_embeddings

        model.set_text_embeddings(text_embeddings(classes))
    if init:  # fine-tune: weights from another run, fresh optimiser and schedule
        adapted = load_init_weights(model, torch.load(init, map_location="cpu", weights_only=False)["model"])
        if adapted:
            print(f"weights adapted to this input (grey filter over colour, position grid resized): "
                  f"{', '.join(adapted)}", flush=True)
        cfg["init"] = str(init)
    model.to(device)
    teacher = None
    if cfg.get("teacher"):
        teacher = Teacher(cfg["teacher"], cfg, mcfg, device)
        if teacher.classes != classes:
            raise ValueError(f"teacher {cfg['teacher']} predicts {teacher.classes}, the data has {classes}")
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos" not in n and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "pos" not in n and "embed" not in n)]
    groups = [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    opt = SAM(groups, torch.optim.AdamW, rho=cfg["sam_rho"], lr=cfg["lr"]) if cfg["sam_rho"] > 0 else \
        torch.optim.AdamW(groups, lr=cfg["lr"])
    steps_per_epoch = math.ceil(len(tr_y) / cfg["batch_size"])
    if cfg["max_steps_per_epoch"]:
        steps_per_epoch = min(steps_per_epoch, cfg["max_steps_per_epoch"])
    total = steps_per_epoch * cfg["epochs"]
    warmup = steps_per_epoch * cfg["warmup_epochs"]
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {"epoch": 0, "step": 0, "best_acc": -1.0, "history": []}
    last = out_dir / "last.pt"
    if resume and last.exists():
        ckpt = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        print(f"resumed from {last} at epoch {state['epoch']}")
    tr_y_np = tr_y.cpu().numpy()
    weights = sample_weights(tr_y_np, cfg["balance"])
    gen = torch.Generator().manual_seed(cfg["seed"] + state["epoch"])
    aug_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(cfg["seed"] + state["epoch"])
    t_start = time.time() - sum(h.get("seconds", 0) for h in state["history"])
    epoch = start_epoch = state["epoch"]
    planned_epochs = cfg["epochs"]
    while epoch < cfg["epochs"]:
        model.train()
        if cfg.get("freeze_norm"):
            freeze_batch_norm(model)
        if weights is not None:
            order = torch.multinomial(torch.from_numpy(weights), len(tr_y), replacement=True, generator=gen)
        else:
            order = torch.randperm(len(tr_y), generator=gen)
        t0 = time.time()
        losses, correct, seen = [], torch.zeros((), device=device), 0
        bar = tqdm(range(steps_per_epoch), desc=f"{cfg['arch']}-{cfg['size']} epoch {epoch + 1}/{cfg['epochs']}",
                   leave=False)
        for i in bar:
            idx = order[i * cfg["batch_size"] : (i + 1) * cfg["batch_size"]].to(tr_x.device)
            x, lm = augment_batch(tr_x[idx].float().div(255), tr_lm[idx], generator=aug_gen,
                                  **{k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg["augment"].items()})
            x, lm, y = normalise(x, cfg["mean"], cfg["std"], channels).to(device), lm.to(device), tr_y[idx].to(device)
            yt = tr_t[idx].to(device)
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], total, warmup, cfg["lr"])

            def closure(x=x, lm=lm, yt=yt):
                with autocast(device, cfg):
                    o = model(x, lm)
                    t_logits = teacher.logits(x, lm) if teacher else None
                loss_ = compute_loss(o, yt, cfg)
                if teacher:
                    loss_ = blend(loss_, o, t_logits, cfg["kd_weight"], cfg["kd_temperature"])
                loss_.backward()
                return loss_, o

            opt.zero_grad(set_to_none=True)
            loss, out = closure()
            if isinstance(opt, SAM):
                opt.first_step()
                closure()
                opt.second_step()
            else:
                opt.step()
            state["step"] += 1
            losses.append(loss.detach())
            correct += (out["logits"].argmax(-1) == y).sum()
            seen += len(y)
            if device.type == "cpu" or i % 50 == 0:  # .item() waits for the GPU: not every step there
                bar.set_postfix(loss=f"{torch.stack(losses[-50:]).mean().item():.3f}",
                                acc=f"{correct.item() / seen:.3f}", refresh=False)
        losses = torch.stack(losses).tolist()  # one transfer, not one wait per step
        correct = correct.item()
        by_set = {}
        for name, split, va_x, va_lm, va_y in vals:
            probs = predict(model, va_x, va_lm, cfg, channels, device)
            by_set[f"{name}/{split}"] = (float((probs.argmax(1) == va_y.numpy()).mean()),
                                         float(F.nll_loss(torch.log(torch.from_numpy(probs) + 1e-8), va_y).item()))
        val_acc = float(np.mean([a for a, _ in by_set.values()]))  # each dataset counts alike, whatever its size
        val_loss = float(np.mean([lo for _, lo in by_set.values()]))
        rec = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "train_acc": correct / max(seen, 1),
               "val_loss": val_loss, "val_acc": val_acc, "lr": opt.param_groups[0]["lr"],
               "seconds": time.time() - t0}
        if len(by_set) > 1:
            rec["val_acc_by_dataset"] = {k: round(a, 4) for k, (a, _) in by_set.items()}
        state["history"].append(rec)
        state["epoch"] = epoch + 1
        if minutes and epoch in (start_epoch, start_epoch + 1):  # the second epoch is the better clock (warm)
            fit = epochs_within(minutes, time.time() - t_process, rec["seconds"], epoch + 1, planned_epochs)
            if fit != cfg["epochs"]:
                print(f"time budget {minutes} min: {fit} epochs instead of {cfg['epochs']}", flush=True)
                cfg["epochs"], cfg["time_budget_minutes"] = fit, minutes
                total = steps_per_epoch * cfg["epochs"]
        improved = val_acc > state["best_acc"]
        if improved:
            state["best_acc"] = val_acc
        ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state, "config": cfg,
                "model_args": {"arch": cfg["arch"], "size": cfg["size"], "num_classes": len(classes)},
                "model_config": mcfg, "classes": classes, "data": sources[0], "datasets": sources,
                "splits": {"train": train_split, "val": val_split},
                "hardware": hardware_name(device), "minutes": (time.time() - t_start) / 60,
                "train_class_counts": np.bincount(tr_y_np, minlength=len(classes)).tolist(),
                "train_class_counts_by_dataset": mix.counts_by_dataset()}
        torch.save(ckpt, last)
        if improved:
            torch.save(ckpt, out_dir / "best.pt")
        with open(out_dir / "log.jsonl", "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(f"epoch {epoch + 1}/{cfg['epochs']} loss {rec['train_loss']:.4f} train_acc {rec['train_acc']:.4f} "
              f"val_acc {val_acc:.4f}{' *' if improved else ''} {rec.get('val_acc_by_dataset', '')} "
              f"({rec['seconds']:.0f}s)", flush=True)
        epoch += 1
    plot_curves(state["history"], out_dir / "curves.png", f"{cfg['arch']}-{cfg['size']}")
    return state


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", required=True)
    ap.add_argument("--size", default="small")
    ap.add_argument("--data", nargs="+", default=None,
                    help="archive (.npz), FER2013 CSV, or image folder; several train together (e.g. fer2013.npz "
                         "affectnet96), each validated on its own split")
    ap.add_argument("--vote-weight", type=float,
                    help="blend FERPlus crowd votes into FER2013's labels (0 = hard labels, 0.5 = half and half)")
    ap.add_argument("--config", default=None, help="JSON config (default training/configs/<arch>_<size>.json)")
    ap.add_argument("--out", default=None, help="run folder (default runs/<arch>_<size>)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning)")
    ap.add_argument("--warmup-epochs", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--sam-rho", type=float)
    ap.add_argument("--max-steps-per-epoch", type=int)
    ap.add_argument("--teacher", default=None, help="distil from this checkpoint (same input size and classes)")
    ap.add_argument("--teacher-probs", nargs="+", default=None,
                    help="cached teacher probabilities (training.teacher_probs), blended into the targets")
    ap.add_argument("--kd-weight", type=float, help="share of the teacher in the loss or targets (default 0.5)")
    ap.add_argument("--kd-temperature", type=float, help="softening temperature (default 2)")
    ap.add_argument("--train-split", default="train")
    ap.add_argument("--val-split", default="publictest")
    ap.add_argument("--minutes", type=float, default=None,
                    help="time budget: after the first epoch, shorten the schedule to the epochs that fit")
    args = ap.parse_args(argv)
    from training.data.archive import default_data_dir

    data = args.data or [str(default_data_dir() / "fer2013.npz")]
    cfg = load_config(args.arch, args.size, args.config, {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "sam_rho": args.sam_rho, "max_steps_per_epoch": args.max_steps_per_epoch,
        "warmup_epochs": args.warmup_epochs, "teacher": args.teacher, "kd_weight": args.kd_weight,
        "kd_temperature": args.kd_temperature, "vote_weight": args.vote_weight,
        "teacher_probs": args.teacher_probs})
    out = Path(args.out or f"runs/{args.arch}_{args.size}")
    state = train(cfg, data, out, args.device, args.resume, args.train_split, args.val_split, args.init,
                  args.minutes)
    print(json.dumps({"best_val_acc": state["best_acc"], "epochs": state["epoch"], "run": str(out)}))


if __name__ == "__main__":
    main()
