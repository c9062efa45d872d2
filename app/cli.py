"""Command line: ``ferlive`` (desktop app), ``ferlive analyze``, ``ferlive models``, ``ferlive bench``."""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from app import quiet
from app.capture.rotate import ROTATIONS
from app.errors import FerliveError
from app.publish.options import add_output_arguments
from app.smoothing import DEFAULT_STABILITY, PRESETS

PROVIDERS = ["auto", "tensorrt", "cuda", "cpu"]
VERBOSE_HELP = "show the log lines of FFmpeg, OpenCV and MediaPipe (hidden by default)"
STABILITY_HELP = ("how firmly the shown label holds still: responsive, balanced or steady (see app/smoothing.py; "
                  "default %(default)s)")


def talk_weight(text: str) -> float:
    """``--talk-weight``: a share in (0, 1], as ``Stability`` accepts it."""
    try:
        value = float(text)
        replace(PRESETS[DEFAULT_STABILITY], talk_weight=value)  # Stability checks the range
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {text!r}") from None
    return value


def _analyze(args: argparse.Namespace) -> int:
    from app.analyze_command import run_analyze

    return run_analyze(args)


# ``ferlive models`` columns: (heading, card metric, shown as a percentage)
MODEL_METRICS = (("publictest", "publictest_acc", True), ("AffectNet", "affectnet_acc", True),
                 ("CK+", "ckplus_acc", True), ("clips", "clip_acc", True), ("CPU ms/face", "cpu_ms_per_face", False))


def _models(args: argparse.Namespace) -> int:
    from app.inference.registry import ModelRegistry

    reg = ModelRegistry()
    default = reg.default()
    rows = []
    for e in reg.entries():
        metrics = {key: e.card.metric(key) if e.card else None for _, key, _ in MODEL_METRICS}
        rows.append({"name": e.name, "default": bool(default and e.name == default.name),
                     "architecture": e.card.architecture if e.card else None,
                     "purpose": e.card.purpose if e.card else "", **metrics, "error": e.error})
    print(json.dumps(rows, indent=2) if args.json else models_table(rows))
    return 0


def models_table(rows: list[dict]) -> str:
    """The models as an aligned text table: measured accuracy (through the app's pipeline) and speed per model,
    the default marked; an unusable model shows why instead."""
    def cell(value: float | None, percent: bool) -> str:
        return "-" if value is None else f"{100 * value:.1f}%" if percent else f"{value:.1f}"

    head = ["model", *(title for title, _, _ in MODEL_METRICS), "for"]
    lines = [[r["name"] + (" *" if r["default"] else ""),
              *(cell(r[key], percent) for _, key, percent in MODEL_METRICS),
              r["purpose"] if not r["error"] else f"unusable: {r['error']}"] for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(head, *lines)]
    text = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *lines]]
    return "\n".join(text + ["* the default. Accuracy through ferlive's own pipeline; clips: hand-labelled real clips "
                              "(balanced labels). Details: models/<name>.json"])


def _bench(args: argparse.Namespace) -> int:
    from app import bench

    return bench.main(args.rest)


def display_problem(env: dict[str, str] | None = None, platform: str = sys.platform) -> str | None:
    """Why the desktop app cannot show a window here (Linux without X11 or Wayland), or None.

    Checked before Qt starts, because Qt's own answer is an abort (exit 134) with a page of xcb text.
    """
    env = os.environ if env is None else env
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display found; use `ferlive analyze` for files, or set DISPLAY (or WAYLAND_DISPLAY) or "
            "QT_QPA_PLATFORM (e.g. offscreen) to start the window")


# What Qt 6's X11 plugin links against beyond a desktop's usual libraries, as Debian/Ubuntu name the packages
X11_PACKAGES = "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0"


