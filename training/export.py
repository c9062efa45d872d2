"""Export a checkpoint to ONNX with its model card:
``python -m training.export runs/apvit_small/best.pt --out models/apvit-small.onnx``.

Timm-style: eval mode, named inputs/outputs, dynamic batch, explicit opset, ``onnx.checker`` full check, then
ONNX Runtime against PyTorch on real aligned faces (fails above 1e-3). The preprocessing contract (the model
card) is embedded in the ONNX metadata and written as JSON beside the file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from app.face.align import TEMPLATE_VERSION
from app.inference.card import METADATA_KEY
from training.checkpoint import (
    checkpoint_chain,
    count_gmacs,
    load_checkpoint,
    prior_weights,
    shipped_module,
    trained_on,
)
from training.config import load_config
from training.train import channels_first, normalise

OPSET = 17
PARITY_TOLERANCE = 1e-3


class ParityError(RuntimeError):
    pass


def sample_inputs(ckpt: dict, count: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Real aligned faces from the prepared validation data when available, else random ones."""
    cfg, mcfg = ckpt["config"], ckpt["model_config"]
    size, channels = mcfg["input_size"], mcfg["in_ch"]
    try:
        from training.data.prepare import load_or_prepare

        prep = load_or_prepare(ckpt["data"], size, gray=cfg["color"] == "gray").subset(ckpt["splits"]["val"])
        imgs = channels_first(prep.images[:count], cfg["color"])
        lms = torch.from_numpy(prep.landmarks[:count].astype(np.float32))
        if len(imgs):
            return normalise(imgs, cfg["mean"], cfg["std"], channels), lms
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"parity check on random inputs: {exc}", file=sys.stderr)
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(count, channels, size, size, generator=g)
    return normalise(imgs, cfg["mean"], cfg["std"], channels), 0.5 + 0.1 * torch.randn(count, 478, 3, generator=g)


def _portable(path: str) -> str:
    """A data path as a reader would type it: relative when it sits under the current folder's parent."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("../..") else path


def stage_command(ckpt: dict) -> str:
    """The ``training.train`` command line that produced this checkpoint (one stage of a fine-tune chain)."""
    cfg, args = ckpt["config"], ckpt["model_args"]
    cmd = (f"python -m training.train --arch {args['arch']} --size {args['size']} --epochs {cfg['epochs']} "
           f"--seed {cfg['seed']} --lr {cfg['lr']} --warmup-epochs {cfg['warmup_epochs']} "
           f"--data {' '.join(_portable(d) for d in ckpt.get('datasets') or [ckpt['data']])}")
    if cfg.get("config_file"):
        cmd += f" --config {cfg['config_file']}"
    file_cfg = load_config(args["arch"], args["size"], cfg.get("config_file"))
    for key in ("batch_size", "sam_rho", "max_steps_per_epoch"):  # command-line overrides of the config file
        if key in cfg and cfg[key] != file_cfg.get(key):
            cmd += f" --{key.replace('_', '-')} {cfg[key]}"
    if cfg.get("vote_weight"):
        cmd += f" --vote-weight {cfg['vote_weight']}"
    if cfg.get("init"):
        cmd += f" --init {_portable(cfg['init'])}"
    if cfg.get("teacher"):
        cmd += (f" --teacher {_portable(cfg['teacher'])} --kd-weight {cfg['kd_weight']}"
                f" --kd-temperature {cfg['kd_temperature']}")
    if cfg.get("teacher_probs"):
        cmd += (f" --teacher-probs {' '.join(_portable(p) for p in cfg['teacher_probs'])}"
                f" --kd-weight {cfg['kd_weight']} --kd-temperature {cfg['kd_temperature']}")
    return cmd


def training_stages(ckpt: dict) -> list[dict]:
    """Every stage from scratch to this checkpoint, following ``--init`` back, so the card tells the whole recipe
    and the total training time. A missing ancestor is recorded as such rather than guessed."""
    stages = []
    for stage in checkpoint_chain(ckpt):
        if isinstance(stage, str):
            stages.append({"checkpoint": _portable(stage), "missing": True})
            continue
        if stage.get("recovered"):  # rebuilt from a shipped ONNX: its card told the stages that made it
            stages += stage["recovered"]["stages"]
            continue
        history = stage["state"]["history"]
        stages.append({
            "command": stage_command(stage),
            "epochs": stage["config"]["epochs"],
            "best_val_acc": round(max((h["val_acc"] for h in history), default=float("nan")), 4),
            "minutes": round(stage.get("minutes", 0.0), 1),
            "hardware": stage.get("hardware", ""),
        })
        if stage.get("transplant"):
            stages.append({"transplant": stage["transplant"]})
    return stages


def interpolation_stage(ckpt: dict) -> list[dict]:
    """The last step of a model made by ``training.interpolate`` (its weights a share ``alpha`` of the way from
    a parent to a fine-tune), as the card's final stage; none for a trained checkpoint."""
    line = ckpt.get("interpolated")
    if not line:
        return []
    paths = [_portable(line[k]) for k in ("parent", "child") if line.get(k)]
    command = " ".join(["python -m training.interpolate", *paths, f"--alpha {line['alpha']:g}"])
    return [{"interpolated": {"alpha": line["alpha"], **dict(zip(("parent", "child"), paths)), "command": command}}]


