"""How often the shown label changes on real video: ``python -m training.flicker [CLIPS...] --model poster-small``.

Each clip runs once through the live pipeline (``FacePipeline``: MediaPipe, tracker, alignment, ONNX Runtime);
the raw probabilities are recorded and replayed through ``LabelSmoother`` for every preset, which gives exactly
what the pipeline shows with that preset (smoothing never feeds back into detection) at a third of the cost.
Reports label changes per second of face time and the median run length, per clip and preset, beside the raw
argmax and the old per-frame average (strength 0.6) for comparison.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from app.analyze import load_engine
from app.capture import open_source
from app.label_changes import LabelChanges
from app.pipeline import FacePipeline
from app.smoothing import DEFAULT_STABILITY, PRESETS, RAW, LabelSmoother, Stability

SHARED_CLIPS = ("woman_smile_neutral.mp4", "woman_phone_night.mp4", "interview_50s.mp4")


def old_average(fps: float, strength: float = 0.6) -> Stability:
    """The per-frame average the app used before (each frame adds 40%), as it behaved at this clip's rate."""
    return replace(RAW.with_frame_smoothing(strength, fps), name=f"old_average_{strength:g}")


def with_every_frame_alike(presets: list[Stability]) -> list[Stability]:
    """``presets`` and, beside each, the same preset counting a talking face's open-lipped frames like any other
    (``talk_weight`` 1), to measure what the talking weight does (``--every-frame-alike``)."""
    return [*presets, *(replace(p, name=f"{p.name}, every frame alike", talk_weight=1.0) for p in presets)]


NO_FACE = -1  # the label index of a frame where no face is shown


class RecordedFace(NamedTuple):
    """One track on one frame, as the smoother saw it."""

    track_id: int
    probabilities: np.ndarray | None  # raw; None: a held face, missed on this frame and shown as last seen
    new_face: bool
    mouth_opening: float | None = None  # the lip gap (app.face.mouth) the smoother weighs


@dataclass
class RecordedFrame:
    """What the smoother saw on one frame: the time, each track's raw probabilities, and the tracks that ended."""

    timestamp: float
    faces: list[RecordedFace] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)

    @property
    def found(self) -> int:
        """Faces the mesh found on this frame (held ones left out)."""
        return sum(f.probabilities is not None for f in self.faces)


def record(pipeline: FacePipeline, frames, desc: str = "", total: int | None = None) -> list[RecordedFrame]:
    """Run ``frames`` through ``pipeline`` and keep what smoothing needs to be replayed."""
    out = []
    for frame in tqdm(frames, desc=desc, total=total, unit="frame"):
        result = pipeline.process(frame)
        faces = [RecordedFace(f.track_id, f.raw_probabilities, f.new_face, f.mouth_opening) for f in result.faces]
        out.append(RecordedFrame(frame.timestamp, faces, list(pipeline.tracker.ended)))
    return out


def replay(frames: list[RecordedFrame], stability: Stability) -> list[dict[int, int]]:
    """The label each track shows on each frame under ``stability``, as ``FacePipeline`` would decide it."""
    smoother = LabelSmoother(stability)
    shown = []
    for frame in frames:
        smoother.forget(frame.ended)
        labels = {}
        for tid, p, new, opening in frame.faces:
            if p is not None:
                labels[tid] = smoother.update(tid, p, frame.timestamp, restart=new, mouth_opening=opening)[1]
            elif (last := smoother.shown(tid)) is not None:  # held: what the pipeline kept showing
                labels[tid] = last
        shown.append(labels)
    return shown


def shown_per_frame(frames: list[RecordedFrame], stability: Stability) -> np.ndarray:
    """The label shown on each frame (the oldest track's when several; ``NO_FACE`` where none is shown), for the
    one-face benchmarks (``training.stream_eval``, ``training.clip_eval``)."""
    out = np.full(len(frames), NO_FACE, np.int64)
    for i, labels in enumerate(replay(frames, stability)):
        if labels:
            out[i] = labels[min(labels)]
    return out


