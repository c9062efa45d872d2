"""``ferlive analyze FOLDER`` on a folder of videos: each video in turn, its own outputs, a bad one skipped."""

import csv
import shutil

import numpy as np
import pytest

from app.analyze_videos import is_video_folder, plan_jobs, videos_beside_photos
from app.cli import main
from app.errors import OutputError
from tests.datapaths import require_data, video
from tests.onnx_factory import make_model

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    d = tmp_path / "models"
    d.mkdir()
    make_model(d / "tiny-grey.onnx", size=48, channels=1)
    monkeypatch.setenv("FERLIVE_MODELS", str(d))
    return d


@pytest.fixture
def sessions(tmp_path):
    """Two real clips (one a subfolder down, as a .mov) and a damaged file that claims to be a video."""
    folder = tmp_path / "sessions"
    (folder / "day2").mkdir(parents=True)
    shutil.copy(require_data(video("woman_phone_night.mp4")), folder / "p01.mp4")
    shutil.copy(require_data(video("woman_smile_neutral.mp4")), folder / "day2" / "p02.mov")
    (folder / "p01b.mp4").write_text("not a video: the recorder crashed")
    return folder


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_each_video_gets_its_own_outputs_and_a_damaged_one_costs_only_itself(models_dir, sessions, tmp_path, capsys):
    out, results = sessions / "annotated", tmp_path / "results"
    summary = tmp_path / "summary.csv"
    argv = ["analyze", str(sessions), "--model", "tiny-grey", "--out", str(out), "--csv", str(results),
            "--summary", str(summary), "--plot", str(tmp_path / "plots"), "--max-frames", "12", "--quiet"]
    assert main(argv) == 2  # one video could not be analysed; the others were
    captured = capsys.readouterr()
    assert "p01b.mp4" in captured.err and "damaged" in captured.err
    assert "2 of 3 videos analysed (24 frames" in captured.out
    for name in ("p01", "day2/p02"):
        assert len({r["frame_index"] for r in rows(results / f"{name}.csv")}) >= 11  # a face in (nearly) every frame
        assert (out / f"{name}.mp4").stat().st_size > 0
    assert not (results / "p01b.csv").exists()
    assert sorted(p.relative_to(tmp_path / "plots").as_posix() for p in (tmp_path / "plots").rglob("*.png")) == [
        "day2/p02.png", "p01.png"]  # a timeline picture per video analysed
    table = {row["input"]: row for row in rows(summary)}
    assert list(table) == ["day2/p02.mov", "p01.mp4", "p01b.mp4"]
    assert "damaged" in table["p01b.mp4"]["error"] and table["p01b.mp4"]["frames"] == ""
    for video_name, name in (("p01.mp4", "p01"), ("day2/p02.mov", "day2/p02")):  # agrees with its own results
        line, faces = table[video_name], rows(results / f"{name}.csv")
        assert line["error"] == "" and int(line["frames"]) == 12 and int(line["faces"]) == len(faces)
        for c in CLASSES:
            shown = sum(f["label"] == c for f in faces) / len(faces)
            assert float(line[f"share_{c}"]) == pytest.approx(shown, abs=1e-4)
            raw = np.mean([float(f[f"raw_{c}"]) for f in faces])
            assert float(line[f"mean_raw_{c}"]) == pytest.approx(raw, abs=2e-4)

    # the same folder again: the annotated videos written inside it are not taken for sessions
    assert main(argv) == 2
    assert "[3/3] p01b.mp4" in capsys.readouterr().out  # still three, not five
    assert [job.name for job in plan_jobs(sessions, out=out)] == ["day2/p02.mov", "p01.mp4", "p01b.mp4"]


@pytest.mark.slow
def test_a_video_in_the_folder_gives_what_it_gives_on_its_own(models_dir, sessions, tmp_path):
    (sessions / "p01b.mp4").unlink()
    assert main(["analyze", str(sessions), "--model", "tiny-grey", "--csv", str(tmp_path / "batch"),
                 "--max-frames", "30", "--quiet"]) == 0
    alone = tmp_path / "alone.csv"
    assert main(["analyze", str(sessions / "day2" / "p02.mov"), "--model", "tiny-grey", "--csv", str(alone),
                 "--max-frames", "30", "--quiet"]) == 0
    # the second video starts afresh (tracking, smoothing), exactly as when it is analysed alone
    assert rows(tmp_path / "batch" / "day2" / "p02.csv") == rows(alone)


def test_a_file_name_for_per_video_outputs_is_refused_before_any_work(models_dir, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"x")
    assert main(["analyze", str(folder), "--csv", str(tmp_path / "results.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--csv" in err and "one .csv per video" in err and "results/" in err
    assert not (tmp_path / "results.csv").exists()
    assert main(["analyze", str(folder), "--summary", str(tmp_path / "summary.txt"), "--quiet"]) == 2
    assert "use a .csv file name" in capsys.readouterr().err and not (tmp_path / "summary.txt").exists()
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(OutputError, match="this is a file"):
        plan_jobs(folder, out=tmp_path / "taken")


def test_videos_that_differ_only_by_suffix_keep_apart(tmp_path):
    for name in ("a.mp4", "a.mov", "b.mkv"):
        (tmp_path / name).write_bytes(b"x")
    jobs = {job.name: job for job in plan_jobs(tmp_path, out=tmp_path / "o", csv=tmp_path / "r", jsonl=tmp_path / "j")}
    assert jobs["a.mp4"].results == [tmp_path / "r" / "a.mp4.csv", tmp_path / "j" / "a.mp4.jsonl"]
    assert jobs["a.mov"].out == tmp_path / "o" / "a.mov.mp4"
    assert jobs["b.mkv"].out == tmp_path / "o" / "b.mp4" and jobs["b.mkv"].results[0] == tmp_path / "r" / "b.csv"


def test_only_a_folder_without_photos_is_a_folder_of_videos(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"x")
    assert is_video_folder(tmp_path)
    assert not is_video_folder(tmp_path / "clip.mp4")
    (tmp_path / "face.jpg").write_bytes(b"x")  # photos: the folder is read as photos, as before
    assert not is_video_folder(tmp_path)
    assert videos_beside_photos(tmp_path) == [tmp_path / "clip.mp4"]  # ... and the video is named in a warning


@pytest.mark.slow
def test_videos_left_out_of_a_folder_of_photos_are_named(models_dir, tmp_path, capsys):
    import cv2

    from app.capture import VideoFileSource

    clip = require_data(video("woman_phone_night.mp4"))
    with VideoFileSource(clip) as src:
        cv2.imwrite(str(tmp_path / "face.jpg"), src.read().image)
    shutil.copy(clip, tmp_path / "take1.mp4")
    assert main(["analyze", str(tmp_path), "--model", "tiny-grey", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "1 photo processed" in captured.out
    assert "1 video file (take1.mp4), which is not" in captured.err
