"""Score shipped ONNX models on several datasets at once from the prepared caches, e.g.
``python -m training.cached_eval models/poster-small.onnx --data ../shared/data/affectnet96 --update-card``.

The caches hold exactly what ``training.evaluate`` computes on the fly (MediaPipe on the upscaled image, the shared
alignment), so the numbers agree with it up to faces the cache marks unusable (counted wrong here); this runs the
app's engine only, which makes comparing training levers and prior corrections a matter of seconds per model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.inference.engine import InferenceEngine
from training.data.mixture import validation_split
from training.data.prepare import load_or_prepare
from training.evaluate import metrics

CARD_PREFIX = {"fer2013": "publictest", "affectnet96": "affectnet", "ckplus48": "ckplus"}


def engine_probabilities(engine: InferenceEngine, images: np.ndarray, landmarks: np.ndarray,
                         batch: int = 128) -> np.ndarray:
    """The engine's probabilities for cached crops, in batches as the app runs them."""
    out = []
    for s in tqdm(range(0, len(images), batch), desc=engine.card.name, unit="batch", leave=False):
        lms = landmarks[s : s + batch].astype(np.float32) if engine.card.uses_landmarks else None
        out.append(engine.predict(images[s : s + batch], lms))
    return np.concatenate(out) if out else np.zeros((0, len(engine.card.classes)), np.float32)


def score(engine: InferenceEngine, source: Path, split: str | None = None) -> dict:
    """Accuracy, macro-F1 and per-class recall of the engine's model on one dataset's validation split (or
    ``split``)."""
    card = engine.card
    prep = load_or_prepare(source, card.input.size, gray=card.input.color == "gray")
    split = split or (validation_split(prep) if len(set(prep.split.tolist())) > 1 else None)
    data = prep.subset(split) if split else prep
    probs = engine_probabilities(engine, data.images[data.usable], data.landmarks[data.usable])
    preds = np.full(len(data.labels), -1, np.int64)
    preds[data.usable] = probs.argmax(1)
    m = metrics(data.labels, preds, list(card.classes))
    return {"model": card.name, "data": source.name, "split": split or "all", "faces": len(data.labels),
            "accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
            "per_class_recall": m["per_class_recall"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--data", nargs="+", type=Path, required=True, help="archives or image folders")
    ap.add_argument("--update-card", action="store_true",
                    help="write accuracy, macro-F1 and per-class recall into each model's JSON card")
    args = ap.parse_args(argv)
    for model in args.models:
        engine = InferenceEngine(model, provider="cpu")  # one session per model, however many datasets
        for source in args.data:
            result = score(engine, source)
            print(json.dumps(result), flush=True)
            if args.update_card and source.stem in CARD_PREFIX:
                record(model, CARD_PREFIX[source.stem], result)


def record(model: Path, prefix: str, result: dict) -> None:
    """Store a dataset's scores under ``prefix`` in the JSON card only: the app reads the JSON card first, and
    rewriting the ONNX file's metadata for a new number would put another copy of the weights in the history."""
    path = model.with_suffix(".json")
    card = json.loads(path.read_text())
    m = card.setdefault("metrics", {})
    m[f"{prefix}_acc"], m[f"{prefix}_macro_f1"] = result["accuracy"], result["macro_f1"]
    m[f"{prefix}_per_class_recall"] = result["per_class_recall"]
    path.write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
