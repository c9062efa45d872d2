"""Per-stage benchmark of the real pipeline: ``python -m app.bench [VIDEO]`` (or ``ferlive bench``).

For every model in ``models/`` and every execution provider that really loads, runs decode -> face mesh ->
alignment -> inference -> smoothing -> rendering -> H.264 encoding on a video (default: a 640x480 single-face
clip made from ``../shared/data/videos/woman_smile_neutral.mp4``) and prints a table plus JSON: end-to-end frames
per second, median and 95th-percentile milliseconds per stage, faces per frame, peak memory. In the same run it
measures a MediaPipe-only loop over the same frames (the floor no MediaPipe-based app can beat) and, where torch
and the training package are installed, PyTorch eager milliseconds per face next to ONNX Runtime's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from app.analyze import analyze
from app.capture import VideoFileSource
from app.errors import ProviderError
from app.face.align import align_face
from app.face.mesh import FaceMesh
from app.inference.engine import InferenceEngine
from app.inference.registry import ModelRegistry
from app.record import VideoRecorder

STAGES = ["decode", "face_mesh", "tracking", "alignment", "inference", "smoothing", "render", "encode"]
PROVIDERS = ["tensorrt", "cuda", "cpu"]


def default_clip(cache_dir: Path | None = None) -> Path:
    """A 640x480 clip (letterboxed) of the shared single-face video, made once and cached."""
    data = Path(os.environ.get("FERLIVE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    src = data / "videos" / "woman_smile_neutral.mp4"
    cache_dir = cache_dir or Path(os.environ.get("FERLIVE_CACHE", Path(tempfile.gettempdir()) / "ferlive"))
    out = cache_dir / "bench_640x480.mp4"
    if out.exists():
        return out
    if not src.exists():
        raise SystemExit(f"no default clip: {src} not found; pass a video file")
    cache_dir.mkdir(parents=True, exist_ok=True)
    source = VideoFileSource(src)
    with source, VideoRecorder(out, fps=source.fps or 30.0) as rec:
        for frame in source:
            rec.write(letterbox(frame.image, 640, 480))
    return out


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    s = min(width / w, height / h)
    resized = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    top = (height - resized.shape[0]) // 2
    left = (width - resized.shape[1]) // 2
    return cv2.copyMakeBorder(resized, top, height - resized.shape[0] - top, left, width - resized.shape[1] - left,
                              cv2.BORDER_CONSTANT)


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": 0.0, "p95": 0.0}
    return {"median": round(float(np.median(values)), 2), "p95": round(float(np.percentile(values, 95)), 2)}


def peak_memory_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)


def run_pipeline(video: Path, engine: InferenceEngine, max_frames: int | None) -> dict:
    """The full per-frame path of ``ferlive analyze``, H.264 encoding included, timed stage by stage."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = analyze(str(video), out_video=Path(tmp) / "bench.mp4", progress=False, max_frames=max_frames,
                          engine=engine)
    return {
        "frames": summary.frames,
        "fps": round(summary.fps, 1),
        "faces_per_frame": round(summary.faces / max(summary.frames, 1), 2),
        "ms": {k: stats(v) for k, v in summary.stage_ms.items() if v},
    }


def run_mediapipe_only(video: Path, max_frames: int | None) -> dict:
    """Decode + face mesh only: the ceiling for any expression app built on MediaPipe."""
    mesh = FaceMesh(max_faces=4)
    source = VideoFileSource(video)
    frames = 0
    with source:
        t0 = time.perf_counter()
        while max_frames is None or frames < max_frames:
            frame = source.read()
            if frame is None:
                break
            mesh.process(frame.image)
            frames += 1
        seconds = time.perf_counter() - t0
    mesh.close()
    return {"frames": frames, "fps": round(frames / seconds, 1)}


def ort_ms_per_face(engine: InferenceEngine, video: Path, runs: int = 100) -> float:
    """ONNX Runtime milliseconds for one aligned face from the clip (batch of 1, preprocessing included)."""
    source = VideoFileSource(video)
    with source, FaceMesh(max_faces=1, video_mode=False) as mesh:
        frame = source.read()
        faces = mesh.process(frame.image)
    card = engine.card
    if faces:
        a = align_face(frame.image, faces[0].landmarks, card.input.size, gray=card.input.color == "gray")
        crop, lm = a.image[None], a.landmarks[None]
    else:
        shape = (1, card.input.size, card.input.size) + (() if card.input.color == "gray" else (3,))
        crop, lm = np.zeros(shape, np.uint8), np.full((1, 478, 3), 0.5, np.float32)
    return time_predict(engine, crop, lm, runs)


def time_predict(engine: InferenceEngine, crops: np.ndarray, landmarks: np.ndarray, runs: int = 100) -> float:
    """Milliseconds per ``engine.predict`` call (preprocessing included), after a short warm-up."""
    for _ in range(10):
        engine.predict(crops, landmarks)
    t0 = time.perf_counter()
    for _ in range(runs):
        engine.predict(crops, landmarks)
    return round((time.perf_counter() - t0) / runs * 1000, 3)


