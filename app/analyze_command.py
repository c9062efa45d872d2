"""``ferlive analyze`` from its parsed arguments: the outputs opened, the input analysed, what was written printed.

``app.analyze`` does the work on one input and ``app.analyze_videos`` on a folder of videos; this module only wires
the command line to them and tells the person what happened.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from app.errors import FerliveError
from app.smoothing import PRESETS


def run_analyze(args: argparse.Namespace) -> int:
    """``ferlive analyze``: one input, or each video of a folder of videos; returns the exit status."""
    from app.analyze import load_engine
    from app.analyze_videos import is_video_folder
    from app.publish import PublisherSet, config_from_args
    from app.record import SummaryTable
    from app.render import RenderOptions

    if getattr(args, "osc_in", None) is not None:
        raise FerliveError("--osc-in takes event marks in the app (ferlive); ferlive analyze has nobody to mark for.")
    engine = load_engine(args.model, args.provider)
    table = SummaryTable(args.summary, engine.card.classes) if args.summary else None
    options = dict(
        engine=engine, max_faces=args.max_faces, smoothing=args.smoothing,
        stability=(args.stability if args.talk_weight is None
                   else replace(PRESETS[args.stability], talk_weight=args.talk_weight)),
        options=RenderOptions(landmarks=args.landmarks, bars=not args.no_bars),
        progress=not args.quiet, max_frames=args.max_frames, face_crops=args.face_crops, rotate=args.rotate,
        neutral_at=args.neutral_at,
    )
    outputs = PublisherSet.open(config_from_args(args))  # a port in use or a bad host stops here, before any work
    try:
        if is_video_folder(args.input):
            if args.marks:
                raise FerliveError("--marks goes with one video, not a folder of them.")
            status = _analyze_video_folder(args, outputs, table, options)
        else:
            status = _analyze_one(args, outputs, table, options)
        outputs.flush()
    finally:
        statuses = outputs.statuses()
        outputs.close()
        if table is not None:
            table.close()
    for publisher_status in statuses:
        print(publisher_status.describe())
    if table is not None and table.rows_written:
        print(f"summary: {args.summary}")
    return status


def _analyze_one(args: argparse.Namespace, outputs, table, options: dict) -> int:
    from app.analyze import analyze
    from app.analyze_videos import videos_beside_photos
    from app.capture import IMAGE_EXTENSIONS
    from app.record import read_marks

    if args.plot and Path(args.input).suffix.lower() in IMAGE_EXTENSIONS:
        raise FerliveError(f"--plot draws a video's timeline, or a labelled folder's confusion matrix; {args.input} "
                           "is a photo.")
    if args.marks and not (args.plot and Path(args.input).is_file()):
        raise FerliveError("--marks draws a recording's marks on a video's timeline: give it with --plot and one "
                           "video.")
    marks = read_marks(args.marks) if args.marks else []  # a bad file stops here, before any work
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        what = "confusion matrix" if Path(args.input).is_dir() else "timeline"
        raise FerliveError(f"Cannot write the {what} to {args.plot}: use a .png file name.")
    if videos := videos_beside_photos(args.input):
        many = len(videos) > 1
        print(f"ferlive: warning: {args.input} holds photos, which are analysed, and {len(videos)} video "
              f"file{'s' * many} ({videos[0].name}{', ...' * many}), which {'are' if many else 'is'} not; analyse "
              "a video on its own, or a folder that holds only videos", file=sys.stderr)
    results = [p for p in (args.csv, args.jsonl) if p]
    summary = analyze(args.input, out_video=args.out, results_paths=results, publishers=outputs, **options)
    if table is not None:
        table.write(Path(args.input).name, summary.table_row())
    print(summary.describe())
    if args.plot and summary.score is not None:
        _save_confusion(args.plot, summary, Path(args.input).name)
    elif args.plot and summary.frames:
        times = summary.timeline.arrays()[0]
        summary.timeline.marks.extend((float(times[0]) + seconds, text) for seconds, text in marks)
        print(f"timeline: {_save_timeline(args.plot, summary, Path(args.input).name)}")
    if summary.photos_out is not None:
        print(f"annotated photos: {summary.photos_out.target} ({summary.photos_out.written})")
    elif args.out:
        print(f"annotated video: {args.out}")
    for path in results:
        print(f"results: {path}")
    if summary.shortfall():
        print(f"ferlive: warning: {summary.shortfall()}", file=sys.stderr)
        if args.strict:
            return 3
    return 130 if summary.interrupted else 0


def _analyze_video_folder(args: argparse.Namespace, outputs, table, options: dict) -> int:
    """Each video of the folder in turn; exit status 2 if any could not be analysed (the others still are)."""
    from app.analyze_videos import analyze_videos

    def started(i: int, total: int, job) -> None:
        print(f"[{i + 1}/{total}] {job.name}", flush=True)

    def done(outcome) -> None:
        if table is not None:
            table.write(outcome.job.name, outcome.summary and outcome.summary.table_row(), outcome.error)
        if outcome.error is not None:
            print(f"ferlive: could not analyse {outcome.job.name}: {outcome.error}", file=sys.stderr)
            return
        print(outcome.summary.describe())
        if outcome.job.out is not None:
            print(f"annotated video: {outcome.job.out}")
        for path in outcome.job.results:
            print(f"results: {path}")
        if outcome.job.plot is not None and outcome.summary.frames:
            print(f"timeline: {_save_timeline(outcome.job.plot, outcome.summary, outcome.job.name)}")
        if outcome.summary.shortfall():
            print(f"ferlive: warning: {outcome.job.name}: {outcome.summary.shortfall()}", file=sys.stderr)

    batch = analyze_videos(args.input, out=args.out, csv=args.csv, jsonl=args.jsonl, plot=args.plot, publishers=outputs,
                           on_start=started, on_done=done, **options)
    print(batch.describe())
    if batch.interrupted:
        return 130
    if batch.failed:
        return 2
    return 3 if args.strict and batch.short else 0


def _save_timeline(path: str | Path, summary, name: str) -> Path:
    """The video's timeline picture (Qt draws it, offscreen without a screen)."""
    from app.ui.timeline_plot import save_timeline

    return save_timeline(path, summary.timeline, title=f"{name} · {summary.model} · largest face")


def _save_confusion(path: str | Path, summary, name: str) -> None:
    """A labelled folder's confusion matrix picture; a folder whose photos are in no class folder has none."""
    if not summary.score.scored:
        print(f"ferlive: warning: no confusion matrix: the photos of {name} are not in folders named after the "
              "classes (angry/, happy/, ...)", file=sys.stderr)
        return
    from app.ui.confusion_plot import save_confusion

    print(f"confusion matrix: {save_confusion(path, summary.score, title=f'{name} · {summary.model}')}")
