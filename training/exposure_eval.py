"""How a model reads badly exposed faces: ``python -m training.exposure_eval MODEL [MODEL ...] --data DATA ...``.

A webcam in a dim lab, haze, a projector's glare: the face keeps its shape and loses its contrast. Each model is
scored on each dataset's validation split as prepared (the app's alignment, from the cache) and with the crops'
levels changed: ``dark`` (x0.3), ``washed`` (x0.4, lifted by 120 grey levels), ``flat`` (contrast halved about
mid-grey). ``--correct`` also scores each with the faces' levels mapped back into the band the training faces
occupy (``corrected_levels``: a test-time fix, measured and not in the app; training/README.md, "Exposure").
``--make-clips DIR`` instead writes dark and washed copies of the shared clips for ``training.clip_eval
--clips-dir``: the same level changes on whole frames, the dark one with sensor noise, re-encoded as H.264.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from app.face.lighting import face_slices
from app.inference.engine import InferenceEngine
from training.cached_eval import engine_probabilities
from training.data.mixture import validation_split
from training.data.prepare import load_or_prepare

LEVEL_CHANGES = {
    "as prepared": lambda x: x,
    "dark": lambda x: x * 0.3,
    "washed": lambda x: x * 0.4 + 120,
    "flat": lambda x: (x - 128) * 0.5 + 128,
}
# The interquartile band of the face region's mean grey level and standard deviation over FER2013's and
# AffectNet's training faces (48 px grey crops; the face region of ``app.face.lighting``).
MEAN_BAND = (112.0, 160.0)
STD_BAND = (33.0, 48.0)


def corrected_levels(crops: np.ndarray) -> np.ndarray:
    """Grey crops (N, S, S) with each face's mean and contrast moved to the nearest point of the training band;
    a face inside it is unchanged."""
    f = crops.astype(np.float32)
    rows, cols = face_slices(f.shape[1])
    region = f[:, rows, cols].reshape(len(f), -1)
    mean, std = region.mean(1), np.maximum(region.std(1), 1.0)
    new_mean, new_std = np.clip(mean, *MEAN_BAND), np.clip(std, *STD_BAND)
    out = (f - mean[:, None, None]) * (new_std / std)[:, None, None] + new_mean[:, None, None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def score_levels(engine: InferenceEngine, source: Path, limit: int, correct: bool) -> dict[str, float]:
    """Accuracy per level change (and corrected) on ``limit`` faces of the validation split (of all faces where
    there is none), drawn evenly."""
    prep = load_or_prepare(source, engine.card.input.size, gray=engine.card.input.color == "gray")
    data = prep.subset(validation_split(prep)) if len(set(prep.split.tolist())) > 1 else prep  # CK+: all
    keep = np.flatnonzero(data.usable)
    if limit and limit < len(keep):
        keep = keep[np.linspace(0, len(keep) - 1, limit).round().astype(int)]
    images, landmarks, labels = data.images[keep], data.landmarks[keep].astype(np.float32), data.labels[keep]
    out = {}
    for name, change in LEVEL_CHANGES.items():
        crops = np.clip(np.round(change(images.astype(np.float32))), 0, 255).astype(np.uint8)
        versions = {name: crops, f"{name}, corrected": corrected_levels(crops)} if correct else {name: crops}
        for label, x in versions.items():
            out[label] = round(float((engine_probabilities(engine, x, landmarks).argmax(1) == labels).mean()), 4)
    return out


def make_clips(out_dir: Path, clips_dir: Path, seed: int = 1) -> None:
    """Dark (x0.25, sensor noise sigma 3) and washed (x0.45 + 120) H.264 copies of every clip in ``clips_dir``,
    read and written as the app reads and records video."""
    from app.capture import open_source
    from app.record.recorder import VideoRecorder

    rng = np.random.default_rng(seed)
    kinds = {"dark": lambda f: f * 0.25 + rng.normal(0, 3, f.shape), "washed": lambda f: f * 0.45 + 120}
    for kind, change in kinds.items():
        (out_dir / kind).mkdir(parents=True, exist_ok=True)
        for clip in sorted(clips_dir.glob("*.mp4")):
            with open_source(clip) as src:
                recorder = VideoRecorder(out_dir / kind / clip.name, src.fps or 30.0, crf=18)
                try:
                    for frame in src:
                        recorder.write(np.clip(change(frame.image.astype(np.float32)), 0, 255).astype(np.uint8))
                finally:
                    recorder.close()
            print(f"{out_dir / kind / clip.name}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--data", nargs="+", type=Path, default=[], help="archives or image folders")
    ap.add_argument("--limit", type=int, default=0, help="faces per dataset, drawn evenly (0: all)")
    ap.add_argument("--correct", action="store_true", help="also score with the levels mapped into the band")
    ap.add_argument("--make-clips", type=Path, help="write dark/ and washed/ copies of the clips here and stop")
    ap.add_argument("--clips-dir", type=Path, default=None, help="the clips to copy (default: the shared videos)")
    args = ap.parse_args(argv)
    if args.make_clips:
        from training.flicker import default_clips

        make_clips(args.make_clips, args.clips_dir or default_clips()[0].parent)
        return
    for model in args.models:
        engine = InferenceEngine(model, provider="cpu")
        for source in args.data:
            print(json.dumps({"model": str(model), "data": source.name,
                              **score_levels(engine, source, args.limit, args.correct)}), flush=True)


if __name__ == "__main__":
    main()
