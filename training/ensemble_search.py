"""Which shipped models and which framings make the best ensemble: ``python -m training.ensemble_search
models/poster-small.onnx models/poster-large.onnx models/apvit-large.onnx --views standard``.

Runs each model once per framing on the cached aligned validation faces (the app's alignment, as training uses
it), keeps the probabilities, then scores every subset of models under every view set made of those framings
and prints the table, best first. With several ``--data`` (FER2013 and AffectNet), a combination's score is the
mean of its accuracy on each one's validation split. Selection is on the validation splits, so the best row is
optimistic; ``split_half_selection`` says by how much (choose on half the faces, score on the other half).
With ``--clips``, every combination is also scored on the hand-labelled clips (``training.clip_eval``, the app's
default preset) and ranks by the mean of the validation accuracies and the clip accuracy, as the shipped small
models were chosen: the validation splits are still photographs and cannot see how a talking face is read.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from app.analyze import load_engine
from app.smoothing import DEFAULT_STABILITY, PRESETS
from training.clip_eval import Segment, frame_truth, record_clip
from training.clip_eval import score as score_shown
from training.ensemble import VIEW_SETS, View, ViewBatch, graph_sha256
from training.flicker import RecordedFrame, shown_per_frame
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


def pipeline_fingerprint() -> str:
    """Fingerprint of the code that finds, tracks and aligns faces (``app.face``, ``app.pipeline``): a recording
    made before that code changed is not reused."""
    import app

    root = Path(app.__file__).parent
    digest = hashlib.sha256()
    for source in sorted([*(root / "face").glob("*.py"), root / "pipeline.py"]):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def clip_recordings(model: Path, clips: dict[str, list[Segment]], clips_dir: Path,
                    cache_dir: Path | None) -> dict[str, list[RecordedFrame]]:
    """Each labelled clip's recording through the live pipeline with this model (``clip_eval.record_clip``), kept
    in ``cache_dir`` under the model's graph fingerprint, the pipeline's code and the clips' names and sizes."""
    key = hashlib.sha256(graph_sha256(model).encode())
    key.update(pipeline_fingerprint().encode())
    for name in clips:
        key.update(f"{name}:{(clips_dir / name).stat().st_size}".encode())
    path = cache_dir / f"{model.stem}_clips_{key.hexdigest()[:16]}.pkl" if cache_dir else None
    if path and path.exists():
        return pickle.loads(path.read_bytes())
    engine = load_engine(str(model), "cpu")
    recordings = {name: record_clip(clips_dir / name, engine) for name in clips}
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(recordings))
    return recordings


def mean_recording(recordings: list[list[RecordedFrame]]) -> list[RecordedFrame]:
    """What an ensemble of these models records on a clip: each face's probabilities averaged over the members,
    as the ensemble graph averages them. Finding, tracking and aligning faces never look at the model, so the
    members' recordings match frame for frame; where they do not, averaging would mix different faces."""
    first = recordings[0]
    if any(len(r) != len(first) for r in recordings):
        raise ValueError("the members' clip recordings differ in length: they did not see the same frames")
    out = []
    for frames in zip(*recordings):
        layout = [[(face.track_id, face.probabilities is None, face.new_face, face.mouth_opening) for face in f.faces]
                  for f in frames]
        if any(lay != layout[0] for lay in layout) or any(f.ended != frames[0].ended for f in frames):
            raise ValueError(f"the members tracked different faces at {frames[0].timestamp:.3f} s")
        faces = [face._replace(probabilities=None if face.probabilities is None else
                               np.mean([f.faces[i].probabilities for f in frames], axis=0))
                 for i, face in enumerate(frames[0].faces)]
        out.append(replace(frames[0], faces=faces))
    return out


def split_accuracies(row: dict) -> dict[str, float]:
    """A row's accuracy on each validation split (one unnamed entry when a single dataset was scored)."""
    return row.get("by_dataset", {"": row["accuracy"]})


