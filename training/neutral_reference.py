"""What a typical neutral face reads as, per model, and what neutral calibration does on the labelled clip:
``python -m training.neutral_reference models/poster-small.onnx --update-card --clip``.

``app.neutral`` weighs a calibrated person's probabilities so that their resting face reads as the model's
``neutral_reference``: the mean of its probabilities over AffectNet valid's neutral faces (camera-like colour faces,
through the app's alignment, from the prepared cache). ``--clip`` calibrates on each labelled neutral stretch of
woman_smile_neutral in turn (its first ``CALIBRATION_S`` seconds, as the app's button would) and scores the clip's
other labelled frames with the default stability preset, calibrated and not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from app.inference.engine import InferenceEngine
from app.neutral import CALIBRATION_S, NeutralCalibration, learn_neutral
from app.smoothing import DEFAULT_STABILITY, PRESETS
from training.cached_eval import engine_probabilities
from training.clip_eval import frame_truth, load_labels, record_clip, score
from training.data.prepare import load_or_prepare
from training.flicker import RecordedFace, RecordedFrame, shown_per_frame

AFFECTNET = Path("../shared/data/affectnet96")
CLIP = "woman_smile_neutral.mp4"


def neutral_reference(engine: InferenceEngine, source: Path = AFFECTNET, split: str = "valid") -> np.ndarray:
    """The model's mean probabilities over ``source``'s neutral faces of ``split``."""
    card = engine.card
    prep = load_or_prepare(source, card.input.size, gray=card.input.color == "gray")
    chosen = (prep.split == split) & prep.usable & (prep.labels == list(prep.classes).index("neutral"))
    return engine_probabilities(engine, prep.images[chosen], prep.landmarks[chosen]).mean(axis=0)


def calibrated(frames: list[RecordedFrame], calibration: NeutralCalibration) -> list[RecordedFrame]:
    """The recording as the calibrated pipeline would hand it to the smoother."""
    return [RecordedFrame(f.timestamp, [RecordedFace(x.track_id, None if x.probabilities is None
                                                     else calibration.apply(x.probabilities), x.new_face,
                                                     x.mouth_opening) for x in f.faces], f.ended) for f in frames]


def clip_effect(engine: InferenceEngine, reference: np.ndarray, clips_dir: Path) -> list[dict]:
    """Calibrated on each labelled neutral stretch's first seconds; scored on the clip's frames outside them."""
    classes = tuple(engine.card.classes)
    frames = record_clip(clips_dir / CLIP, engine)
    segments = load_labels()[CLIP]
    truth = frame_truth(segments, len(frames), classes)
    stability = PRESETS[DEFAULT_STABILITY]
    uncalibrated = shown_per_frame(frames, stability)
    rows = []
    for first, end, label in segments:
        if label != "neutral":
            continue
        window = [i for i in range(first, end) if frames[i].timestamp - frames[first].timestamp < CALIBRATION_S]
        raw = [x.probabilities for i in window for x in frames[i].faces if x.probabilities is not None]
        calibration = learn_neutral(np.array(raw), classes, reference, engine.card.name)
        scored = np.ones(len(frames), bool)
        scored[window[0]:window[-1] + 1] = False
        rows.append({"calibrated_on_frames": [window[0], window[-1] + 1], "resting_face": calibration.describe(),
                     "uncalibrated": score(uncalibrated[scored], truth[scored], classes),
                     "calibrated": score(shown_per_frame(calibrated(frames, calibration), stability)[scored],
                                         truth[scored], classes)})
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=AFFECTNET, help="image folder with a neutral class")
    ap.add_argument("--update-card", action="store_true", help="write metrics.neutral_reference into the JSON card")
    ap.add_argument("--clip", action="store_true", help="also measure calibration on the labelled clip")
    ap.add_argument("--clips-dir", type=Path, default=Path("../shared/data/videos"))
    args = ap.parse_args(argv)
    for model in args.models:
        engine = InferenceEngine(model, provider="cpu")
        classes = tuple(engine.card.classes)
        reference = neutral_reference(engine, args.data)
        report: dict = {"model": engine.card.name,
                        "neutral_reference": {c: round(float(v), 4) for c, v in zip(classes, reference)}}
        if args.clip:
            report["clip"] = clip_effect(engine, reference, args.clips_dir)
        print(json.dumps(report, indent=2))
        if args.update_card:
            card_path = model.with_suffix(".json")  # the JSON card only: the ONNX copy would add weights to history
            card = json.loads(card_path.read_text())
            card.setdefault("metrics", {})["neutral_reference"] = report["neutral_reference"]
            card_path.write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
