"""Cache a teacher's class probabilities over a dataset's faces once, so students distil from them at no step cost.

``python -m training.teacher_probs models/apvit-small.onnx models/ferformer-small.onnx --data fer2013.npz``

The teacher is one ONNX model or the mean of several, run through the app's own engine on the prepared crops (the
same faces training reads, row for row). A strong teacher is often too slow to run beside every training step on a
CPU; cached, it costs one pass. The pass is resumable: finished chunks are kept in a ``.part`` file and an
interrupted run continues from there. ``training.train --teacher-probs FILE`` blends the cached distribution into
the targets of the faces it covers (and only those: a file made for FER2013 leaves AffectNet's faces alone).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.inference.engine import InferenceEngine
from training.data.mixture import dataset_name
from training.data.prepare import cache_path, default_cache_dir, load_or_prepare

CHUNK = 2048  # faces per resumable step


def teacher_name(models: list[Path]) -> str:
    digest = hashlib.sha1("|".join(sorted(p.name for p in models)).encode()).hexdigest()[:8]
    return f"teacher_{digest}"


def default_output(source: Path, models: list[Path], size: int, gray: bool, cache_dir: Path) -> Path:
    return cache_dir / f"{cache_path(source, size, gray, cache_dir).stem}_{teacher_name(models)}.npz"


def cache_teacher(models: list[Path], source: Path, out: Path | None = None, splits: tuple[str, ...] = ("train",),
                  cache_dir: Path | None = None, batch: int = 128) -> Path:
    """Mean probabilities of ``models`` for the prepared faces of ``source`` in ``splits`` (rows of NaN elsewhere
    and where the pipeline could not use the face); writes ``out`` and returns it."""
    cache_dir = cache_dir or default_cache_dir()
    engines = [InferenceEngine(m, provider="cpu") for m in models]
    first = engines[0].card
    for e in engines[1:]:
        if (e.card.input.size, e.card.input.color, list(e.card.classes)) != (
                first.input.size, first.input.color, list(first.classes)):
            raise ValueError(f"{e.card.name} takes other input or classes than {first.name}: cache them apart")
    gray = first.input.color == "gray"
    prep = load_or_prepare(source, first.input.size, gray, cache_dir=cache_dir)
    out = out or default_output(source, models, first.input.size, gray, cache_dir)
    part = out.with_suffix(".part.npz")
    probs = np.full((len(prep.labels), len(first.classes)), np.nan, np.float32)
    done = 0
    if part.exists():
        with np.load(part) as d:
            done, probs = int(d["done"]), d["probs"]
    rows = np.where(prep.usable & np.isin(prep.split, splits))[0]
    with tqdm(total=len(rows), initial=min(done, len(rows)), desc=f"teacher on {source.name}", unit="face") as bar:
        while done < len(rows):
            idx = rows[done : done + CHUNK]
            acc = np.zeros((len(idx), len(first.classes)), np.float64)
            for engine in engines:
                for s in range(0, len(idx), batch):
                    i = idx[s : s + batch]
                    lms = prep.landmarks[i].astype(np.float32) if engine.card.uses_landmarks else None
                    acc[s : s + len(i)] += engine.predict(prep.images[i], lms)
            probs[idx] = (acc / len(engines)).astype(np.float32)
            done += len(idx)
            np.savez(part, probs=probs, done=done)
            bar.update(len(idx))
    meta = {"models": [str(m) for m in models], "dataset": dataset_name(source), "classes": list(first.classes),
            "input": {"size": first.input.size, "color": first.input.color}, "rows": len(probs),
            "splits": list(splits)}
    np.savez(out, probs=probs, meta=json.dumps(meta))
    part.unlink(missing_ok=True)
    return out


def load_teacher(path: str | Path) -> tuple[np.ndarray, dict]:
    """(probabilities per prepared row, metadata) from a file ``cache_teacher`` wrote."""
    with np.load(path, allow_pickle=False) as d:
        return d["probs"], json.loads(str(d["meta"]))


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T), renormalised: the cached softmax at temperature T (T > 1 spreads it, as Hinton's KD does)."""
    p = np.power(np.clip(probs, 1e-8, 1.0), 1.0 / temperature)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def accuracy_by_split(probs: np.ndarray, labels: np.ndarray, split: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(probs).any(1)
    return {str(s): round(float((probs[ok & (split == s)].argmax(1) == labels[ok & (split == s)]).mean()), 4)
            for s in np.unique(split)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="ONNX models whose mean is the teacher")
    ap.add_argument("--data", type=Path, required=True, help="archive or image folder")
    ap.add_argument("--splits", nargs="+", default=["train"], help="splits to cover (default: train)")
    ap.add_argument("--out", type=Path, default=None, help="output .npz (default cache/<data>_teacher_<hash>.npz)")
    args = ap.parse_args(argv)
    out = cache_teacher(args.models, args.data, args.out, tuple(args.splits))
    probs, meta = load_teacher(out)  # the file names the input it was made at: no second model load
    prep = load_or_prepare(args.data, meta["input"]["size"], meta["input"]["color"] == "gray")
    print(json.dumps({"out": str(out), "accuracy_by_split": accuracy_by_split(probs, prep.labels, prep.split)}))


if __name__ == "__main__":
    main()
