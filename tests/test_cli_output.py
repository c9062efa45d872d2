"""What a person reads at the terminal: truncated inputs, third-party noise, a full disk, no display.

Real runs of ``ferlive`` (in a subprocess where fd 2 and the environment matter) on real videos with real
MediaPipe and a tiny real ONNX model.
"""

from __future__ import annotations

import csv
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import av
import pytest

from app.cli import display_problem, main
from tests.datapaths import require_data, video
from tests.onnx_factory import make_model

ROOT = Path(__file__).resolve().parents[1]
SMILE = "woman_smile_neutral.mp4"  # 464 frames, index (moov) at the end
GLOG_LINE = re.compile(r"[IWE]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\]")
NOISE_VARIABLES = ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL", "OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    make_model(folder / "tiny-grey.onnx", size=48, channels=1)
    monkeypatch.setenv("FERLIVE_MODELS", str(folder))
    return folder


def truncated_download(tmp_path: Path, fraction: float = 0.1) -> Path:
    """The smile clip as a web download cut short: index first (faststart), then only ``fraction`` of the bytes.

    With the index at the end (as shipped) a cut file does not open at all; with it first, the container still
    announces all 464 frames while only the first ones can be decoded.
    """
    whole = tmp_path / "faststart.mp4"
    with av.open(str(require_data(video(SMILE)))) as src, av.open(
        str(whole), "w", options={"movflags": "faststart"}
    ) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = whole.read_bytes()
    cut = tmp_path / "cut_download.mp4"
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


def run_ferlive(args: list[str], env_changes: dict[str, str], limit_bytes: int | None = None, clean_env=False):
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")} if clean_env else dict(os.environ)
    for key in NOISE_VARIABLES:
        env.pop(key, None)  # the defaults under test, not the ones conftest sets for the test process
    env.update(env_changes)

    def limit_file_size() -> None:  # a "disk" that fills at limit_bytes per file, without root or a mount
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
        preexec_fn=limit_file_size if limit_bytes else None,
    )


def without_progress_bar(stderr: str) -> list[str]:
    """The pieces of stderr that are not tqdm's progress bar (redrawn with carriage returns, ends in ``]``)."""
    pieces = (piece.strip() for piece in re.split(r"[\r\n]", stderr))
    return [p for p in pieces if p and not re.search(r"\d+/\d+ \[[^\]]*\]$", p)]


# ---- a truncated input (issue 18, item 9) --------------------------------------------------------------------------


@pytest.mark.slow
def test_truncated_input_is_reported_and_strict_fails(models_dir, tmp_path, capsys):
    cut = truncated_download(tmp_path)
    assert main(["analyze", str(cut), "--model", "tiny-grey", "--quiet"]) == 0
    captured = capsys.readouterr()
    decoded = int(re.search(r"(\d+) frames processed", captured.out).group(1))
    assert 0 < decoded < 464
    assert f"only {decoded} of the 464 frames" in captured.err and "truncated" in captured.err
    assert main(["analyze", str(cut), "--model", "tiny-grey", "--quiet", "--strict"]) == 3
    assert "only" in capsys.readouterr().err
    # a whole file says nothing and --strict does not change its exit status
    whole = require_data(video("woman_phone_night.mp4"))
    assert main(["analyze", str(whole), "--model", "tiny-grey", "--quiet", "--strict"]) == 0
    assert "warning" not in capsys.readouterr().err


# ---- third-party noise (item 10) -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_third_party_noise_is_hidden_and_verbose_restores_it(models_dir, tmp_path):
    cut = truncated_download(tmp_path)
    quiet = run_ferlive(["analyze", str(cut), "--model", "tiny-grey"], {"FERLIVE_MODELS": str(models_dir)})
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    lines = without_progress_bar(quiet.stderr)
    assert len(lines) == 1 and lines[0].startswith("ferlive: warning: only "), quiet.stderr[-3000:]
    assert not GLOG_LINE.search(quiet.stderr) and "TensorFlow Lite" not in quiet.stderr
    assert "partial file" not in quiet.stderr and "NAL unit" not in quiet.stderr

    loud = run_ferlive(["analyze", str(cut), "--model", "tiny-grey", "--quiet", "--verbose"],
                       {"FERLIVE_MODELS": str(models_dir)})
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert GLOG_LINE.search(loud.stderr) or "TensorFlow Lite" in loud.stderr  # MediaPipe speaks again
    assert "partial file" in loud.stderr or "NAL unit" in loud.stderr  # and so does FFmpeg


