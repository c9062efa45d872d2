"""Ship trained runs into ``models/``: export, evaluate on publictest and CK+ through the app's pipeline, copy the
training curves, pick the default model, and print the README table.

python -m training.ship runs/apvit_small runs/poster_small runs/ferformer_small
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from app.bench import time_predict
from app.inference.engine import InferenceEngine
from training.curves import plot_curves
from training.data.archive import default_data_dir
from training.evaluate import evaluate, save_card, update_card
from training.export import export


def cpu_ms_per_face(model: Path, runs: int = 200) -> float:
    """ONNX Runtime CPU milliseconds for one aligned face (batch of 1, preprocessing included)."""
    engine = InferenceEngine(model, provider="cpu")
    card = engine.card
    shape = (1, card.input.size, card.input.size) + (() if card.input.color == "gray" else (3,))
    crop = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    return time_predict(engine, crop, np.full((1, 478, 3), 0.5, np.float32), runs)


def ship_run(run: Path, models_dir: Path, data_dir: Path, name: str | None = None, prior_target: str = "train"
             ) -> dict:
    name = name or run.name.replace("_", "-")
    onnx_path = models_dir / f"{name}.onnx"
    export(run / "best.pt", onnx_path, name, prior_target=prior_target)
    plot_lineage_curves(run / "best.pt", models_dir / "reports" / f"{name}_curves.png", name)
    return measure(onnx_path, data_dir, checkpoint=run / "best.pt", curves=f"reports/{name}_curves.png")


def measure(onnx_path: Path, data_dir: Path, checkpoint: Path | None = None, curves: str | None = None) -> dict:
    """Publictest and CK+ through the app's pipeline, per-class recall, confusion PNGs and CPU ms per face,
    all written into the card (``checkpoint``: also check the PyTorch checkpoint agrees on the same faces)."""
    models_dir = onnx_path.parent
    reports = models_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    fer = evaluate(onnx_path, data_dir / "fer2013.npz", "publictest", reports, checkpoint=checkpoint, provider="cpu")
    update_card(onnx_path, "publictest", fer)
    ck = evaluate(onnx_path, data_dir / "ckplus48.npz", None, reports, provider="cpu")
    update_card(onnx_path, "ckplus", ck)
    affectnet = None
    if (data_dir / "affectnet96").is_dir():  # in-the-wild colour faces: the nearest thing to a webcam's
        affectnet = evaluate(onnx_path, data_dir / "affectnet96", "valid", reports, provider="cpu", face_crops=True)
        update_card(onnx_path, "affectnet", affectnet)
    card_path = onnx_path.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["metrics"]["publictest_per_class_recall"] = fer["per_class_recall"]
    if affectnet:
        card["metrics"]["affectnet_per_class_recall"] = affectnet["per_class_recall"]
    if checkpoint is not None:
        card["metrics"]["checkpoint_publictest_acc"] = round(fer["checkpoint_accuracy"], 4)
    card["metrics"]["cpu_ms_per_face"] = round(cpu_ms_per_face(onnx_path), 3)
    card["reports"] = {**({"curves": curves} if curves else {}),
                       "publictest_confusion": str(Path(fer["confusion_png"]).relative_to(models_dir)),
                       "ckplus_confusion": str(Path(ck["confusion_png"]).relative_to(models_dir)),
                       **({"affectnet_confusion": str(Path(affectnet["confusion_png"]).relative_to(models_dir))}
                          if affectnet else {})}
    save_card(onnx_path, card)
    return card


def plot_lineage_curves(checkpoint: Path, path: Path, title: str) -> None:
    """One curve over every training stage (scratch run, then each fine-tune), stage starts marked."""
    import torch

    from training.checkpoint import checkpoint_chain

    history, starts = [], []
    chain = checkpoint_chain(torch.load(checkpoint, map_location="cpu", weights_only=False))
    for stage in chain:
        if isinstance(stage, str):
            continue
        if history:
            starts.append(len(history) + 1)
        history += [{**h, "epoch": len(history) + i + 1} for i, h in enumerate(stage["state"]["history"])]
    missing = sum(isinstance(stage, str) for stage in chain)
    note = f" ({len(chain) - missing} stages" + (f"; {missing} earlier stage(s) missing" if missing else "") + ")"
    plot_curves(history, path, title + note, starts)


def retime(models_dir: Path) -> None:
    """CPU ms per face for every shipped model, measured again (e.g. after shipping beside a training run)."""
    for card_path in sorted(models_dir.glob("*.json")):
        card = json.loads(card_path.read_text())
        card.setdefault("metrics", {})["cpu_ms_per_face"] = round(cpu_ms_per_face(card_path.with_suffix(".onnx")), 3)
        save_card(card_path.with_suffix(".onnx"), card)
        print(f"{card['name']}: {card['metrics']['cpu_ms_per_face']} ms per face")


def choose_default(models_dir: Path) -> str | None:
    """The small (CPU real-time) model with the best mean of FER2013 publictest, AffectNet valid and labelled-clip
    accuracy (``training.clip_eval``: talking, moving faces on video, which the still photographs of the two
    validation splits do not show) becomes the default; a card without a measure leaves it out of its mean. Only
    JSON cards whose flag changes are rewritten: the app reads the flag there, and rewriting an ONNX file would add
    a copy of its weights to the history."""
    cards = {p: json.loads(p.read_text()) for p in sorted(models_dir.glob("*.json"))}
    small = {p: c for p, c in cards.items() if c.get("size") == "small" and c.get("metrics", {}).get("publictest_acc")}
    if not small:
        return None

    def camera_score(card: dict) -> float:
        m = card["metrics"]
        return float(np.mean([m[k] for k in ("publictest_acc", "affectnet_acc", "clip_acc") if m.get(k) is not None]))

    best = max(small, key=lambda p: camera_score(small[p]))
    for p, c in cards.items():
        if bool(c.get("default")) != (p == best):
            c["default"] = p == best
            p.write_text(json.dumps(c, indent=2) + "\n")
    return cards[best]["name"]


def table(models_dir: Path) -> str:
    """The README's model table, from the cards."""
    rows = ["| model | for | FER2013 publictest | AffectNet valid | CK+ | clips | CPU ms/face | default |",
            "|---|---|---|---|---|---|---|---|"]
    for p in sorted(models_dir.glob("*.json")):
        c = json.loads(p.read_text())
        m = c.get("metrics", {})

        def pct(key: str, m=m) -> str:
            return f"{100 * m[key]:.1f}%" if m.get(key) is not None else "-"

        rows.append(f"| {c['name']} | {c.get('purpose', '')} | {pct('publictest_acc')} | "
                    f"{pct('affectnet_acc')} | {pct('ckplus_acc')} | {pct('clip_acc')} | "
                    f"{m.get('cpu_ms_per_face', 0):.1f} | "
                    f"{'yes' if c.get('default') else ''} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="run folders, each optionally RUN:NAME (default name: folder name)")
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--retime", action="store_true",
                    help="re-measure CPU ms per face of every model in --models-dir (run on an idle machine)")
    ap.add_argument("--prior-target", choices=["train", "uniform"], default="train",
                    help="the class prior the shipped probabilities assume (see training.export)")
    args = ap.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    if args.retime:
        retime(args.models_dir)
    for spec in args.runs:
        run, _, name = spec.partition(":")
        card = ship_run(Path(run), args.models_dir, data_dir, name or None, args.prior_target)
        print(json.dumps({"model": card["name"], **{k: v for k, v in card["metrics"].items()
                                                    if not isinstance(v, dict)}}))
    print("default:", choose_default(args.models_dir))
    print(table(args.models_dir))


if __name__ == "__main__":
    main()
