"""Labels over time on a dataset: ``python -m training.stream_eval poster-small ../shared/data/fer2013.npz
--split publictest --limit 300``; ``--clips`` reports flicker on the shared videos instead (``training.flicker``).

Still-image accuracy says nothing about what a person sees live: a label that flickers, or one that lags a real
change. This builds a camera-like video from the dataset's faces (``training.stream_video``: each face held
``--hold`` frames) and runs it through the live pipeline (``FacePipeline``: MediaPipe in video mode, tracker,
alignment, ONNX Runtime). The raw probabilities are replayed through ``LabelSmoother`` for each preset, which is
exactly what the pipeline shows with it. Per preset: accuracy on the second half of every face's segment, label
changes per second within segments, the delay until the label first matches the truth, beside the still-image
accuracy of the same faces (``training.evaluate``'s pipeline) and the raw argmax.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from app.analyze import load_engine
from app.pipeline import FacePipeline
from app.smoothing import PRESETS, Stability
from training.data.archive import LabelledImages, load_dataset
from training.evaluate import align_all, run_engine
from training.flicker import NO_FACE, RAW, old_average, record, shown_per_frame
from training.stream_video import StreamLayout, stream_frames


def pick_faces(data: LabelledImages, limit: int | None, seed: int = 0) -> LabelledImages:
    """A seeded random sample (all faces when ``limit`` is None), in random order so that consecutive faces are
    sometimes the same expression and sometimes not, as in life."""
    order = np.random.default_rng(seed).permutation(len(data))[:limit]
    images = data.images[order] if isinstance(data.images, np.ndarray) else [data.images[i] for i in order]
    return LabelledImages(images, data.labels[order], data.split[order], data.classes, data.face_crops, data.name)


def segment_metrics(shown: np.ndarray, truth: np.ndarray, hold: int, fps: float) -> dict:
    """Accuracy on each segment's second half, changes per second within segments, and the delay to the first
    correct label on segments whose truth differs from the label shown when the face appeared."""
    seg = shown.reshape(len(truth), hold)
    both = (seg[:, 1:] != NO_FACE) & (seg[:, :-1] != NO_FACE)
    changes = ((seg[:, 1:] != seg[:, :-1]) & both).sum(1)
    entering = np.concatenate([[NO_FACE], seg[:-1, -1]])  # what was shown as the new face appeared
    needs_change = entering != truth
    correct = seg == truth[:, None]
    matched = needs_change & correct.any(1)
    delays = correct.argmax(1)[matched] / fps
    seconds = len(truth) * hold / fps
    second_half, found = correct[:, hold // 2 :], seg[:, hold // 2 :] != NO_FACE
    return {
        "accuracy_second_half": round(float(second_half.mean()), 4),
        # a frame where the live detector found no face counts wrong above; these two split a gap to the still
        # accuracy into the detector's share and the model's
        "no_face_second_half": round(float(1 - found.mean()), 4),
        "accuracy_second_half_with_face": round(float(second_half[found].mean()), 4) if found.any() else None,
        "accuracy_last_frame": round(float(correct[:, -1].mean()), 4),
        "changes_per_s": round(float(changes.sum() / seconds), 3),
        "extra_changes_per_s": round(float(np.maximum(changes - 1, 0).sum() / seconds), 3),
        "segments_needing_change": int(needs_change.sum()),
        "matched_fraction": round(float(matched.sum() / max(needs_change.sum(), 1)), 4),
        "delay_s_median": round(float(np.median(delays)), 3) if len(delays) else None,
        "delay_s_p90": round(float(np.percentile(delays, 90)), 3) if len(delays) else None,
    }


def still_correct(engine, faces: LabelledImages) -> np.ndarray:
    """Per face, whether the still-image pipeline (``training.evaluate``'s: a dataset crop where the mesh finds no
    face is read whole) labels it right."""
    aligned, _, _ = align_all(faces, engine.card.input.size, engine.card.input.color == "gray")
    return run_engine(engine, aligned) == faces.labels


def stream_eval(model: str, data: str | Path, split: str | None = None, limit: int | None = 300,
                layout: StreamLayout | None = None, presets: list[Stability] | None = None, seed: int = 0,
                provider: str = "auto") -> dict:
    layout = layout or StreamLayout()
    presets = presets if presets is not None else list(PRESETS.values())
    engine = load_engine(model, provider)
    dataset = load_dataset(data, tuple(engine.card.classes))
    if split:
        dataset = dataset.subset(split)
    if len(dataset) == 0:
        raise ValueError(f"{data} has no images in split {split!r}")
    faces = pick_faces(dataset, limit, seed)
    pipeline = FacePipeline(engine, max_faces=1)
    try:
        frames = record(pipeline, stream_frames(faces.images, layout, seed), desc="stream",
                        total=len(faces) * layout.hold)
    finally:
        pipeline.close()
    still = still_correct(engine, faces)
    # faces the live detector finds on no frame of their segment's second half: the still path reads such a crop
    # whole, a camera frame has nothing to read, so the stills on the other faces are the like-for-like reference
    with_face = np.array([f.found > 0 for f in frames])  # found by the mesh; a held face is not a detection
    found = with_face.reshape(len(faces), layout.hold)[:, layout.hold // 2 :].any(1)
    result = {
        "model": engine.card.name, "data": Path(data).name, "split": split or "all", "faces": len(faces),
        "hold_frames": layout.hold, "fps": layout.fps, "frame_size": [layout.width, layout.height],
        "stream_detection_coverage": round(float(with_face.mean()), 4),
        "still_accuracy": round(float(still.mean()), 4),
        "faces_never_found": int((~found).sum()),
        "still_accuracy_faces_found": round(float(still[found].mean()), 4) if found.any() else None,
        "provider": engine.provider, "presets": {},
    }
    for stability in [RAW, old_average(layout.fps), *presets]:
        metrics = segment_metrics(shown_per_frame(frames, stability), faces.labels, layout.hold, layout.fps)
        result["presets"][stability.name] = {"time_constant_s": round(stability.time_constant_s, 4),
                                             "margin": stability.margin, "hold_s": stability.hold_s, **metrics}
    return result


def summary_table(result: dict) -> str:
    lines = [f"{result['model']} on {result['faces']} faces of {result['data']} {result['split']}, "
             f"{result['hold_frames']} frames each at {result['fps']:g} fps; still-image accuracy "
             f"{100 * result['still_accuracy']:.1f}%"
             + ("" if result.get("still_accuracy_faces_found") is None else
                f" ({100 * result['still_accuracy_faces_found']:.1f}% on the faces the stream finds; "
                f"{result['faces_never_found']} never found)"),
             "| preset | stream acc (2nd half) | with a face | changes/s | extra changes/s | delay median / p90 (s) "
             "| matched |",
             "|---|---|---|---|---|---|---|"]
    for name, m in result["presets"].items():
        delay = "-" if m["delay_s_median"] is None else f"{m['delay_s_median']:.2f} / {m['delay_s_p90']:.2f}"
        with_face = m["accuracy_second_half_with_face"]
        with_face = "-" if with_face is None else f"{100 * with_face:.1f}% ({100 * m['no_face_second_half']:.1f}% none)"
        lines.append(f"| {name} | {100 * m['accuracy_second_half']:.1f}% | {with_face} | {m['changes_per_s']:.2f} | "
                     f"{m['extra_changes_per_s']:.2f} | {delay} | {100 * m['matched_fraction']:.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--clips" in argv:  # the flicker report on real videos has its own options
        from training import flicker

        return flicker.main([a for a in argv if a != "--clips"])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a models/ name or an .onnx path")
    ap.add_argument("data", help="an archive (.npz), FER2013 .csv, or an image folder root/<split>/<class>/")
    ap.add_argument("--split", default=None, help="e.g. publictest (fer2013.npz) or valid (affectnet96)")
    ap.add_argument("--limit", type=int, default=300, help="faces to use (a seeded random sample); 0 = all")
    ap.add_argument("--hold", type=int, default=12, help="frames each face is held")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--stability", choices=list(PRESETS), action="append", help="preset(s); default: all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--provider", default="auto")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args(argv)
    presets = [PRESETS[n] for n in (args.stability or PRESETS)]
    result = stream_eval(args.model, args.data, args.split, args.limit or None,
                         StreamLayout(fps=args.fps, hold=args.hold), presets, args.seed, args.provider)
    print(json.dumps(result, indent=2))
    print(summary_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
