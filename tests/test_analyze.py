"""End to end on real videos with real MediaPipe and a real ONNX session: ``ferlive analyze``."""

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest

from app.cli import main
from app.errors import ModelLoadError, SourceError, UnknownModelError
from tests.datapaths import require_data, video
from tests.onnx_factory import make_model

pytestmark = pytest.mark.slow


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    d = tmp_path / "models"
    d.mkdir()
    make_model(d / "tiny-grey.onnx", size=48, channels=1)
    make_model(d / "tiny-landmarks.onnx", size=64, channels=3, landmarks=True)
    monkeypatch.setenv("FERLIVE_MODELS", str(d))
    return d


def count_frames(path) -> tuple[int, str, tuple[int, int]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return n, s.codec_context.name, (s.codec_context.width, s.codec_context.height)


def source_frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize("model", ["tiny-grey", "tiny-landmarks"])
def test_analyze_writes_every_frame_and_a_row_per_face(model, models_dir, tmp_path, capsys):
    src = require_data(video("woman_phone_night.mp4"))
    out, results = tmp_path / "annotated.mp4", tmp_path / "results.csv"
    rc = main(["analyze", str(src), "--model", model, "--out", str(out), "--csv", str(results), "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "frames per second" in printed and "faces found" in printed
    n, codec, size = count_frames(out)
    assert n == source_frames(src)
    assert codec == "h264"
    rows = list(csv.DictReader(open(results)))
    frames_with_face = {int(r["frame_index"]) for r in rows}
    assert len(frames_with_face) >= 0.9 * n
    probs = np.array([[float(r[k]) for k in r if k.startswith("p_")] for r in rows])
    assert probs.shape[1] == 7
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-3)
    assert {r["model"] for r in rows} == {model}
    assert sum(r["talking"] == "1" for r in rows) <= 0.05 * len(rows)  # she smiles at her phone, silent


def test_single_face_video_face_found_in_95_percent_of_frames(models_dir, tmp_path):
    from app.analyze import analyze

    src = require_data(video("woman_smile_neutral.mp4"))
    summary = analyze(str(src), model="tiny-grey", results_paths=[tmp_path / "r.jsonl"], progress=False)
    assert summary.frames == source_frames(src)
    assert summary.face_coverage >= 0.95
    assert summary.faces <= summary.frames * 1.02  # one person: no phantom faces
    lines = [json.loads(x) for x in open(tmp_path / "r.jsonl")]
    assert len(lines) == summary.frames  # one line per frame, faces nested
    faces = [f for line in lines for f in line["faces"]]
    assert len(faces) == summary.faces
    assert len({f["track_id"] for f in faces}) <= 3  # the id stays with the person
    assert sum(f["talking"] for f in faces) >= 0.6 * len(faces)  # she talks nearly throughout
    # the labels a viewer saw, counted from what was written
    shown = {}
    for f in faces:
        shown[f["label"]] = shown.get(f["label"], 0) + 1
    assert summary.labels == shown
    shares = summary.label_shares()
    assert list(shares.values()) == sorted(shares.values(), reverse=True) and sum(shares.values()) == pytest.approx(1)
    top = next(iter(shares))
    assert f"labels shown: {top} {100 * shares[top]:.0f}%" in summary.describe()


def test_default_model_used_when_none_named(models_dir, tmp_path, capsys):
    src = require_data(video("woman_phone_night.mp4"))
    assert main(["analyze", str(src), "--max-frames", "5", "--quiet"]) == 0
    assert "5 frames processed" in capsys.readouterr().out


def test_bad_inputs_give_one_clear_message(models_dir, tmp_path, capsys):
    src = require_data(video("woman_phone_night.mp4"))
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video")
    assert main(["analyze", str(not_video), "--out", str(tmp_path / "o.mp4"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "notes.mp4" in err
    assert not (tmp_path / "o.mp4").exists()  # nothing half-written for a bad input

    assert main(["analyze", str(src), "--model", "nope", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "tiny-grey" in err

    assert main(["analyze", str(src), "--out", "/proc/forbidden/o.mp4", "--quiet"]) == 2
    assert "/proc/forbidden/o.mp4" in capsys.readouterr().err

    (models_dir / "broken.onnx").write_bytes(b"\x08\x07garbage" * 10)
    (models_dir / "broken.json").write_text((models_dir / "tiny-grey.json").read_text())
    assert main(["analyze", str(src), "--model", "broken", "--quiet"]) == 2
    assert "broken" in capsys.readouterr().err


def test_api_errors_are_typed(models_dir, tmp_path):
    from app.analyze import analyze, load_engine

    with pytest.raises(UnknownModelError):
        load_engine("missing-model")
    with pytest.raises(SourceError):
        analyze(str(tmp_path / "nothing.mp4"), model="tiny-grey", progress=False)
    with pytest.raises(ModelLoadError):
        load_engine(str(tmp_path / "nothing.onnx"))


def test_talk_weight_one_counts_every_frame_alike(models_dir, tmp_path, capsys):
    """``--talk-weight 1`` turns the talking weight off: on the talking clip the labels shown differ from the
    default's, while the talking flag (what the face does) is the same; a share outside (0, 1] is refused."""
    src = require_data(video("woman_smile_neutral.mp4"))
    runs = {}
    for weight in (None, "1"):
        out = tmp_path / f"r{weight}.csv"
        extra = [] if weight is None else ["--talk-weight", weight]
        assert main(["analyze", str(src), "--model", "tiny-landmarks", "--csv", str(out), "--max-frames", "150",
                     "--quiet", *extra]) == 0
        runs[weight] = list(csv.DictReader(open(out)))
    assert [r["talking"] for r in runs[None]] == [r["talking"] for r in runs["1"]]
    assert any(r["talking"] == "1" for r in runs[None])
    assert [r["p_neutral"] for r in runs[None]] != [r["p_neutral"] for r in runs["1"]]
    assert [r["raw_neutral"] for r in runs[None]] == [r["raw_neutral"] for r in runs["1"]]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["analyze", str(src), "--talk-weight", "0"])
    assert "must be above 0" in capsys.readouterr().err


def test_the_summary_counts_the_label_changes_the_results_show(models_dir, tmp_path, capsys):
    """The summary's steadiness line counts what a viewer saw: the changes of each track's label in the CSV."""
    src = require_data(video("woman_smile_neutral.mp4"))
    out = tmp_path / "r.csv"
    shipped = Path(__file__).parent.parent / "models" / "poster-small.onnx"
    assert main(["analyze", str(src), "--model", str(shipped), "--csv", str(out), "--max-frames", "120",
                 "--stability", "responsive", "--quiet"]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(open(out)))
    by_frame: dict[int, dict[str, tuple[float, str]]] = {}
    for r in rows:
        by_frame.setdefault(int(r["frame_index"]), {})[r["track_id"]] = (float(r["timestamp"]), r["label"])
    changes, seconds = 0, 0.0
    for i in range(1, 120):
        before, now = by_frame.get(i - 1, {}), by_frame.get(i, {})
        for track in before.keys() & now.keys():
            seconds += now[track][0] - before[track][0]
            changes += now[track][1] != before[track][1]
    assert changes > 0  # she smiles and talks; responsive labels follow
    assert f"label changes: {changes / seconds:.2f} per second of face time ({changes} changes in {seconds:.1f} s)" \
        in printed


def test_a_folder_of_photos_names_each_photo_in_the_results(models_dir, tmp_path):
    """Rows name their photo, so a folder with an unreadable file or a photo without a face still lines up."""
    import cv2

    from app.capture import VideoFileSource

    with VideoFileSource(require_data(video("woman_smile_neutral.mp4"))) as src:
        frame = src.read().image
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a_face.jpg"), frame)
    (photos / "b_damaged.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(photos / "c_wall.png"), np.full((240, 320, 3), 90, np.uint8))
    cv2.imwrite(str(photos / "d_mirrored.jpg"), frame[:, ::-1])
    table, lines, summary = tmp_path / "r.csv", tmp_path / "r.jsonl", tmp_path / "summary.csv"
    assert main(["analyze", str(photos), "--model", "tiny-grey", "--csv", str(table), "--jsonl", str(lines),
                 "--summary", str(summary), "--quiet"]) == 0
    rows = list(csv.DictReader(table.open()))
    assert [r["image"] for r in rows] == ["a_face.jpg", "d_mirrored.jpg"]
    (line,) = csv.DictReader(summary.open())  # one input, one line; photos have no face time
    assert (line["input"], line["frames"], line["frames_with_face"], line["face_seconds"]) == ("photos", "3", "2", "")
    assert [r["frame_index"] for r in rows] == ["0", "2"]  # the damaged file is skipped, the wall has no face
    frames = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [(f["image"], len(f["faces"])) for f in frames] == [("a_face.jpg", 1), ("c_wall.png", 0),
                                                               ("d_mirrored.jpg", 1)]


def test_video_rows_leave_the_image_column_blank(models_dir, tmp_path):
    table, lines = tmp_path / "r.csv", tmp_path / "r.jsonl"
    src = require_data(video("woman_phone_night.mp4"))
    assert main(["analyze", str(src), "--model", "tiny-grey", "--csv", str(table), "--jsonl", str(lines),
                 "--max-frames", "5", "--quiet"]) == 0
    rows = list(csv.DictReader(table.open()))
    assert rows and all(r["image"] == "" for r in rows)
    assert all("image" not in json.loads(line) for line in lines.read_text().splitlines())


def test_photos_are_annotated_as_image_files(models_dir, tmp_path, capsys):
    """A photo's --out is an image; a folder's is a folder of annotated photos under their own names."""
    import cv2

    from app.capture import VideoFileSource

    with VideoFileSource(require_data(video("woman_smile_neutral.mp4"))) as src:
        frame = src.read().image
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "smile.jpg"), frame)
    cv2.imwrite(str(photos / "wall.png"), np.full((240, 320, 3), 90, np.uint8))
    (photos / "damaged.jpg").write_bytes(b"not a jpeg")

    single = tmp_path / "out" / "smile_annotated.png"
    assert main(["analyze", str(photos / "smile.jpg"), "--model", "tiny-grey", "--out", str(single), "--quiet"]) == 0
    annotated = cv2.imread(str(single))
    assert annotated.shape == frame.shape and np.abs(annotated.astype(int) - frame).max() > 100  # drawn on
    printed = capsys.readouterr().out
    assert f"annotated photos: {single} (1)" in printed
    assert "1 photo processed, 1 face found (1 photo with a face, 100.0%)" in printed

    folder = tmp_path / "annotated"
    assert main(["analyze", str(photos), "--model", "tiny-grey", "--out", str(folder), "--quiet"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["smile.jpg", "wall.png"]  # the damaged file is skipped
    np.testing.assert_array_equal(cv2.imread(str(folder / "wall.png")), np.full((240, 320, 3), 90, np.uint8))


def test_a_heic_photo_is_analysed_and_annotated_in_its_own_format(models_dir, tmp_path, capsys):
    """An iPhone's photo goes in as HEIC and its annotated copy comes out as HEIC, readable and drawn on."""
    import cv2

    from app.capture import VideoFileSource
    from app.capture.base import read_image
    from app.record.photos import encode_image

    with VideoFileSource(require_data(video("woman_smile_neutral.mp4"))) as src:
        frame = src.read().image
    photo = tmp_path / "IMG_0001.HEIC"
    encode_image(frame, ".heic").tofile(str(photo))
    out, table = tmp_path / "annotated.heic", tmp_path / "r.csv"
    assert main(["analyze", str(photo), "--model", "tiny-grey", "--out", str(out), "--csv", str(table),
                 "--quiet"]) == 0
    assert "1 photo processed, 1 face found" in capsys.readouterr().out
    assert [r["image"] for r in csv.DictReader(table.open())] == ["IMG_0001.HEIC"]
    original, annotated = read_image(photo), read_image(out)
    assert annotated.shape == frame.shape and np.abs(annotated.astype(int) - original).max() > 100  # drawn on
    assert cv2.imdecode(np.fromfile(str(out), np.uint8), cv2.IMREAD_COLOR) is None  # HEIF indeed, not a JPEG


@pytest.mark.parametrize("source, out, message", [
    ("video", "frame.jpg", ".jpg is an image format"),
    ("folder", "all.jpg", "for a folder of photos, --out is a folder"),
    ("photo", "annotated", "use an image file name"),
])
def test_out_that_does_not_fit_the_input_is_refused_before_any_work(source, out, message, models_dir, tmp_path,
                                                                    capsys):
    import cv2

    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.full((240, 320, 3), 90, np.uint8))
    inputs = {"video": require_data(video("woman_phone_night.mp4")), "folder": photos, "photo": photos / "a.png"}
    assert main(["analyze", str(inputs[source]), "--model", "tiny-grey", "--out", str(tmp_path / out),
                 "--quiet"]) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / out).exists()


def test_a_labelled_dataset_folder_keeps_its_class_folders_in_results_and_annotated_photos(models_dir, tmp_path):
    import cv2

    from app.capture import VideoFileSource

    with VideoFileSource(require_data(video("woman_smile_neutral.mp4"))) as src:
        frame = src.read().image
    dataset = tmp_path / "valid"
    for name in ["happy/a.jpg", "neutral/b.jpg"]:
        (dataset / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dataset / name), frame)
    table, out = tmp_path / "r.csv", tmp_path / "annotated"
    assert main(["analyze", str(dataset), "--model", "tiny-grey", "--csv", str(table), "--out", str(out),
                 "--quiet"]) == 0
    assert [r["image"] for r in csv.DictReader(table.open())] == ["happy/a.jpg", "neutral/b.jpg"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == ["happy/a.jpg", "neutral/b.jpg"]
