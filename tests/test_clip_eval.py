"""The labelled-clip benchmark lines its hand labels up with the frames the pipeline saw, and scores what is shown."""

import numpy as np
import pytest

from app.analyze import load_engine
from app.capture import open_source
from app.pipeline import FacePipeline
from app.smoothing import PRESETS
from tests.datapaths import require_data, video
from training.clip_eval import LABELS_FILE, evaluate_clip, frame_truth, load_labels, score

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_frame_truth_marks_only_the_labelled_stretches():
    truth = frame_truth([(2, 4, "happy"), (6, 20, "neutral")], 8, CLASSES)
    assert truth.tolist() == [-1, -1, 3, 3, -1, -1, 6, 6]  # the second segment is cut at the clip's end


@pytest.mark.parametrize("segment", [(0, 4, "contempt"), (5, 5, "happy"), (-1, 3, "happy")])
def test_frame_truth_refuses_bad_segments(segment):
    with pytest.raises(ValueError):
        frame_truth([segment], 10, CLASSES)


def test_score_counts_a_missing_face_as_wrong():
    truth = np.array([-1, 3, 3, 3, 6, 6])
    shown = np.array([5, 3, -1, 3, 5, 6])
    s = score(shown, truth, CLASSES)
    assert s["frames"] == 5
    assert s["accuracy"] == pytest.approx(3 / 5)
    assert s["recall"] == pytest.approx({"happy": 2 / 3, "neutral": 1 / 2}, abs=1e-4)
    assert s["shown"] == {"happy": 0.4, "surprise": 0.2, "neutral": 0.2}


def test_score_needs_a_labelled_frame():
    with pytest.raises(ValueError, match="no labelled frame"):
        score(np.array([1, 2]), np.array([-1, -1]), CLASSES)


def test_every_shipped_label_file_entry_is_a_class_and_a_shared_clip():
    labels = load_labels(LABELS_FILE)
    assert labels, "clip_labels.json lists no clip"
    for name, segments in labels.items():
        frame_truth(segments, 10_000, CLASSES)  # raises on a label the models do not have
        assert all(b > a for a, b, _ in segments)
        starts = sorted(segments)
        assert all(prev[1] <= nxt[0] for prev, nxt in zip(starts, starts[1:])), f"{name}: segments overlap"


def test_raw_accuracy_is_the_share_of_frames_whose_own_argmax_is_the_label():
    """An independent pass over the real clip, frame by frame, gives the same raw score as the benchmark."""
    path = require_data(video("woman_phone_night.mp4"))
    engine = load_engine("poster-small", "cpu")
    segments = [(10, 60, "happy"), (60, 90, "sad")]
    report = evaluate_clip(path, engine, segments, [PRESETS["balanced"]])

    source = open_source(path)
    pipeline = FacePipeline(engine, max_faces=1)
    argmax = []
    try:
        while (frame := source.read()) is not None:
            faces = pipeline.process(frame).faces
            argmax.append(int(np.argmax(faces[0].raw_probabilities)) if faces else -1)
    finally:
        source.close()
        pipeline.close()
    argmax = np.array(argmax)
    expected = (np.sum(argmax[10:60] == 3) + np.sum(argmax[60:90] == 4)) / 80
    assert report["raw"]["frames"] == 80
    assert report["raw"]["accuracy"] == pytest.approx(expected, abs=1e-4)
    assert set(report) == {"raw", "balanced"}
    assert 0.0 <= report["balanced"]["accuracy"] <= 1.0
