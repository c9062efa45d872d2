"""Evaluate an EXPORTED model end-to-end through the app's own face pipeline:
``python -m training.evaluate models/apvit-small.onnx ../shared/data/fer2013.npz --split publictest``.

Every image goes through MediaPipe (upscaled if small), the shared alignment and the app's ONNX engine. A face
that is not found counts as misclassified, unless the archive declares ``face_crops`` (then the whole crop is
used, as in training). Prints JSON (accuracy, macro-F1, per-class recall, detection coverage, images/s) and
writes a confusion-matrix PNG. ``--checkpoint`` also runs the PyTorch checkpoint on the very same aligned faces.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.face.mesh import FaceMesh
from app.inference.card import METADATA_KEY
from app.inference.engine import InferenceEngine
from app.inference.integrity import fingerprint
from training.data.archive import LabelledImages, load_dataset
from training.data.prepare import align_dataset_image


def align_all(data: LabelledImages, size: int, gray: bool) -> tuple[list, np.ndarray, np.ndarray]:
    """Aligned crops + landmarks (None where unusable), detected mask, usable mask."""
    mesh = FaceMesh(max_faces=1, video_mode=False, min_confidence=0.3)
    aligned, detected, usable = [], np.zeros(len(data), bool), np.zeros(len(data), bool)
    for i in tqdm(range(len(data)), desc="face pipeline"):
        face, found = align_dataset_image(mesh, data.images[i], size, gray, data.face_crops)
        aligned.append(face)
        detected[i], usable[i] = found, face is not None
    mesh.close()
    return aligned, detected, usable


def metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1 and per-class recall; y_pred -1 means 'no face found' (always wrong)."""
    n = len(classes)
    cm = np.zeros((n, n + 1), np.int64)  # last column: no face
    for t, p in zip(y_true, y_pred):
        cm[t, p if p >= 0 else n] += 1
    tp = np.diag(cm[:, :n]).astype(float)
    support = cm.sum(1)
    predicted = cm[:, :n].sum(0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0)
    present = support > 0
    return {
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class_recall": {c: round(float(r), 4) for c, r, s in zip(classes, recall, present) if s},
        "confusion": cm.tolist(),
    }


