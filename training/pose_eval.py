"""Accuracy by head yaw: ``python -m training.pose_eval models/poster-small.onnx --data ../shared/data/affectnet96``.

``app.face.pose`` marks a face turned past ``TURNED_DEG`` as less reliable. This measures why: each validation face's
yaw (``head_yaw`` on its aligned mesh, from the prepared cache) and the model's accuracy per band of yaw, with the
training faces' yaw percentiles for comparison.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from app.face.pose import head_yaw
from app.inference.engine import InferenceEngine
from training.cached_eval import engine_probabilities
from training.data.mixture import validation_split
from training.data.prepare import load_or_prepare

BANDS = ((0, 10), (10, 20), (20, 30), (30, 40), (40, 90))


def yaws(landmarks: np.ndarray) -> np.ndarray:
    """|yaw| in degrees of each aligned mesh."""
    return np.array([abs(head_yaw(lm.astype(np.float32))) for lm in landmarks])


def by_yaw(engine: InferenceEngine, source: Path, train_sample: int = 3000) -> dict:
    card = engine.card
    prep = load_or_prepare(source, card.input.size, gray=card.input.color == "gray")
    split = validation_split(prep)
    chosen = (prep.split == split) & prep.usable
    yaw = yaws(prep.landmarks[chosen])
    right = engine_probabilities(engine, prep.images[chosen], prep.landmarks[chosen]).argmax(1) == prep.labels[chosen]
    train = yaws(prep.landmarks[(prep.split != split) & prep.usable][:train_sample])
    return {"data": source.name, "split": split,
            "train_yaw_percentiles_50_90_95_99": np.percentile(train, [50, 90, 95, 99]).round(1).tolist(),
            "bands": [{"yaw": f"{lo}-{hi}", "faces": int(m.sum()), "accuracy": round(float(right[m].mean()), 4)}
                      for lo, hi in BANDS if (m := (yaw >= lo) & (yaw < hi)).any()]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", nargs="+", type=Path, required=True)
    args = ap.parse_args(argv)
    engine = InferenceEngine(args.model, provider="cpu")
    print(json.dumps([by_yaw(engine, source) for source in args.data], indent=1))


if __name__ == "__main__":
    main()
