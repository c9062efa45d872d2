"""Accuracy on real video: ``python -m training.clip_eval MODEL [MODEL ...]``.

The datasets hold still photographs; a webcam shows a moving, talking face. ``clip_labels.json`` labels stretches
of the shared one-person clips by eye, and each model runs once per clip through the live pipeline
(``FacePipeline``: MediaPipe, tracker, alignment, ONNX Runtime). The recorded raw probabilities are replayed
through every stability preset (``training.flicker``), and each preset is scored on the labelled frames: the share
of them showing the right label (a frame without a face counts as wrong) and the recall of each labelled class.
Two clips and two people make a small test, so it checks what the validation splits cannot see (talking,
moving faces) rather than ranking close models.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from app.analyze import load_engine
from app.capture import open_source
from app.pipeline import FacePipeline
from app.smoothing import DEFAULT_STABILITY, PRESETS, RAW, Stability
from training.flicker import RecordedFrame, _frames, record, shown_per_frame, with_every_frame_alike

LABELS_FILE = Path(__file__).with_name("clip_labels.json")

Segment = tuple[int, int, str]


def load_labels(path: Path = LABELS_FILE) -> dict[str, list[Segment]]:
    """Clip file name -> its labelled segments ``(first frame, end frame, label)``."""
    clips = json.loads(Path(path).read_text())["clips"]
    return {name: [(int(a), int(b), str(label)) for a, b, label in segments] for name, segments in clips.items()}


def frame_truth(segments: list[Segment], n_frames: int, classes: tuple[str, ...]) -> np.ndarray:
    """The labelled class index of every frame, -1 where no segment covers it."""
    truth = np.full(n_frames, -1, dtype=np.int64)
    for first, end, label in segments:
        if label not in classes:
            raise ValueError(f"clip label {label!r} is not one of the model's classes {classes}")
        if not 0 <= first < end:
            raise ValueError(f"clip segment [{first}, {end}) is empty or negative")
        truth[first:min(end, n_frames)] = classes.index(label)
    return truth


def score(shown: np.ndarray, truth: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Accuracy, per-class recall and the labels shown, over the labelled frames (``shown`` -1: no face)."""
    labelled = truth >= 0
    if not labelled.any():
        raise ValueError("no labelled frame falls inside the clip")
    right = shown[labelled] == truth[labelled]
    shown_counts = np.bincount(shown[labelled][shown[labelled] >= 0], minlength=len(classes))
    return {
        "frames": int(labelled.sum()),
        "accuracy": round(float(right.mean()), 4),
        "recall": {classes[c]: round(float((shown[truth == c] == c).mean()), 4) for c in np.unique(truth[labelled])},
        "shown": {classes[c]: round(float(shown_counts[c] / labelled.sum()), 3)
                  for c in np.argsort(-shown_counts) if shown_counts[c]},
    }


def record_clip(path: Path, engine) -> list[RecordedFrame]:
    """One clip through the live pipeline with one face (the clips show one person): the raw probabilities each
    frame gave the smoother, to be replayed through any preset."""
    source = open_source(path)
    pipeline = FacePipeline(engine, max_faces=1)
    try:
        return record(pipeline, _frames(source), desc=path.name, total=source.frame_count)
    finally:
        source.close()
        pipeline.close()


def score_recording(frames: list[RecordedFrame], segments: list[Segment], classes: tuple[str, ...],
                    presets: list[Stability]) -> dict:
    """A recorded clip scored on its labelled frames, raw and per preset."""
    truth = frame_truth(segments, len(frames), classes)
    return {stability.name: score(shown_per_frame(frames, stability), truth, classes) for stability in [RAW, *presets]}


def evaluate_clip(path: Path, engine, segments: list[Segment], presets: list[Stability]) -> dict:
    return score_recording(record_clip(path, engine), segments, tuple(engine.card.classes), presets)


def evaluate(model: str, clips_dir: Path, labels: dict[str, list[Segment]], presets: list[Stability],
             provider: str = "auto") -> dict:
    engine = load_engine(model, provider)
    missing = [name for name in labels if not (clips_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"labelled clips not found in {clips_dir}: {', '.join(missing)}")
    return {"model": engine.card.name, "source": str(model), "onnx": str(engine.path),
            "clips": {name: evaluate_clip(clips_dir / name, engine, segments, presets)
                      for name, segments in labels.items()}}


def summary_table(reports: list[dict]) -> str:
    """Accuracy (per-class recall) per model, clip and preset, as a Markdown table."""
    clips = list(reports[0]["clips"])
    lines = ["| model | preset | " + " | ".join(clips) + " |", "|---" * (len(clips) + 2) + "|"]
    for report in reports:
        for preset in report["clips"][clips[0]]:
            cells = []
            for clip in clips:
                s = report["clips"][clip][preset]
                recall = ", ".join(f"{k} {100 * v:.0f}" for k, v in s["recall"].items())
                cells.append(f"{100 * s['accuracy']:.1f}% ({recall})")
            lines.append(f"| {report['source']} | {preset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def card_metrics(report: dict) -> dict:
    """What the model card keeps: accuracy with the app's default preset, the mean over the clips and each clip's."""
    per_clip = {clip: presets[DEFAULT_STABILITY]["accuracy"] for clip, presets in report["clips"].items()}
    return {"clip_acc": round(float(np.mean(list(per_clip.values()))), 4), "clip_acc_per_clip": per_clip,
            "clip_preset": DEFAULT_STABILITY}


def update_card(report: dict) -> Path:
    """Write ``card_metrics`` into the JSON card beside the model the report scored. Only the JSON: rewriting the
    ONNX file's own copy of the card would add another copy of its weights to the history (as
    ``training.ship.choose_default``)."""
    card_path = Path(report["onnx"]).with_suffix(".json")
    card = json.loads(card_path.read_text())
    card.setdefault("metrics", {}).update(card_metrics(report))
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card_path


def main(argv: list[str] | None = None) -> None:
    from training.flicker import default_clips

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="models/ names or .onnx paths")
    ap.add_argument("--clips-dir", type=Path, default=None, help="folder of the clips (default: the shared videos)")
    ap.add_argument("--labels", type=Path, default=LABELS_FILE)
    ap.add_argument("--stability", choices=list(PRESETS), action="append", help="preset(s); default: all")
    ap.add_argument("--provider", default="auto")
    ap.add_argument("--json", type=Path, default=None, help="also write the reports here")
    ap.add_argument("--update-card", action="store_true",
                    help=f"write the accuracy with the default preset ({DEFAULT_STABILITY}) into each model's card")
    ap.add_argument("--every-frame-alike", action="store_true",
                    help="also each preset without the talking weight (talk_weight 1)")
    args = ap.parse_args(argv)
    clips_dir = args.clips_dir or default_clips()[0].parent
    presets = [PRESETS[n] for n in (args.stability or PRESETS)]
    if args.update_card and PRESETS[DEFAULT_STABILITY] not in presets:
        presets.append(PRESETS[DEFAULT_STABILITY])
    presets = with_every_frame_alike(presets) if args.every_frame_alike else presets
    labels = load_labels(args.labels)
    reports = [evaluate(m, clips_dir, labels, presets, args.provider) for m in args.models]
    print(summary_table(reports))
    if args.update_card:
        for report in reports:
            print(f"{update_card(report)}: clip_acc {card_metrics(report)['clip_acc']:.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n")


if __name__ == "__main__":
    main()