def label_runs(frames: list[RecordedFrame], shown: list[dict[int, int]]) -> tuple[int, float, list[int]]:
    """Label changes, seconds of face time, and run lengths in frames, over every track (``app.label_changes``:
    what ``ferlive analyze`` reports)."""
    counter = LabelChanges()
    for frame, labels in zip(frames, shown):
        counter.feed(frame.timestamp, labels)
    return counter.changes, counter.seconds, counter.runs


def flicker_report(frames: list[RecordedFrame], stability: Stability, classes: tuple[str, ...] = ()) -> dict:
    """Label changes per second of face time and the median run; with ``classes``, also the share of face-frames
    shown with each label (what a viewer reads off the clip: a steady label can still be the wrong one)."""
    shown = replay(frames, stability)
    changes, seconds, runs = label_runs(frames, shown)
    report = {"changes": changes, "face_seconds": round(seconds, 2),
              "changes_per_s": round(changes / seconds, 3) if seconds else 0.0,
              "median_run_frames": float(np.median(runs)) if runs else 0.0}
    if classes:
        counts = np.bincount([label for labels in shown for label in labels.values()], minlength=len(classes))
        share = counts / max(counts.sum(), 1)
        report["label_share"] = {classes[i]: round(float(share[i]), 3) for i in np.argsort(-share) if counts[i]}
    return report


def measure_clip(path: Path, engine, presets: list[Stability], max_faces: int = 4) -> dict:
    source = open_source(path)
    pipeline = FacePipeline(engine, max_faces=max_faces)
    try:
        frames = record(pipeline, _frames(source), desc=path.name, total=source.frame_count)
    finally:
        source.close()
        pipeline.close()
    fps = source.fps or 30.0
    faces = np.array([f.found for f in frames])
    # how many frames found a face, and how many found more than one (on a one-person clip: a false detection)
    report = {"frames": len(frames), "fps": round(fps, 2), "frames_with_a_face": int((faces > 0).sum()),
              "frames_with_several_faces": int((faces > 1).sum())}
    for stability in [RAW, old_average(fps), *presets]:
        report[stability.name] = flicker_report(frames, stability, tuple(engine.card.classes))
    return report


def _frames(source):
    while (frame := source.read()) is not None:
        yield frame


def default_clips() -> list[Path]:
    from training.data.archive import default_data_dir

    return [default_data_dir() / "videos" / name for name in SHARED_CLIPS]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path, help="videos (default: the three shared clips)")
    ap.add_argument("--model", default=None, help="models/ name or .onnx path (default: the registry's default)")
    ap.add_argument("--stability", choices=list(PRESETS), action="append", help="preset(s); default: all")
    ap.add_argument("--provider", default="auto")
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    ap.add_argument("--every-frame-alike", action="store_true",
                    help="also each preset without the talking weight (talk_weight 1)")
    args = ap.parse_args(argv)
    engine = load_engine(args.model, args.provider)
    presets = [PRESETS[n] for n in (args.stability or PRESETS)]
    presets = with_every_frame_alike(presets) if args.every_frame_alike else presets
    report = {"model": engine.card.name,
              "clips": {p.name: measure_clip(p, engine, presets) for p in (args.clips or default_clips())}}
    print(json.dumps(report, indent=2))
    print(summary_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def summary_table(report: dict) -> str:
    """Changes per second (median run in frames) per clip and preset, as a Markdown table."""
    clips = report["clips"]
    names = [k for k in next(iter(clips.values())) if isinstance(next(iter(clips.values()))[k], dict)]
    lines = ["| preset | " + " | ".join(clips) + " |", "|---" * (len(clips) + 1) + "|"]
    for name in names:
        cells = [f"{c[name]['changes_per_s']:.2f}/s (run {c[name]['median_run_frames']:.0f})" for c in clips.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    shown = DEFAULT_STABILITY if DEFAULT_STABILITY in names else names[-1]  # the labels the app would show
    lines += ["", f"| labels shown ({shown}) | " + " | ".join(clips) + " |", "|---" * (len(clips) + 1) + "|",
              "| share of face-frames | " + " | ".join(
                  ", ".join(f"{k} {100 * v:.0f}%" for k, v in c[shown].get("label_share", {}).items()) or "-"
                  for c in clips.values()) + " |"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