DATASET_TERMS = {
    "fer2013": "FER2013 (Goodfellow et al. 2013), research use; FERPlus votes (Barsoum et al. 2016), MIT licence",
    "affectnet96": "AffectNet (Mollahosseini et al. 2017): licensed for non-commercial research only, and so is "
                   "a model trained on it; includes FFHQ portraits (CC BY-NC-SA 4.0)",
}


def dataset_terms(name: str) -> dict:
    """A dataset a model saw, with the terms that travel with the model."""
    stem = Path(name).stem
    return {"name": stem, "terms": DATASET_TERMS.get(stem, "see the dataset's own licence")}


def input_spec(cfg: dict, mcfg: dict, uses_landmarks: bool) -> dict:
    """The card's input: what the app must feed. Training broadcasts one mean and std over every channel; the card
    spells them out per channel, as the app checks them against the colour."""
    channels = 1 if cfg["color"] == "gray" else 3
    return {
        "size": mcfg["input_size"],
        "color": cfg["color"],
        "mean": list(cfg["mean"]) * (channels if len(cfg["mean"]) == 1 else 1),
        "std": list(cfg["std"]) * (channels if len(cfg["std"]) == 1 else 1),
        "landmarks": "mediapipe478" if uses_landmarks else "none",
    }


def build_card(name: str, ckpt: dict, model: torch.nn.Module, parity: float, tta: str = "none") -> dict:
    cfg, mcfg = ckpt["config"], ckpt["model_config"]
    history = ckpt["state"]["history"]
    best = max(history, key=lambda h: h["val_acc"]) if history else {}
    return {
        "name": name,
        "architecture": ckpt["model_args"]["arch"],
        "size": ckpt["model_args"]["size"],
        "classes": list(ckpt["classes"]),
        "input": input_spec(cfg, mcfg, getattr(model, "uses_landmarks", False)),
        "alignment": {"template": "fer2013-5pt", "version": TEMPLATE_VERSION},
        "dataset": " + ".join(trained_on(ckpt)),
        "datasets": [dataset_terms(n) for n in trained_on(ckpt)],
        "splits": ckpt["splits"],
        # none for a model made by interpolation: it was never validated as a checkpoint
        "metrics": {"checkpoint_val_acc": round(best["val_acc"], 4)} if "val_acc" in best else {},
        "params": int(sum(p.numel() for p in model.parameters())),
        # per face as shipped: the mirror view of test-time augmentation doubles the work
        "gmacs": round(count_gmacs(model, mcfg["input_size"], mcfg["in_ch"]) * (2 if tta == "hflip" else 1), 4),
        "tta": tta,
        "train": {
            "epochs": cfg["epochs"],
            "best_epoch": best.get("epoch"),
            "optimiser": "SAM(AdamW)" if cfg.get("sam_rho", 0) > 0 else "AdamW",
            "lr": cfg["lr"],
            "weight_decay": cfg["weight_decay"],
            "schedule": f"cosine, {cfg['warmup_epochs']} warm-up epochs",
            "batch_size": cfg["batch_size"],
            "label_smoothing": cfg["label_smoothing"],
            "balance": cfg["balance"],
            "augmentation": cfg["augment"],
            "seed": cfg["seed"],
            "hardware": ckpt.get("hardware", ""),
            "notes": cfg.get("notes", ""),
            "minutes": round(ckpt.get("minutes", 0.0), 1),
            "command": stage_command(ckpt),
            "fine_tuned_from": _portable(cfg["init"]) if cfg.get("init") else None,
            "distilled_from": _portable(cfg["teacher"]) if cfg.get("teacher") else cfg.get("teacher_models"),
            "stages": (stages := training_stages(ckpt) + interpolation_stage(ckpt)),
            "total_epochs": sum(st.get("epochs", 0) for st in stages),
            "total_minutes": round(sum(st.get("minutes", 0.0) for st in stages), 1),
        },
        "onnx": {"opset": OPSET, "parity_max_abs": float(parity)},
        "description": (model.__class__.__doc__ or "").strip().splitlines()[0] if model.__class__.__doc__ else "",
    }


