"""A folder of videos through ``ferlive analyze``: each video in turn, with its own annotated copy and results.

A lab's session recordings or a demo's takes sit in one folder; each is analysed as ``ferlive analyze VIDEO`` would
(its own tracking and smoothing, from its first frame), and its outputs are named after it inside the output folders,
keeping its subfolder: ``sessions/day1/p01.mov`` gives ``results/day1/p01.csv``. The model is loaded once. A video
that cannot be read is reported and skipped, so one damaged file does not cost the others; Ctrl-C stops after the
video in progress is finalised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.analysis_summary import AnalysisSummary
from app.analyze import analyze, load_engine
from app.capture import IMAGE_EXTENSIONS, VIDEO_FILE_EXTENSIONS
from app.capture.image import folder_images, folder_videos
from app.errors import OutputError, SourceError

# what each output option writes per video, and the suffixes that show a file (not a folder) was named
OUTPUT_SUFFIX = {"out": ".mp4", "csv": ".csv", "jsonl": ".jsonl", "plot": ".png"}
_FILE_SUFFIXES = {".csv", ".jsonl", ".json", *VIDEO_FILE_EXTENSIONS, *IMAGE_EXTENSIONS}


def is_video_folder(path: str | Path) -> bool:
    """True for a folder with video files under it and no photos for a ``FolderSource`` to read."""
    folder = Path(path).expanduser()
    return folder.is_dir() and not folder_images(folder) and bool(folder_videos(folder))


def videos_beside_photos(path: str | Path) -> list[Path]:
    """The videos a folder of photos also holds, which ``ferlive analyze`` leaves out (it reads the photos)."""
    folder = Path(path).expanduser()
    return folder_videos(folder) if folder.is_dir() and folder_images(folder) else []


@dataclass
class VideoJob:
    """One video of the folder and where its outputs go."""

    video: Path
    name: str  # its path inside the input folder, as printed
    out: Path | None = None
    results: list[Path] = field(default_factory=list)
    plot: Path | None = None  # its timeline picture (drawn by the caller, which has Qt)


@dataclass
class VideoOutcome:
    job: VideoJob
    summary: AnalysisSummary | None = None
    error: str | None = None  # why the video could not be analysed


@dataclass
class BatchSummary:
    outcomes: list[VideoOutcome] = field(default_factory=list)
    total: int = 0  # videos found
    interrupted: bool = False

    @property
    def failed(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def short(self) -> list[VideoOutcome]:
        """Videos that delivered fewer frames than they announce (truncated)."""
        return [o for o in self.outcomes if o.summary is not None and o.summary.shortfall()]

    def describe(self) -> str:
        done = [o.summary for o in self.outcomes if o.summary is not None]
        frames, faces = sum(s.frames for s in done), sum(s.faces for s in done)
        seconds = sum(s.seconds for s in done)
        rate = f", {frames / seconds:.1f} frames per second" if seconds > 0 else ""
        head = (f"{'interrupted: ' if self.interrupted else ''}{len(done)} of {self.total} videos analysed "
                f"({frames} frames, {faces} faces{rate})")
        lines = [head] + [f"  could not analyse {o.job.name}: {o.error}" for o in self.failed]
        lines += [f"  {o.job.name}: {o.summary.shortfall()}" for o in self.short]
        return "\n".join(lines)


def check_output_folder(path: str | Path, option: str) -> Path:
    """``path`` as a folder for per-video outputs; a file name (``results.csv``) is refused before any work."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--{option} {path}: for a folder of videos it names a folder (one file per video), "
                          "and this is a file.")
    if folder.suffix.lower() in _FILE_SUFFIXES:
        raise OutputError(f"--{option} {path}: for a folder of videos it names a folder, one "
                          f"{OUTPUT_SUFFIX[option]} per video; give a folder name such as "
                          f"{folder.with_suffix('')}/.")
    return folder


def plan_jobs(folder: str | Path, out: str | Path | None = None, csv: str | Path | None = None,
              jsonl: str | Path | None = None, plot: str | Path | None = None) -> list[VideoJob]:
    """The videos under ``folder`` (outside the output folders) and each one's output paths.

    An output keeps the video's path inside ``folder`` with the output's own suffix; where two videos differ only by
    suffix (``a.mov``, ``a.mp4``) each keeps its full name (``a.mov.csv``, ``a.mp4.csv``).
    """
    folder = Path(folder).expanduser()
    targets = {option: check_output_folder(path, option)
               for option, path in (("out", out), ("csv", csv), ("jsonl", jsonl), ("plot", plot)) if path}
    videos = folder_videos(folder, exclude=tuple(targets.values()))
    if not videos:
        raise SourceError(f"Folder {folder} holds no video files outside the output folders.")
    stems = [v.relative_to(folder).with_suffix("") for v in videos]
    jobs = []
    for video, stem in zip(videos, stems):
        base = stem if stems.count(stem) == 1 else video.relative_to(folder)
        paths = {option: target / (base.as_posix() + OUTPUT_SUFFIX[option]) for option, target in targets.items()}
        jobs.append(VideoJob(video=video, name=video.relative_to(folder).as_posix(), out=paths.get("out"),
                             results=[paths[o] for o in ("csv", "jsonl") if o in paths], plot=paths.get("plot")))
    return jobs


def analyze_videos(
    folder: str | Path,
    model: str | None = None,
    out: str | Path | None = None,
    csv: str | Path | None = None,
    jsonl: str | Path | None = None,
    plot: str | Path | None = None,
    provider: str = "auto",
    on_start: Callable[[int, int, VideoJob], None] | None = None,
    on_done: Callable[[VideoOutcome], None] | None = None,
    **options,
) -> BatchSummary:
    """Analyse every video under ``folder``; ``options`` are ``analyze``'s (stability, max_faces, publishers, ...).

    ``on_start(i, total, job)`` and ``on_done(outcome)`` let a caller show progress as each video begins and ends.
    """
    if options.get("face_crops"):
        raise SourceError("--face-crops is for photos and folders of face crops, not a folder of videos.")
    jobs = plan_jobs(folder, out, csv, jsonl, plot)
    engine = options.pop("engine", None) or load_engine(model, provider)
    batch = BatchSummary(total=len(jobs))
    for i, job in enumerate(jobs):
        if on_start is not None:
            on_start(i, len(jobs), job)
        outcome = VideoOutcome(job)
        try:
            outcome.summary = analyze(str(job.video), out_video=job.out, results_paths=job.results, engine=engine,
                                      **options)
        except (SourceError, OutputError) as exc:  # this video, or its outputs, cannot be done: go on to the next
            outcome.error = str(exc)
        batch.outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
        if outcome.summary is not None and outcome.summary.interrupted:
            batch.interrupted = True
            break
    return batch