def qt_x11_library() -> Path | None:
    """PySide6's library behind Qt's xcb platform plugin, found without importing Qt (None if not laid out so)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "lib" / "libQt6XcbQpa.so.6"
    return path if path.exists() else None


def x11_library_problem(env: dict[str, str] | None = None, platform: str = sys.platform,
                        library: Path | None = None) -> str | None:
    """Which system library Qt's X11 plugin lacks, or None; checked only where Qt will take X11.

    A minimal Debian or Ubuntu has the X server but not every xcb library Qt 6 links against; Qt then aborts
    (exit 134) with "Could not load the Qt platform plugin xcb" and names none of them. Loading the plugin's
    library first gives the dynamic loader's own answer, which names the missing file.
    """
    env = os.environ if env is None else env
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None
    if not env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    library = library or qt_x11_library()
    if library is None:
        return None
    try:
        ctypes.CDLL(str(library))
    except OSError as exc:
        missing = re.match(r"([^:\s]+\.so[.\d]*): cannot open shared object file", str(exc))
        what = f"{missing.group(1)} is missing" if missing else str(exc)
        return (f"Qt cannot open its X11 window support: {what}; on Debian/Ubuntu install "
                f"{X11_PACKAGES} (or set QT_QPA_PLATFORM=wayland on a Wayland desktop)")
    return None


def _gui(args: argparse.Namespace) -> int:
    if problem := display_problem() or x11_library_problem():
        raise FerliveError(problem)
    from app.publish import config_from_args
    from app.ui.main import run_app

    return run_app(source=args.source, model=args.model, provider=args.provider, stability=args.stability,
                   loop=args.loop, mirror=args.mirror, rotate=args.rotate, outputs=config_from_args(args))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ferlive", description="Real-time facial-expression recognition.")
    ap.add_argument("--source", default=None, help="camera index or video/image/folder path to start with")
    ap.add_argument("--model", default=None, help="model name in models/ (default: the best CPU model)")
    ap.add_argument("--provider", choices=PROVIDERS, default=None, help="default: the last one used, else auto")
    ap.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    add_output_arguments(ap)
    ap.add_argument("--stability", choices=list(PRESETS), default=None,
                    help="how firmly the shown label holds still (default: the last one chosen, else "
                         f"{DEFAULT_STABILITY})")
    ap.add_argument("--loop", action=argparse.BooleanOptionalAction, default=None,
                    help="start a video file, folder of videos or slideshow of photos again at its end "
                         "(default: the last choice, else on)")
    ap.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                    help="show a camera mirrored, as video calls do (default: the last choice, else on)")
    ap.add_argument("--rotate", type=int, choices=ROTATIONS, default=None,
                    help="turn a camera's or video file's picture this many degrees clockwise: a camera mounted "
                         "sideways or upside down (default: the last choice, else 0)")
    sub = ap.add_subparsers(dest="command")
    an = sub.add_parser("analyze", help="annotate a video/image/folder headless and export per-frame results")
    an.add_argument("input", help="a video file, a photo, or a folder of photos (a folder without photos of its own: "
                                   "those of its subfolders, e.g. a dataset's <class>/<image> layout); a folder "
                                   "without photos but with videos: each video, with --out/--csv/--jsonl folders")
    an.add_argument("--model", default=None, help="model name in models/ or a path to an .onnx")
    an.add_argument("--out", default=None,
                    help="annotated H.264 video to write (.mp4, .mkv, .mov); for a photo an image file, for a folder "
                         "of photos a folder of annotated photos under their own names")
    an.add_argument("--csv", default=None, help="per-face per-frame results as CSV")
    an.add_argument("--jsonl", default=None, help="per-face per-frame results as JSON Lines")
    an.add_argument("--summary", default=None,
                    help="one CSV row per input (per video for a folder of videos): faces found, label changes per "
                         "second, each label's share of face time and each class's mean raw probability")
    an.add_argument("--plot", default=None,
                    help="a video's timeline as a PNG: the largest face's probabilities and the label shown, over "
                         "time (a folder for a folder of videos); for photos in class folders, their confusion "
                         "matrix")
    an.add_argument("--marks", default=None,
                    help="with --plot on a video: draw a recording's event marks (its <name>-marks.csv) on the "
                         "timeline, at their seconds into the video (for its clean or annotated MP4)")
    an.add_argument("--provider", choices=PROVIDERS, default="auto")
    an.add_argument("--max-faces", type=int, default=None,
                    help="faces labelled per frame (default: 4 for a video, 20 for photos)")
    an.add_argument("--face-crops", action=argparse.BooleanOptionalAction, default=None,
                    help="the photos are face crops (as in a dataset): one where no face is found is labelled whole, "
                         "as training and evaluation do, instead of getting no row (default: only photos under "
                         "192 px and near-square, the size of a dataset's crop; --no-face-crops: none)")
    an.add_argument("--stability", choices=list(PRESETS), default=DEFAULT_STABILITY, help=STABILITY_HELP)
    an.add_argument("--smoothing", type=float, default=None,
                    help="old per-frame smoothing (0 = none, 0.9 = heavy): replaces the preset's time constant with "
                         "its equivalent at 30 fps and keeps the preset's label hysteresis")
    an.add_argument("--talk-weight", type=talk_weight, default=None,
                    help="how much a talking face's frames with parted lips count in the smoothing (default: the "
                         "preset's 0.3; 1 counts every frame alike; see app/face/mouth.py)")
    an.add_argument("--rotate", type=int, choices=ROTATIONS, default=0,
                    help="turn every frame this many degrees clockwise first: a camera mounted sideways or upside "
                         "down (a video's own rotation metadata is applied anyway)")
    an.add_argument("--neutral-at", type=float, default=None, metavar="SECONDS",
                    help="neutral calibration: the largest face holds a relaxed, neutral face for 3 s from SECONDS "
                         "into the video (each video of a folder); the whole video is then weighed so that this "
                         "resting face reads neutral (p_ columns; raw_ stay the model's own; see app/neutral.py)")
    an.add_argument("--landmarks", action="store_true", help="draw the face-mesh points")
    an.add_argument("--no-bars", action="store_true", help="no per-face probability bars")
    an.add_argument("--max-frames", type=int, default=None)
    an.add_argument("--quiet", action="store_true", help="no progress bar")
    an.add_argument("--strict", action="store_true",
                    help="exit with status 3 when the input delivers fewer frames than it announces (truncated)")
    an.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    add_output_arguments(an)
    an.set_defaults(func=_analyze)
    mo = sub.add_parser("models", help="list the models in models/ with their accuracy")
    mo.add_argument("--json", action="store_true", help="one JSON object per model, for scripts")
    mo.set_defaults(func=_models)
    be = sub.add_parser("bench", help="per-stage benchmark (see python -m app.bench --help)")
    be.add_argument("rest", nargs=argparse.REMAINDER)
    be.set_defaults(func=_bench)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func = getattr(args, "func", _gui)
    if args.verbose:  # before any command imports OpenCV or MediaPipe
        quiet.set_verbose(True)
    try:
        return func(args)
    except FerliveError as exc:
        print(f"ferlive: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
