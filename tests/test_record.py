"""Outputs on real frames: H.264 recordings read back with PyAV, failures that keep files playable, CSV/JSONL."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from app.capture import VideoFileSource
from app.errors import OutputError
from app.labels import EXPRESSIONS
from app.record import ResultsWriter, VideoRecorder, pick_encoder, video_rate
from app.types import FaceResult, Frame, FrameResult
from tests.datapaths import require_data, video

SMILE = "woman_smile_neutral.mp4"  # 596x336 at 29.97 fps


def real_frames(n: int) -> list[Frame]:
    with VideoFileSource(require_data(video(SMILE))) as src:
        return [src.read() for _ in range(n)]


@dataclass(frozen=True)
class StreamFacts:
    """What the tests check of a recording's video stream, read while its file is open (PyAV 18.1.1 refuses to
    answer some of it once the container is closed)."""

    codec: str
    width: int
    height: int
    average_rate: Fraction | None


def read_back(path: Path) -> tuple[StreamFacts, list[av.VideoFrame]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return StreamFacts(stream.codec_context.name, stream.width, stream.height, stream.average_rate), frames


def test_recording_keeps_every_frame_as_h264(tmp_path):
    frames = real_frames(60)
    out = tmp_path / "clip.mp4"
    with VideoRecorder(out, fps=29.97, queue_size=4) as rec:  # a tiny queue makes write() wait on the encoder
        for frame in frames:
            rec.write(frame)
    assert rec.frames_written == 60 and rec.codec_name == "libx264" and rec.size == (596, 336)
    stream, decoded = read_back(out)
    assert len(decoded) == 60
    assert stream.codec == "h264"
    assert (stream.width, stream.height) == (596, 336)
    assert stream.average_rate == Fraction(30000, 1001)
    np.testing.assert_allclose(decoded[30].time, 30 * 1001 / 30000, atol=1e-4)
    # CRF 20 keeps the picture: mean absolute error of a decoded frame stays small
    assert np.abs(decoded[10].to_ndarray(format="bgr24").astype(int) - frames[10].image).mean() < 6


def test_odd_sizes_are_padded_to_even(tmp_path):
    frames = [f.image[:335, :595] for f in real_frames(5)]
    out = tmp_path / "odd.mkv"
    with VideoRecorder(out, fps=25) as rec:
        for image in frames:
            rec.write(image)
    assert rec.size == (596, 336)
    stream, decoded = read_back(out)
    assert (stream.width, stream.height, len(decoded)) == (596, 336, 5)


def test_timestamps_give_variable_frame_rate(tmp_path):
    out = tmp_path / "vfr.mp4"
    stamps = [0.0, 0.1, 0.2, 0.5, 0.51]  # a camera that stalls, then two frames closer than 1/fps
    with VideoRecorder(out, fps=30) as rec:
        for t, frame in zip(stamps, real_frames(5)):
            rec.write(frame, timestamp=t)
    _, decoded = read_back(out)
    np.testing.assert_allclose([f.time for f in decoded], [0.0, 0.1, 0.2, 0.5, 0.5 + 1 / 30], atol=1e-3)


def test_rates_and_encoder_choice():
    assert video_rate(29.97) == Fraction(30000, 1001)
    assert video_rate(59.94) == Fraction(60000, 1001)
    assert video_rate(25) == 25
    assert abs(float(video_rate(24.701716702186573)) - 24.7017167) < 1e-3
    assert pick_encoder("no-such-encoder") == "libx264"


@pytest.mark.parametrize("make_path", [lambda d: d, lambda d: d / "file.txt" / "out.mp4", lambda d: d / "x.notavideo"])
def test_unwritable_paths_fail_at_construction(tmp_path, make_path):
    (tmp_path / "file.txt").write_text("a file where a folder is needed")
    path = make_path(tmp_path)
    with pytest.raises(OutputError, match=str(path)):
        VideoRecorder(path, fps=30)


def test_missing_folders_are_created_and_empty_recordings_leave_nothing(tmp_path):
    out = tmp_path / "new" / "deeper" / "clip.mp4"
    VideoRecorder(out, fps=30).close()
    assert out.parent.is_dir() and not out.exists()


def test_exception_inside_with_still_leaves_a_playable_file(tmp_path):
    out = tmp_path / "interrupted.mp4"
    frames = real_frames(20)
    with pytest.raises(RuntimeError, match="boom"), VideoRecorder(out, fps=29.97) as rec:
        for i, frame in enumerate(frames):
            if i == 12:
                raise RuntimeError("boom")
            rec.write(frame)
    _, decoded = read_back(out)
    assert len(decoded) == 12


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux) to simulate a full disk")
def test_write_error_on_the_encoder_thread_is_reported():
    rec = VideoRecorder("/dev/full", fps=30, format="mp4")  # every write fails with ENOSPC
    image = real_frames(1)[0].image
    with pytest.raises(OutputError, match="No space left") as info:
        for _ in range(300):  # the first packet (and the failing header write) comes after x264's lookahead
            rec.write(image)
    assert "/dev/full" in str(info.value)
    with pytest.raises(OutputError):  # no more frames accepted
        rec.write(image)
    rec.close()  # already reported: finalises without raising again
    rec.close()


_DISK_FULL_MIDWAY = """
import json, resource, signal, sys
from app.capture import VideoFileSource
from app.errors import OutputError
from app.record import VideoRecorder
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))  # the "disk" fills after the header
rec = VideoRecorder(sys.argv[2], fps=30)
error = None
with VideoFileSource(sys.argv[1]) as src:
    for frame in src:
        try:
            rec.write(frame)
        except OutputError as exc:
            error = str(exc)
            break