@pytest.mark.slow
def test_an_output_refused_before_the_first_frame_is_one_sentence(models_dir, tmp_path):
    """The face mesh's graphs, closed before they saw a frame, log as they stop; that stays hidden too."""
    clip = require_data(video("woman_phone_night.mp4"))
    run = run_ferlive(["analyze", str(clip), "--model", "tiny-grey", "--out", str(tmp_path / "frame.jpg")],
                      {"FERLIVE_MODELS": str(models_dir)})
    assert run.returncode != 0
    lines = without_progress_bar(run.stderr)
    assert len(lines) == 1 and lines[0].startswith("ferlive: Cannot write video to"), run.stderr[-3000:]


# ---- a full disk (item 10) -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE stands in for a full disk on Linux")
@pytest.mark.parametrize("output, limit", [("--csv", 12_000), ("--out", 60_000)])
def test_full_disk_is_said_once_and_leaves_whole_files(models_dir, tmp_path, output, limit):
    out = tmp_path / ("results.csv" if output == "--csv" else "annotated.mp4")
    run = run_ferlive(
        ["analyze", str(require_data(video(SMILE))), "--model", "tiny-grey", "--quiet", output, str(out)],
        {"FERLIVE_MODELS": str(models_dir)},
        limit_bytes=limit,
    )
    assert run.returncode == 2, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr  # one sentence, not a log line and then the same again
    assert lines[0].startswith("ferlive: ") and str(out) in lines[0] and "File too large" in lines[0]
    if output == "--csv":
        text = out.read_text()
        assert text.endswith("\n") and len(text) <= limit
        rows = list(csv.reader(text.splitlines()))
        assert len(rows) > 10 and all(len(row) == len(rows[0]) for row in rows)  # no half row at the end
    else:
        decoded = 0
        with av.open(str(out)) as container:  # fragmented MP4: what was written before the disk filled plays
            try:
                for _ in container.decode(video=0):
                    decoded += 1
            except av.InvalidDataError:  # the fragment the disk cut off
                pass
        assert decoded > 0


# ---- no display (item 11) ------------------------------------------------------------------------------------------


def test_no_display_is_one_sentence_and_exit_2(tmp_path):
    run = run_ferlive([], {"XDG_RUNTIME_DIR": str(tmp_path)}, clean_env=True)
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stderr.startswith("ferlive: no display found; use `ferlive analyze` for files")
    assert "DISPLAY" in run.stderr and "QT_QPA_PLATFORM" in run.stderr
    assert "xcb" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_display_problem_only_where_no_display_can_exist():
    assert display_problem({}, "linux")
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "win32") is None and display_problem({}, "darwin") is None


def test_x11_library_check_only_where_qt_takes_x11(tmp_path):
    from app.cli import x11_library_problem

    broken = tmp_path / "libQt6XcbQpa.so.6"
    broken.write_bytes(b"not a shared library")
    x11 = {"DISPLAY": ":0"}
    assert x11_library_problem({**x11, "QT_QPA_PLATFORM": "offscreen"}, "linux", broken) is None
    assert x11_library_problem({**x11, "WAYLAND_DISPLAY": "wayland-0"}, "linux", broken) is None
    assert x11_library_problem({}, "linux", broken) is None  # no display: display_problem's sentence instead
    assert x11_library_problem(x11, "darwin", broken) is None
    problem = x11_library_problem({**x11, "QT_QPA_PLATFORM": "xcb"}, "linux", broken)
    assert problem.startswith("Qt cannot open its X11 window support: ") and "libxcb-icccm4" in problem


def test_x11_library_check_passes_where_the_plugin_loads():
    from app.cli import qt_x11_library, x11_library_problem

    library = qt_x11_library()
    if library is None:
        pytest.skip("this PySide6 has no libQt6XcbQpa (not a Linux wheel)")
    try:
        import ctypes

        ctypes.CDLL(str(library))
    except OSError as exc:
        pytest.skip(f"this machine lacks an X11 library Qt needs ({exc}); the check's message path is tested above")
    assert x11_library_problem({"DISPLAY": ":0"}, "linux") is None
