"""Labels over time on real inputs: the stream benchmark on a handful of dataset faces, the replay it relies on,
and results files that keep the model's raw probabilities beside the stable label."""

import csv

import numpy as np
import pytest

from app.analyze import analyze, load_engine
from app.capture import open_source
from app.pipeline import FacePipeline
from app.smoothing import PRESETS
from tests.datapaths import data_dir, require_data, video
from training.flicker import label_runs, record, replay
from training.stream_eval import NO_FACE, segment_metrics, stream_eval

MODEL = "poster-small"
CLIP = "woman_smile_neutral.mp4"


def test_stream_eval_on_a_handful_of_real_faces():
    archive = require_data(data_dir() / "fer2013.npz")
    result = stream_eval(MODEL, archive, split="publictest", limit=6, presets=[PRESETS["balanced"]], provider="cpu")
    assert result["faces"] == 6
    assert result["stream_detection_coverage"] > 0.5  # the composed frames are faces MediaPipe finds
    assert 0.0 <= result["still_accuracy"] <= 1.0
    assert 0 <= result["faces_never_found"] < 6
    # the like-for-like reference: stills of the faces the stream finds (six faces: each is a sixth)
    found = 6 - result["faces_never_found"]
    assert round(result["still_accuracy_faces_found"] * found, 3) == round(result["still_accuracy_faces_found"] * found)
    assert set(result["presets"]) == {"raw", "old_average_0.6", "balanced"}
    for metrics in result["presets"].values():
        assert 0.0 <= metrics["accuracy_second_half"] <= 1.0
        assert metrics["changes_per_s"] >= metrics["extra_changes_per_s"] >= 0.0
    # the raw argmax never flickers less than the stable label (beyond the one change a new face brings, which the
    # stable label makes a frame later, once the new face is confirmed)
    assert result["presets"]["raw"]["extra_changes_per_s"] >= result["presets"]["balanced"]["extra_changes_per_s"]


def test_replay_shows_what_the_pipeline_shows():
    """The benchmarks replay recorded raw probabilities instead of running MediaPipe once per preset; that must be
    exactly the label the pipeline itself shows with the preset."""
    path = require_data(video(CLIP))
    engine = load_engine(MODEL, "cpu")
    source = open_source(path)
    pipeline = FacePipeline(engine, stability="steady")
    shown_live = []
    try:
        frames = []
        for _ in range(60):
            frame = source.read()
            result = pipeline.process(frame)
            shown_live.append({f.track_id: f.label_index for f in result.faces})
            frames.append(frame)
    finally:
        source.close()
        pipeline.close()
    pipeline = FacePipeline(engine, stability="steady")
    recorded = record(pipeline, frames)
    pipeline.close()
    assert replay(recorded, PRESETS["steady"]) == shown_live
    assert any(shown_live)


def test_segment_metrics_count_changes_and_delay():
    truth = np.array([1, 1, 2])
    shown = np.array([0, 0, 1, 1,  1, 1, 1, 1,  1, 2, 1, 2])  # hold 4 at 4 fps: segment 3 flickers
    m = segment_metrics(shown, truth, hold=4, fps=4.0)
    assert m["accuracy_second_half"] == pytest.approx(5 / 6, abs=1e-4)
    assert m["no_face_second_half"] == 0 and m["accuracy_second_half_with_face"] == pytest.approx(5 / 6, abs=1e-4)
    shown[7] = NO_FACE  # the detector misses the second face's last frame: wrong, but not the model's fault
    m = segment_metrics(shown, truth, hold=4, fps=4.0)
    assert m["accuracy_second_half"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["no_face_second_half"] == pytest.approx(1 / 6, abs=1e-4)
    assert m["accuracy_second_half_with_face"] == pytest.approx(4 / 5, abs=1e-4)
    assert m["changes_per_s"] == pytest.approx(4 / 3, abs=1e-3)  # 1 + 0 + 3 changes in 3 s
    assert m["extra_changes_per_s"] == pytest.approx(2 / 3, abs=1e-3)
    assert m["segments_needing_change"] == 2  # the second face arrived with its label already shown
    assert m["delay_s_median"] == pytest.approx((0.5 + 0.25) / 2)


def test_label_runs_over_tracks():
    from training.flicker import RecordedFrame

    frames = [RecordedFrame(i / 10) for i in range(5)]
    shown = [{1: 0}, {1: 0, 2: 3}, {1: 1, 2: 3}, {2: 3}, {1: 1}]
    changes, seconds, runs = label_runs(frames, shown)
    assert changes == 1
    assert seconds == pytest.approx(0.4)  # 0.1 + 0.2 (track 1, frames 1-2) + 0.1 (track 2, frames 2-3)
    assert sorted(runs) == [1, 1, 2, 3]


def test_csv_keeps_raw_probabilities_beside_the_stable_label(tmp_path):
    path = require_data(video(CLIP))
    out = tmp_path / "results.csv"
    analyze(str(path), model=MODEL, results_paths=[out], provider="cpu", stability="steady", progress=False,
            max_frames=45)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    classes = [c[2:] for c in rows[0] if c.startswith("p_")]
    assert [c for c in rows[0] if c.startswith("raw_")] == [f"raw_{c}" for c in classes]
    raw = np.array([[float(r[f"raw_{c}"]) for c in classes] for r in rows])
    smoothed = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    np.testing.assert_allclose(raw.sum(1), 1, atol=1e-3)
    np.testing.assert_allclose(raw[0], smoothed[0], atol=1e-5)  # a new track starts at its first reading
    assert np.abs(raw[1:] - smoothed[1:]).max() > 1e-3  # then the smoothed ones lag the raw ones
    for row in rows:
        assert row["label"] in classes


def test_flicker_report_counts_the_faces_found_on_a_one_person_clip():
    """The night clip is one person throughout: the live detector finds her on every frame and nothing else."""
    from training.flicker import measure_clip

    path = require_data(video("woman_phone_night.mp4"))
    report = measure_clip(path, load_engine(MODEL, "cpu"), [PRESETS["balanced"]])
    assert report["frames"] > 100
    assert report["frames_with_a_face"] == report["frames"]
    assert report["frames_with_several_faces"] == 0
    assert report["balanced"]["changes_per_s"] <= report["raw"]["changes_per_s"]
    # what a viewer reads off the clip: every face-frame's label counted once, most shown first
    share = report["balanced"]["label_share"]
    assert sum(share.values()) == pytest.approx(1, abs=0.01)
    assert set(share) <= set(load_engine(MODEL, "cpu").card.classes)
    assert list(share.values()) == sorted(share.values(), reverse=True)
    assert "happy" in share  # she smiles at her phone for most of the clip