def plot_confusion(cm: list[list[int]], classes: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.array(cm, dtype=float)
    cols = [*classes, "no face"] if m[:, -1].sum() > 0 else classes
    m = m[:, : len(cols)]
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(m[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_engine(engine: InferenceEngine, aligned: list, batch: int = 128) -> np.ndarray:
    """Predicted class per image (-1 where no usable face), in batches as the app runs them."""
    preds = np.full(len(aligned), -1, np.int64)
    idx = [i for i, a in enumerate(aligned) if a is not None]
    for s in tqdm(range(0, len(idx), batch), desc=f"{engine.card.name} on {len(idx)} faces", unit="batch"):
        chunk = idx[s : s + batch]
        crops = np.stack([aligned[i].image for i in chunk])
        lms = np.stack([aligned[i].landmarks for i in chunk]).astype(np.float32)
        probs = engine.predict(crops, lms if engine.card.uses_landmarks else None)
        preds[chunk] = probs.argmax(1)
    return preds


def run_checkpoint(checkpoint: str | Path, aligned: list, tta: str = "none",
                   class_weights: list[float] | None = None) -> np.ndarray:
    """The checkpoint's predictions on the same aligned faces, with the ONNX file's test-time augmentation and
    prior correction."""
    import torch

    from training.checkpoint import load_checkpoint, shipped_module
    from training.train import channels_first, normalise

    model, ckpt = load_checkpoint(checkpoint)
    head = shipped_module(model, tta, class_weights)
    cfg, channels = ckpt["config"], ckpt["model_config"]["in_ch"]
    preds = np.full(len(aligned), -1, np.int64)
    idx = [i for i, a in enumerate(aligned) if a is not None]
    with torch.no_grad():
        for s in range(0, len(idx), 256):
            chunk = idx[s : s + 256]
            crops = channels_first(np.stack([aligned[i].image for i in chunk]), cfg["color"])
            lms = torch.from_numpy(np.stack([aligned[i].landmarks for i in chunk]).astype(np.float32))
            preds[chunk] = head(normalise(crops, cfg["mean"], cfg["std"], channels), lms).argmax(1).numpy()
    return preds


def evaluate(model_path: str | Path, data_path: str | Path, split: str | None = None, out_dir: Path | None = None,
             checkpoint: str | Path | None = None, provider: str = "auto", face_crops: bool | None = None) -> dict:
    """Accuracy of the exported model on ``data_path`` (archive or image folder; ``face_crops`` True: a face the
    detector misses is still classified from the whole crop, as for FER2013)."""
    engine = InferenceEngine(model_path, provider=provider)
    card = engine.card
    data = load_dataset(data_path, tuple(card.classes), face_crops)
    if split:
        data = data.subset(split)
    if len(data) == 0:
        raise ValueError(f"{data_path} has no images in split {split!r}")
    t0 = time.perf_counter()
    aligned, detected, usable = align_all(data, card.input.size, card.input.color == "gray")
    preds = run_engine(engine, aligned)
    seconds = time.perf_counter() - t0
    result = {
        "model": Path(model_path).name,
        "data": Path(data_path).name,
        "split": split or "all",
        "images": len(data),
        "face_crops": data.face_crops,
        "faces_found": int(detected.sum()),
        "detection_coverage": round(float(detected.mean()), 4),
        "fallback_whole_crop": int((usable & ~detected).sum()),
        **metrics(data.labels, preds, list(card.classes)),
        "images_per_second": round(len(data) / seconds, 1),
        "provider": engine.provider,
    }
    if checkpoint:
        prior = engine.card.extra.get("prior_correction") or {}
        ck_preds = run_checkpoint(checkpoint, aligned, engine.card.extra.get("tta", "none"), prior.get("class_weights"))
        result["checkpoint_accuracy"] = metrics(data.labels, ck_preds, list(card.classes))["accuracy"]
        result["prediction_agreement"] = float((ck_preds == preds).mean())
    if out_dir is not None:
        png = Path(out_dir) / f"{Path(model_path).stem}_{Path(data_path).stem}_{split or 'all'}_confusion.png"
        plot_confusion(result["confusion"], list(card.classes), png,
                       f"{card.name} on {Path(data_path).stem} {split or ''}: acc {result['accuracy']:.3f}")
        result["confusion_png"] = str(png)
    return result


def save_card(model_path: str | Path, card: dict) -> None:
    """Write the card into the ONNX metadata and then the JSON card beside it, so the two never disagree.

    Only the JSON card also gets ``onnx.bytes`` and ``onnx.sha256`` of the finished file (a file cannot hold its
    own hash): the app checks them when it lists models, so a half-copied file shows up as damaged.
    """
    import onnx

    model_path = Path(model_path)
    onnx_fields = {k: v for k, v in card.get("onnx", {}).items() if k not in ("bytes", "sha256")}
    proto = onnx.load(str(model_path))
    for prop in proto.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = json.dumps({**card, "onnx": onnx_fields})
    onnx.save(proto, str(model_path))
    card["onnx"] = {**onnx_fields, **fingerprint(model_path)}
    model_path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


def update_card(model_path: str | Path, prefix: str, result: dict) -> None:
    """Write measured accuracy into the card (JSON and ONNX metadata)."""
    card = json.loads(Path(model_path).with_suffix(".json").read_text())
    card.setdefault("metrics", {})
    card["metrics"][f"{prefix}_acc"] = round(result["accuracy"], 4)
    card["metrics"][f"{prefix}_macro_f1"] = round(result["macro_f1"], 4)
    card["metrics"][f"{prefix}_detection_coverage"] = result["detection_coverage"]
    save_card(model_path, card)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--split", default=None, help="e.g. publictest; default: every image")
    ap.add_argument("--out-dir", type=Path, default=Path("models/reports"))
    ap.add_argument("--checkpoint", default=None, help="also evaluate this PyTorch checkpoint on the same faces")
    ap.add_argument("--provider", default="auto")
    ap.add_argument("--face-crops", action="store_true",
                    help="every image is a face crop (e.g. affectnet96): use the whole crop where no face is found")
    ap.add_argument("--update-card", default=None, metavar="PREFIX",
                    help="store accuracy/macro-F1 in the model card as PREFIX_acc (e.g. publictest, ckplus)")
    args = ap.parse_args(argv)
    result = evaluate(args.model, args.data, args.split, args.out_dir, args.checkpoint, args.provider,
                      True if args.face_crops else None)
    if args.update_card:
        update_card(args.model, args.update_card, result)
    printed = {k: v for k, v in result.items() if k != "confusion"}
    print(json.dumps(printed, indent=2))


if __name__ == "__main__":
    main()
