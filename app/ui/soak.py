"""Soak test: the desktop app's real worker threads for minutes on end, watching for leaks and stalls.

Runs what the window runs, without the window: ``StreamWorker`` (capture, MediaPipe, ONNX Runtime, rendering) on a
looping clip, ``ModelLoader`` switching among models every few seconds, ``RecordingController`` starting and
stopping recordings, and a consumer taking frames as the GUI does. Once a minute it prints resident memory, thread
count, open file descriptors and displayed fps; growth across minutes is a leak. At the end every recording must
open with PyAV and hold the frames it reported. Offscreen Qt is enough (``QT_QPA_PLATFORM=offscreen``).

python -m app.soak --source clip.mp4 --minutes 30
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

SMALL_MODELS = ("poster-small", "apvit-small", "ferformer-small")


def process_figures() -> dict[str, float]:
    """Resident memory (MB), OS threads and open file descriptors of this process (Linux /proc; else less)."""
    figures = {"threads": float(threading.active_count()), "rss_mb": float("nan"), "fds": float("nan")}
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                figures["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                figures["threads"] = float(line.split()[1])
        figures["fds"] = float(len(os.listdir("/proc/self/fd")))
    return figures


@dataclass
class SoakReport:
    rows: list[dict[str, float]] = field(default_factory=list)
    recordings: list[tuple[Path, int, int]] = field(default_factory=list)  # path, frames reported, frames decoded
    errors: list[str] = field(default_factory=list)
    switches: int = 0

    @property
    def bad_recordings(self) -> list[str]:
        return [f"{p.name}: {got} of {want} frames" for p, want, got in self.recordings if got == 0 or got != want]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and bool(self.recordings) and not self.bad_recordings and not self.errors


def decoded_frames(path: Path) -> int:
    """Frames PyAV decodes from ``path``; 0 when it does not open."""
    try:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0))
    except (av.FFmpegError, IndexError):
        return 0


def run_soak(
    source: str,
    seconds: float,
    models: tuple[str, ...] = SMALL_MODELS,
    switch_every: float = 5.0,
    record_on: float = 8.0,
    record_off: float = 4.0,
    report_every: float = 60.0,
    out_dir: Path | None = None,
    models_dir: str | None = None,
) -> SoakReport:
    """Run for ``seconds`` and return the figures; prints one line per ``report_every`` seconds."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer

    from app.inference.registry import ModelRegistry
    from app.ui.main import create_app
    from app.ui.model_switcher import ModelLoader
    from app.ui.recording import RecordingController
    from app.ui.workers import StreamWorker

    app = create_app()
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="ferlive-soak-"))
    report = SoakReport()
    worker = StreamWorker()
    worker.set_loop(True)
    loader = ModelLoader(ModelRegistry(models_dir))
    recorder = RecordingController(worker.set_recording)
    state = {"frames": 0, "model": 0, "last_frames": 0, "last_t": time.perf_counter(), "fps_source": 30.0}
    started = time.perf_counter()

    def on_frame() -> None:
        if worker.take_latest() is not None:
            state["frames"] += 1

    def on_opened(info) -> None:
        state["fps_source"] = info.fps or 30.0

    def switch_model() -> None:
        state["model"] = (state["model"] + 1) % len(models)
        loader.load(models[state["model"]], "cpu")
        report.switches += 1

    def toggle_recording() -> None:
        if recorder.active is None and worker.engine is not None:
            recorder.start(out_dir, state["fps_source"], tuple(worker.engine.card.classes))
            QTimer.singleShot(int(record_on * 1000), toggle_recording)
        else:
            recorder.stop()
            QTimer.singleShot(int(record_off * 1000), toggle_recording)

    def print_row() -> None:
        now = time.perf_counter()
        row = {"t": now - started, **process_figures(),
               "fps": (state["frames"] - state["last_frames"]) / max(now - state["last_t"], 1e-9),
               "processed": float(worker.frames_processed)}
        state["last_frames"], state["last_t"] = state["frames"], now
        report.rows.append(row)
        minutes, secs = divmod(int(round(row["t"])), 60)
        print(f"soak {minutes}:{secs:02d}  rss {row['rss_mb']:.0f} MB  threads {row['threads']:.0f}  "
              f"fds {row['fds']:.0f}  fps {row['fps']:.1f}  processed {row['processed']:.0f}  "
              f"model {models[state['model']]}  recordings {len(recorder_summaries)}", flush=True)

    recorder_summaries: list = []
    recorder.saved.connect(recorder_summaries.append)
    worker.frameReady.connect(on_frame)
    worker.sourceOpened.connect(on_opened)
    for signal in (worker.failed, worker.sourceFailed, worker.recordingFailed, worker.sourceLost):
        signal.connect(report.errors.append)
    loader.loaded.connect(lambda engine, _name: worker.set_engine(engine))
    loader.failed.connect(lambda message, _name: report.errors.append(message))

    loader.load(models[0], "cpu")
    worker.start()
    worker.open_source(source)
    timers = [QTimer(interval=int(switch_every * 1000), timeout=switch_model),
              QTimer(interval=int(report_every * 1000), timeout=print_row)]
    for timer in timers:
        timer.start()
    QTimer.singleShot(int(min(2.0, seconds / 4) * 1000), toggle_recording)
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    for timer in timers:
        timer.stop()
    if time.perf_counter() - state["last_t"] > 1.0:  # the last stretch, unless a row was just printed
        print_row()
    recorder.stop(wait=True)
    recorder.join()
    worker.stop()
    worker.wait(10_000)
    loader.wait()
    for summary in recorder_summaries:
        if summary.error:
            report.errors.append(summary.error)
        report.recordings.append((summary.video, summary.frames, decoded_frames(summary.video)))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="video file to loop (e.g. shared/data/videos/interview_50s.mp4)")
    length = ap.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=None)
    length.add_argument("--seconds", type=float, default=None, help="for a short smoke run")
    ap.add_argument("--models", default=",".join(SMALL_MODELS), help="comma-separated model names to cycle")
    ap.add_argument("--switch-every", type=float, default=5.0, help="seconds between model switches")
    ap.add_argument("--report-every", type=float, default=60.0, help="seconds between figure lines")
    ap.add_argument("--out-dir", type=Path, default=None, help="where recordings go (default: a temp folder)")
    args = ap.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60.0 * (args.minutes if args.minutes is not None else 5)
    if not Path(args.source).is_file():
        print(f"soak: {args.source} is not a video file", file=sys.stderr)
        return 2
    report = run_soak(args.source, seconds, tuple(args.models.split(",")), args.switch_every,
                      report_every=args.report_every, out_dir=args.out_dir)
    frames = sum(got for _, _, got in report.recordings)
    print(f"soak: {report.switches} model switches, {len(report.recordings)} recordings ({frames} frames) all open "
          f"with PyAV" if not report.bad_recordings else f"soak: bad recordings: {'; '.join(report.bad_recordings)}")
    for error in dict.fromkeys(report.errors):
        print(f"soak: error: {error}", file=sys.stderr)
    return 0 if report.ok else 1
