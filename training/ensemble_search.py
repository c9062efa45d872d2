"""Which shipped models and which framings make the best ensemble: ``python -m training.ensemble_search
models/poster-small.onnx models/poster-large.onnx models/apvit-large.onnx --views standard``.

Runs each model once per framing on the cached aligned publictest faces (the app's alignment, as training uses
it), keeps the probabilities, then scores every subset of models under every view set made of those framings
and prints the table, best first. Selection is on publictest, the only held-out split, so the best row is
optimistic; ``split_half_selection`` says by how much (choose on half the faces, score on the other half).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from training.ensemble import VIEW_SETS, View, ViewBatch, graph_sha256
from training.recover import read_card


def view_probabilities(model: Path, views: tuple[View, ...], images: np.ndarray, landmarks: np.ndarray,
                       batch: int = 64) -> dict[str, np.ndarray]:
    """Probabilities (N, classes) of one shipped model for each framing, by view name (``batch`` faces at a
    time: each becomes views x 2 mirror rows, so memory grows fast)."""
    card = read_card(model)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    uses = card["input"]["landmarks"] != "none"
    out: dict[str, list[np.ndarray]] = {v.name: [] for v in views}
    framer = ViewBatch(views, card["input"]["size"])
    for s in tqdm(range(0, len(images), batch), desc=f"{model.stem} x {len(views)} framings", unit="batch"):
        image = torch.from_numpy(images[s : s + batch])
        with torch.no_grad():
            view_image, view_lms = framer(image, torch.from_numpy(landmarks[s : s + batch]))
        feed = {"image": view_image.numpy(), **({"landmarks": view_lms.numpy()} if uses else {})}
        probs = sess.run(["probabilities"], feed)[0].reshape(len(views), len(image), -1)
        for v, p in zip(views, probs):
            out[v.name].append(p)
    return {k: np.concatenate(v) for k, v in out.items()}


def cached_view_probabilities(model: Path, views: tuple[View, ...], images: np.ndarray, landmarks: np.ndarray,
                              cache_dir: Path | None) -> dict[str, np.ndarray]:
    """``view_probabilities``, kept in ``cache_dir`` under the model's graph fingerprint, the framings and the faces:
    adding one new model to a search then costs that model alone (a large model takes minutes on 2 cores), and a
    retrained model, other framings or other faces never reuse a stale entry."""
    if cache_dir is None:
        return view_probabilities(model, views, images, landmarks)
    key = hashlib.sha256()
    key.update(graph_sha256(model).encode())
    key.update(json.dumps([v.__dict__ for v in views], sort_keys=True).encode())
    key.update(np.ascontiguousarray(images).tobytes())
    key.update(np.ascontiguousarray(landmarks).tobytes())
    path = cache_dir / f"{model.stem}_{key.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as cached:
            return {v.name: cached[v.name] for v in views}
    probs = view_probabilities(model, views, images, landmarks)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **probs)
    return probs


def correct_per_face(probs: dict[str, dict[str, np.ndarray]], labels: np.ndarray,
                     view_sets: dict[str, list[str]]) -> tuple[list[tuple[tuple[str, ...], str]], np.ndarray]:
    """Every (subset of models, view set) and, per combination, which faces its mean probabilities get right
    (K combinations x N faces, boolean)."""
    combos, correct = [], []
    names = list(probs)
    for r in range(1, len(names) + 1):
        for subset in itertools.combinations(names, r):
            for set_name, views in view_sets.items():
                mean = np.mean([probs[m][v] for m in subset for v in views], axis=0)
                combos.append((subset, set_name))
                correct.append(mean.argmax(1) == labels)
    return combos, np.stack(correct)


def score(probs: dict[str, dict[str, np.ndarray]], labels: np.ndarray, view_sets: dict[str, list[str]]) -> list[dict]:
    """Accuracy of every subset of models under every view set (mean of probabilities over both)."""
    return ranked(*correct_per_face(probs, labels, view_sets))


def ranked(combos: list[tuple[tuple[str, ...], str]], correct: np.ndarray) -> list[dict]:
    """``correct_per_face``'s answer as rows with their accuracy, best first."""
    rows = [{"models": list(subset), "views": set_name, "accuracy": round(float(hits.mean()), 4)}
            for (subset, set_name), hits in zip(combos, correct)]
    return sorted(rows, key=lambda row: -row["accuracy"])


def selection_optimism(correct: np.ndarray, splits: int = 500, seed: int = 0) -> dict:
    """How much choosing the best combination flatters it: split the faces in random halves, choose on one half,
    score on the other. The chosen row's accuracy on faces it was not chosen on is the honest estimate."""
    rng = np.random.default_rng(seed)
    n = correct.shape[1]
    chosen_on, held_out = [], []
    for _ in range(splits):
        order = rng.permutation(n)
        a, b = order[: n // 2], order[n // 2 :]
        best = int(correct[:, a].mean(1).argmax())
        chosen_on.append(correct[best, a].mean())
        held_out.append(correct[best, b].mean())
    return {"splits": splits, "accuracy_where_chosen": round(float(np.mean(chosen_on)), 4),
            "accuracy_held_out": round(float(np.mean(held_out)), 4),
            "held_out_range": [round(float(np.min(held_out)), 4), round(float(np.max(held_out)), 4)]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--views", default="standard", choices=list(VIEW_SETS), help="the framings to try")
    ap.add_argument("--data", default=None, help="default: ../shared/data/fer2013.npz")
    ap.add_argument("--split", default="publictest")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--splits", type=int, default=500,
                    help="random half splits for the selection-optimism estimate (choose on one half, score the other)")
    ap.add_argument("--cache-dir", type=Path, default=Path("cache/ensemble_search"),
                    help="per-model probabilities kept here (keyed by graph, framings and faces); '' to disable")
    args = ap.parse_args(argv)
    from training.data.archive import default_data_dir
    from training.data.prepare import load_or_prepare
    from training.train import normalise, to_tensors

    card = read_card(args.models[0])
    spec = card["input"]
    prep = load_or_prepare(args.data or default_data_dir() / "fer2013.npz", spec["size"],
                           gray=spec["color"] == "gray").subset(args.split)
    raw, lms, _ = to_tensors(prep, torch.device("cpu"), spec["color"])  # the faces as training's validation sees them
    images = normalise(raw, spec["mean"], spec["std"], raw.shape[1]).numpy()
    landmarks = lms.numpy()
    views = VIEW_SETS[args.views]
    cache_dir = args.cache_dir if str(args.cache_dir) not in ("", ".") else None
    probs = {m.stem: cached_view_probabilities(m, views, images, landmarks, cache_dir) for m in args.models}
    names = [v.name for v in views]
    # every named view set whose framings were all run, plus each framing alone for the per-model table
    view_sets = {k: [v.name for v in vs] for k, vs in VIEW_SETS.items() if all(v.name in names for v in vs)}
    combos, correct = correct_per_face(probs, prep.labels, view_sets)  # once: the ranking and the estimate share it
    rows = ranked(combos, correct)
    singles = [r for r in rows if len(r["models"]) == 1]
    optimism = selection_optimism(correct, args.splits)
    print(json.dumps({"per_model": singles, "best": rows[: args.top],
                      "range": [rows[-1]["accuracy"], rows[0]["accuracy"]], "combinations": len(rows),
                      "split_half_selection": optimism}, indent=1))


if __name__ == "__main__":
    main()