def train_class_counts(ckpt: dict) -> list[int] | None:
    """Images per class in the split the checkpoint was trained on (stored by training; else counted again)."""
    if ckpt.get("train_class_counts"):
        return list(ckpt["train_class_counts"])
    try:
        from training.data.prepare import load_or_prepare

        cfg, mcfg = ckpt["config"], ckpt["model_config"]
        prep = load_or_prepare(ckpt["data"], mcfg["input_size"], gray=cfg["color"] == "gray")
        tr = prep.subset(ckpt["splits"]["train"])
        return np.bincount(tr.labels[tr.usable], minlength=len(ckpt["classes"])).tolist()
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"no prior correction: the training data's class counts are unavailable ({exc})", file=sys.stderr)
        return None


def export(checkpoint: str | Path, out: str | Path, name: str | None = None, tta: str = "hflip",
           prior_correction: bool = True, prior_target: str = "train") -> dict:
    """Export ``checkpoint`` as shipped: mirror test-time augmentation unless ``tta`` is "none", and the class
    prior restored from balanced sampling unless ``prior_correction`` is False (``prior_target`` "uniform": the
    sampling prior divided out instead, see ``prior_weights``)."""
    model, ckpt = load_checkpoint(checkpoint)
    counts = train_class_counts(ckpt) if prior_correction else None
    weights = prior_weights(counts, ckpt["config"]["balance"], prior_target) if counts else None
    head = shipped_module(model, tta, weights)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    name = name or out.stem
    images, landmarks = sample_inputs(ckpt)
    uses_lm = getattr(model, "uses_landmarks", False)
    inputs = (images[:2], landmarks[:2]) if uses_lm else (images[:2],)
    input_names = ["image", "landmarks"] if uses_lm else ["image"]
    dynamic = {n: {0: "batch"} for n in [*input_names, "probabilities"]}
    with torch.no_grad():
        torch.onnx.export(head, inputs, str(out), input_names=input_names, output_names=["probabilities"],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feed = {"image": images.numpy()}
    if uses_lm:
        feed["landmarks"] = landmarks.numpy()
    got = sess.run(["probabilities"], feed)[0]
    with torch.no_grad():
        want = head(images, landmarks if uses_lm else None).numpy()
    parity = float(np.abs(got - want).max())
    print(f"parity on {len(images)} aligned faces: max abs difference {parity:.2e}")
    if parity > PARITY_TOLERANCE:
        out.unlink(missing_ok=True)
        raise ParityError(f"ONNX and PyTorch disagree by {parity:.2e} (> {PARITY_TOLERANCE}) for {checkpoint}")
    card = build_card(name, ckpt, model, parity, tta)
    card["prior_correction"] = (
        {"balance": ckpt["config"]["balance"], "train_counts": counts, "class_weights": weights,
         "target": prior_target} if weights else None
    )
    old_card = out.with_suffix(".json")
    if old_card.exists():  # keep metrics measured by training.evaluate on an earlier export of the same name
        prev = json.loads(old_card.read_text())
        card["default"] = prev.get("default", False)
        if prev.get("purpose"):
            card["purpose"] = prev["purpose"]
    proto = onnx.load(str(out))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(card)
    proto.producer_name = "ferlive"
    onnx.save(proto, str(out))
    old_card.write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Export a training checkpoint to ONNX + model card.")
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True, help="models/NAME.onnx")
    ap.add_argument("--name", default=None)
    ap.add_argument("--tta", choices=["hflip", "none"], default="hflip",
                    help="bake the mirror view into the graph and average (default) or ship the plain model")
    ap.add_argument("--prior-correction", action=argparse.BooleanOptionalAction, default=True,
                    help="restore the training class prior shifted by class-balanced sampling (default on)")
    ap.add_argument("--prior-target", choices=["train", "uniform"], default="train",
                    help="the prior the shipped probabilities assume: the training data's, or none (uniform)")
    args = ap.parse_args(argv)
    card = export(args.checkpoint, args.out, args.name, args.tta, args.prior_correction, args.prior_target)
    print(json.dumps({"out": args.out, "params": card["params"], "gmacs": card["gmacs"],
                      "parity_max_abs": card["onnx"]["parity_max_abs"]}))


if __name__ == "__main__":
    main()