try:
    rec.close()
except OutputError as exc:
    error = error or str(exc)
print(json.dumps({"error": error, "written": rec.frames_written}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE simulation of a full disk is Linux-only")
def run_snippet(snippet: str, *args) -> dict:
    """Run a test snippet in its own process (its file-size limit must not touch pytest) and return the JSON report
    it prints last."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(snippet), *map(str, args)], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_disk_full_midway_is_reported_without_crashing(tmp_path):
    """FFmpeg can crash if packets are muxed after a failed write; the recorder must stop muxing and report."""
    src = require_data(video(SMILE))
    report = run_snippet(_DISK_FULL_MIDWAY, src, tmp_path / "full.mp4")
    assert report["error"] and "full.mp4" in report["error"] and "too large" in report["error"]
    assert report["written"] > 0


_KILLED_MIDWAY = """
import os, sys, time
from app.capture import VideoFileSource
from app.record import VideoRecorder
rec = VideoRecorder(sys.argv[2], fps=30)
with VideoFileSource(sys.argv[1]) as src:
    for _ in range(150):
        rec.write(src.read())
while rec.frames_written < 150:
    time.sleep(0.05)
time.sleep(0.5)
os._exit(9)  # as if the app crashed: no close(), no index written at the end
"""


def test_a_recording_cut_off_by_a_crash_still_plays(tmp_path):
    """MP4 is fragmented at every key frame (1 s), so a process that dies mid-recording leaves a playable file."""
    src = require_data(video(SMILE))
    out = tmp_path / "crashed.mp4"
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_MIDWAY), str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 9, run.stderr[-2000:]
    stream, decoded = read_back(out)
    assert stream.codec == "h264"
    assert 90 <= len(decoded) <= 150  # everything up to the last complete one-second fragment
    np.testing.assert_allclose(decoded[45].time, 45 / 30, atol=1e-3)


# ---- per-frame results ---------------------------------------------------------------------------------------------


def face_result(track_id: int, rng: np.random.Generator, classes=EXPRESSIONS) -> FaceResult:
    probs = rng.dirichlet(np.ones(len(classes))).astype(np.float32)
    return FaceResult(track_id, (10.0, 20.0, 110.5, 140.0), np.zeros((478, 3), np.float32), probs, tuple(classes))


def frame_results(faces_per_frame: list[int]) -> list[FrameResult]:
    rng = np.random.default_rng(0)
    image = np.zeros((48, 64, 3), np.uint8)
    return [
        FrameResult(Frame(image, i, i / 30, "test"), [face_result(t, rng) for t in range(n)], model_name="tiny")
        for i, n in enumerate(faces_per_frame)
    ]


def test_csv_has_one_row_per_face_and_probabilities(tmp_path):
    out = tmp_path / "results.csv"
    results = frame_results([2, 0, 1, 3])
    results[3] = replace(results[3], subject=2)  # face 2 clicked
    with ResultsWriter(out) as writer:
        for result in results:
            writer.write(result)
    assert writer.frames_seen == 4 and writer.rows_written == 6
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert list(rows[0]) == [
        *("timestamp", "frame_index", "track_id", "x0", "y0", "x1", "y1", "label", "confidence"),
        *(f"p_{c}" for c in EXPRESSIONS),
        *(f"raw_{c}" for c in EXPRESSIONS),
        "model",
        "talking",
        "dim",
        "turned",
        "calibrated",
        "subject",
        "image",
    ]
    assert [int(r["frame_index"]) for r in rows] == [0, 0, 2, 3, 3, 3]  # frame 1 had no face: no row
    # the face the app follows: the largest (the first of equals), else the one clicked
    assert [(r["track_id"], r["subject"]) for r in rows] == [
        ("0", "1"), ("1", "0"), ("0", "1"), ("0", "0"), ("1", "0"), ("2", "1")]
    for row, face in zip(rows, [f for r in results for f in r.faces]):
        probs = [float(row[f"p_{c}"]) for c in EXPRESSIONS]
        assert abs(sum(probs) - 1) < 1e-3
        assert row["label"] == face.label and row["model"] == "tiny"
        assert float(row["confidence"]) == pytest.approx(max(probs), abs=1e-5)
    assert float(rows[2]["timestamp"]) == pytest.approx(2 / 30, abs=1e-4)


def test_jsonl_has_one_line_per_frame(tmp_path):
    out = tmp_path / "results.jsonl"
    with ResultsWriter(out) as writer:
        for result in frame_results([1, 0, 2]):
            writer.write(replace(result, subject=1) if len(result.faces) == 2 else result)  # face 1 clicked
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(line["faces"]) for line in lines] == [1, 0, 2]
    assert [line["subject"] for line in lines] == [0, None, 1]  # the face the app follows
    face = lines[2]["faces"][1]
    assert face["track_id"] == 1 and len(face["box"]) == 4
    assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_each_frame_lists_its_largest_face_first(tmp_path, suffix):
    """A script that reads a frame's first row gets its main subject, whatever order the mesh found faces in."""
    rng = np.random.default_rng(1)
    boxes = {1: (0.0, 0.0, 40.0, 40.0), 2: (100.0, 50.0, 300.0, 260.0), 3: (400.0, 60.0, 480.0, 150.0)}
    faces = [replace(face_result(t, rng), box=boxes[t]) for t in (1, 2, 3)]  # found smallest first
    out = tmp_path / f"results.{suffix}"
    with ResultsWriter(out) as writer:
        writer.write(FrameResult(Frame(np.zeros((300, 500, 3), np.uint8), 0, 0.0, "test"), faces, model_name="m"))
    if suffix == "csv":
        with open(out, newline="") as f:
            tracks = [int(r["track_id"]) for r in csv.DictReader(f)]
    else:
        tracks = [face["track_id"] for face in json.loads(out.read_text())["faces"]]
    assert tracks == [2, 3, 1]


def test_results_writer_edges(tmp_path):
    with pytest.raises(OutputError, match="csv or .jsonl"):
        ResultsWriter(tmp_path / "results.xlsx")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(OutputError, match="folder.csv: it is a folder"):
        ResultsWriter(tmp_path / "folder.csv")
    out = tmp_path / "none.csv"
    with ResultsWriter(out, classes=("happy", "sad")) as writer:
        for result in frame_results([0, 0]):
            writer.write(result)
    writer.close()  # idempotent
    assert out.read_text().splitlines() == [
        "timestamp,frame_index,track_id,x0,y0,x1,y1,label,confidence,p_happy,p_sad,raw_happy,raw_sad,model,talking,dim,"
        "turned,calibrated,subject,image"
    ]


_RESULTS_DISK_FULL = """
import json, resource, sys
import numpy as np
from app.errors import OutputError
from app.record import ResultsWriter
from app.types import FaceResult, Frame, FrameResult
resource.setrlimit(resource.RLIMIT_FSIZE, (5_000, 5_000))  # the "disk" fills in the middle of some row
rng = np.random.default_rng(0)
classes = ("angry", "happy", "neutral")
errors, frames = [], 0
writer = ResultsWriter(sys.argv[1])
for i in range(500):
    faces = [FaceResult(t, (1.0, 2.0, 3.0, 4.0), np.zeros((478, 3), np.float32),
                        rng.dirichlet(np.ones(3)).astype(np.float32), classes) for t in range(1 + i % 3)]
    try:
        writer.write(FrameResult(Frame(np.zeros((4, 4, 3), np.uint8), i, i / 30, "t"), faces, model_name="m"))
        frames += 1
    except OutputError as exc:
        errors.append(str(exc))
        if len(errors) == 2:
            break
writer.close()
print(json.dumps({"errors": errors, "frames": frames, "rows": writer.rows_written}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE simulation of a full disk is Linux-only")
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_results_cut_by_a_full_disk_end_on_a_whole_frame(tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    report = run_snippet(_RESULTS_DISK_FULL, out)
    assert len(report["errors"]) == 2 and "File too large" in report["errors"][0]  # later writes are refused too
    assert report["errors"][0] == report["errors"][1] and str(out) in report["errors"][0]
    text = out.read_text()
    assert 0 < len(text) <= 5_000 and text.endswith("\n")
    if suffix == ".csv":
        rows = list(csv.reader(text.splitlines()))
        assert all(len(row) == len(rows[0]) for row in rows)
        assert len(rows) - 1 == report["rows"]  # the rows counted are the rows on disk
    else:
        lines = [json.loads(line) for line in text.splitlines()]  # every line parses: no half line
        assert len(lines) == report["frames"] == report["rows"]


def test_annotated_photos_keep_their_names_and_formats_that_cannot_hold_colour_become_png(tmp_path):
    import cv2

    from app.record.photos import AnnotatedPhotos

    photo = np.full((30, 40, 3), (10, 200, 30), np.uint8)
    folder = AnnotatedPhotos(tmp_path / "out", single=False)
    written = [folder.write(name, photo) for name in ["a.jpg", "b.jfif", "c.tif", "sub/d.ppm", "e.pgm"]]
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "a.jpg", "b.jfif", "c.tif", "sub/d.ppm", "e.pgm.png"]
    for path in written:
        assert cv2.imread(str(path)).shape == photo.shape, path
    with pytest.raises(OutputError, match="cannot hold a colour picture"):
        AnnotatedPhotos(tmp_path / "one.pgm", single=True)
    assert not (tmp_path / "one.pgm").exists()