def add_clip_scores(rows: list[dict], recordings: dict[str, dict[str, list[RecordedFrame]]],
                    clips: dict[str, list[Segment]], classes: tuple[str, ...]) -> list[dict]:
    """Each row scored on the labelled clips with the default preset (``clip_acc``: the mean over the clips, as
    the model cards keep it) and ranked by the mean of its validation accuracies and that, best first."""
    preset = PRESETS[DEFAULT_STABILITY]
    some_model = next(iter(recordings.values()))
    truths = {name: frame_truth(segments, len(some_model[name]), classes) for name, segments in clips.items()}
    for row in rows:
        by_clip = {}
        for name, truth in truths.items():
            shown = shown_per_frame(mean_recording([recordings[m][name] for m in row["models"]]), preset)
            by_clip[name] = score_shown(shown, truth, classes)["accuracy"]
        row["by_clip"] = by_clip
        row["clip_acc"] = round(float(np.mean(list(by_clip.values()))), 4)
        row["mean_with_clips"] = round(float(np.mean([*split_accuracies(row).values(), row["clip_acc"]])), 4)
    return sorted(rows, key=lambda row: -row["mean_with_clips"])


def above(rows: list[dict], model: str) -> list[dict]:
    """The rows more accurate than ``model`` alone on every validation split: how the best model is chosen, so it
    never trades the default's accuracy on one set of still photographs for clip points."""
    floor = next((r for r in rows if r["models"] == [model]), None)
    if floor is None:
        raise ValueError(f"{model!r} is not one of the candidates")
    return [r for r in rows if all(split_accuracies(r)[k] > v for k, v in split_accuracies(floor).items())]


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


def ranked(combos: list[tuple[tuple[str, ...], str]], correct: np.ndarray,
           datasets: dict[str, slice] | None = None) -> list[dict]:
    """``correct_per_face``'s answer as rows, best first. With several ``datasets`` (name -> their faces' columns)
    a row also gives each one's accuracy, and ranks by their mean: a large split does not outvote a small one."""
    weights = face_weights(correct.shape[1], datasets)
    accuracy = correct @ weights
    rows = []
    for (subset, set_name), hits, acc in zip(combos, correct, accuracy):
        row = {"models": list(subset), "views": set_name, "accuracy": round(float(acc), 4)}
        if datasets and len(datasets) > 1:
            row["by_dataset"] = {name: round(float(hits[cols].mean()), 4) for name, cols in datasets.items()}
        rows.append(row)
    return sorted(rows, key=lambda row: -row["accuracy"])


def face_weights(n: int, datasets: dict[str, slice] | None = None) -> np.ndarray:
    """Each face's share of the score: equal within a dataset, each dataset 1 / (number of datasets) in all."""
    if not datasets:
        return np.full(n, 1.0 / n)
    weights = np.zeros(n)
    for cols in datasets.values():
        weights[cols] = 1.0 / (len(datasets) * len(weights[cols]))
    return weights