def torch_ms_per_face(architecture: str, size: str, runs: int = 100, tta: str = "none") -> float | None:
    """PyTorch eager ms per face for the same architecture and test-time augmentation, measured in a child
    process: ``app`` never imports torch or training, so the comparison runs ``training.bench_torch`` beside it
    when that is installed."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("training") is None:
        return None
    cmd = [sys.executable, "-m", "training.bench_torch", "--arch", architecture, "--size", size, "--runs", str(runs),
           "--tta", tta]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["ms_per_face"]


def machine() -> str:
    name = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{platform.system()} {platform.machine()}, {name}, {os.cpu_count()} logical CPUs"


def benchmark(video: Path, models: list[str] | None, providers: list[str], max_frames: int | None,
              with_torch: bool) -> dict:
    registry = ModelRegistry()
    entries = [e for e in registry.entries() if e.usable and (not models or e.name in models)]
    report = {"machine": machine(), "video": str(video), "mediapipe_only": run_mediapipe_only(video, max_frames),
              "runs": [], "skipped": []}
    for entry in entries:
        torch_ms = (
            torch_ms_per_face(entry.card.architecture, entry.card.size, tta=entry.card.extra.get("tta", "none"))
            if with_torch
            else None
        )
        for provider in providers:
            try:
                engine = InferenceEngine(entry.onnx_path, card=entry.card, provider=provider)
            except ProviderError as exc:
                report["skipped"].append({"model": entry.name, "provider": provider, "reason": str(exc)})
                continue
            run = run_pipeline(video, engine, max_frames)
            run.update({"model": entry.name, "provider": engine.provider, "ort_ms_per_face":
                        ort_ms_per_face(engine, video), "torch_eager_ms_per_face": torch_ms,
                        "peak_memory_mb": peak_memory_mb(), "publictest_acc": entry.card.accuracy})
            report["runs"].append(run)
    return report


def print_table(report: dict) -> None:
    print(f"machine: {report['machine']}\nvideo: {report['video']}")
    print(f"MediaPipe-only loop (decode + face mesh): {report['mediapipe_only']['fps']} fps")
    cols = ["decode", "face_mesh", "alignment", "inference", "smoothing", "render", "encode"]
    head = f"{'model':<18}{'provider':<10}{'fps':>7}" + "".join(f"{c:>15}" for c in cols)
    head += f"{'faces':>7}{'ORT ms':>8}{'torch ms':>9}{'MB':>7}"
    print(head)
    for r in report["runs"]:
        cells = "".join(f"{r['ms'].get(c, {}).get('median', 0):>7.2f}/{r['ms'].get(c, {}).get('p95', 0):<7.2f}"
                        for c in cols)
        torch_ms = f"{r['torch_eager_ms_per_face']:.2f}" if r["torch_eager_ms_per_face"] else "-"
        print(f"{r['model']:<18}{r['provider']:<10}{r['fps']:>7.1f}{cells}{r['faces_per_frame']:>7.2f}"
              f"{r['ort_ms_per_face']:>8.2f}{torch_ms:>9}{r['peak_memory_mb']:>7.0f}")
    print("(stage cells: median/p95 ms per frame)")
    for s in report["skipped"]:
        print(f"skipped {s['model']} on {s['provider']}: {s['reason']}")


def markdown_table(report: dict) -> str:
    """The README's performance table (median ms per frame; end-to-end fps includes H.264 encoding)."""
    cols = ["decode", "face_mesh", "alignment", "inference", "smoothing", "render", "encode"]
    lines = [f"Machine: {report['machine']}. MediaPipe-only loop over the same frames: "
             f"**{report['mediapipe_only']['fps']} fps**.", "",
             "| model | provider | end-to-end fps | " + " | ".join(cols) + " | ORT ms/face | torch eager ms/face |",
             "|---|---|---|" + "---|" * (len(cols) + 2)]
    for r in report["runs"]:
        cells = " | ".join(f"{r['ms'].get(c, {}).get('median', 0):.2f}" for c in cols)
        torch_ms = f"{r['torch_eager_ms_per_face']:.2f}" if r["torch_eager_ms_per_face"] else "-"
        lines.append(f"| {r['model']} | {r['provider']} | {r['fps']:.1f} | {cells} | {r['ort_ms_per_face']:.2f} | "
                     f"{torch_ms} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Per-stage benchmark of the ferlive pipeline.")
    ap.add_argument("video", nargs="?", default=None, help="video file (default: 640x480 clip of a shared video)")
    ap.add_argument("--models", default=None, help="comma-separated model names (default: all in models/)")
    ap.add_argument("--providers", default="tensorrt,cuda,cpu", help="providers to try; those that fail are skipped")
    ap.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch eager comparison")
    ap.add_argument("--json", default=None, help="also write the report to this file")
    ap.add_argument("--markdown", default=None, help="also write the README table to this file")
    ap.add_argument("--outputs", action="store_true",
                    help="instead: fps with and without the live outputs (OSC, WebSocket, LSL) and their capture -> "
                         "sent latency, on the first of --models (default: the registry's default) and provider")
    args = ap.parse_args(argv)
    video = Path(args.video) if args.video else default_clip()
    if args.outputs:
        return _bench_outputs(video, args)
    report = benchmark(video, args.models.split(",") if args.models else None, args.providers.split(","),
                       args.frames, not args.no_torch)
    print_table(report)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(report) + "\n")
    return 0


def _bench_outputs(video: Path, args: argparse.Namespace) -> int:
    from app.analyze import load_engine
    from app.bench_outputs import benchmark_outputs, print_outputs_table

    engine = load_engine(args.models.split(",")[0] if args.models else None, provider=args.providers.split(",")[0])
    report = benchmark_outputs(video, engine, args.frames or 300)
    print_outputs_table(report)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