def selection_optimism(correct: np.ndarray, splits: int = 500, seed: int = 0,
                       datasets: dict[str, slice] | None = None) -> dict:
    """How much choosing the best combination flatters it: split the faces in random halves, choose on one half,
    score on the other. The chosen row's accuracy on faces it was not chosen on is the honest estimate. With
    several datasets, each half is scored as ``ranked`` scores (the mean of the datasets' accuracies)."""
    rng = np.random.default_rng(seed)
    n = correct.shape[1]
    weights = face_weights(n, datasets)
    chosen_on, held_out = [], []
    for _ in range(splits):
        order = rng.permutation(n)
        a, b = order[: n // 2], order[n // 2 :]
        best = int((correct[:, a] @ weights[a]).argmax())
        chosen_on.append(correct[best, a] @ weights[a] / weights[a].sum())
        held_out.append(correct[best, b] @ weights[b] / weights[b].sum())
    return {"splits": splits, "accuracy_where_chosen": round(float(np.mean(chosen_on)), 4),
            "accuracy_held_out": round(float(np.mean(held_out)), 4),
            "held_out_range": [round(float(np.min(held_out)), 4), round(float(np.max(held_out)), 4)]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--views", default="standard", choices=list(VIEW_SETS), help="the framings to try")
    ap.add_argument("--data", nargs="+", default=None,
                    help="datasets, each scored on its validation split (default: ../shared/data/fer2013.npz); "
                         "with several, combinations rank by the mean of their accuracies")
    ap.add_argument("--split", default=None, help="the split to score (default: each dataset's validation split)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--splits", type=int, default=500,
                    help="random half splits for the selection-optimism estimate (choose on one half, score the other)")
    ap.add_argument("--cache-dir", type=Path, default=Path("cache/ensemble_search"),
                    help="per-model probabilities kept here (keyed by graph, framings and faces); '' to disable")
    ap.add_argument("--clips", action="store_true",
                    help="also score each combination on the labelled clips (training.clip_eval) and rank by the "
                         "mean of the validation accuracies and the clip accuracy; needs --views none")
    ap.add_argument("--above", default=None, metavar="MODEL",
                    help="rank only the combinations more accurate than this candidate (a file stem) on every split")
    args = ap.parse_args(argv)
    if args.clips and args.views != "none":
        ap.error("--clips scores the models as the app runs them, one framing: use it with --views none")
    stems = [m.stem for m in args.models]
    if clash := sorted({s for s in stems if stems.count(s) > 1}):  # candidates are named by file stem throughout
        ap.error(f"two candidates are both named {', '.join(clash)}: copy one (with its .json) under another name")
    from training.data.archive import default_data_dir

    views = VIEW_SETS[args.views]
    cache_dir = args.cache_dir if str(args.cache_dir) not in ("", ".") else None
    spec = read_card(args.models[0])["input"]
    probs: dict[str, dict[str, list[np.ndarray]]] = {m.stem: {v.name: [] for v in views} for m in args.models}
    labels, datasets, start = [], {}, 0
    for source in args.data or [default_data_dir() / "fer2013.npz"]:
        images, landmarks, face_labels, name = validation_faces(Path(source), spec, args.split)
        for m in args.models:
            for view, p in cached_view_probabilities(m, views, images, landmarks, cache_dir).items():
                probs[m.stem][view].append(p)
        labels.append(face_labels)
        datasets[name] = slice(start, start + len(face_labels))
        start += len(face_labels)
    joined = {m: {v: np.concatenate(ps) for v, ps in per_view.items()} for m, per_view in probs.items()}
    names = [v.name for v in views]
    # every named view set whose framings were all run, plus each framing alone for the per-model table
    view_sets = {k: [v.name for v in vs] for k, vs in VIEW_SETS.items() if all(v.name in names for v in vs)}
    combos, correct = correct_per_face(joined, np.concatenate(labels), view_sets)  # the ranking and estimate share it
    rows = ranked(combos, correct, datasets)
    if args.clips:
        from training.clip_eval import LABELS_FILE, load_labels
        from training.flicker import default_clips

        clips, clips_dir = load_labels(LABELS_FILE), default_clips()[0].parent
        recordings = {m.stem: clip_recordings(m, clips, clips_dir, cache_dir) for m in args.models}
        rows = add_clip_scores(rows, recordings, clips, tuple(read_card(args.models[0])["classes"]))
    singles = [r for r in rows if len(r["models"]) == 1]
    if args.above:
        rows = above(rows, args.above)
    optimism = selection_optimism(correct, args.splits, datasets=datasets)
    scores = [r["accuracy"] for r in rows]
    print(json.dumps({"datasets": {k: v.stop - v.start for k, v in datasets.items()}, "per_model": singles,
                      **({"above": args.above, "combinations_above": len(rows)} if args.above else {}),
                      "best": rows[: args.top], "range": [min(scores), max(scores)] if scores else [],
                      "combinations": len(combos), "split_half_selection": optimism}, indent=1))


def validation_faces(source: Path, spec: dict, split: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """One dataset's validation faces as a model's input sees them (the app's alignment, as training's validation
    normalises them): images, landmarks, labels and a name for the report."""
    from training.data.mixture import validation_split
    from training.data.prepare import load_or_prepare
    from training.train import normalise, to_tensors

    prep = load_or_prepare(source, spec["size"], gray=spec["color"] == "gray")
    split = split or validation_split(prep)
    data = prep.subset(split)
    raw, lms, _ = to_tensors(data, torch.device("cpu"), spec["color"])
    images = normalise(raw, spec["mean"], spec["std"], raw.shape[1]).numpy()
    return images, lms.numpy(), data.labels, f"{source.stem}/{split}"


if __name__ == "__main__":
    main()
