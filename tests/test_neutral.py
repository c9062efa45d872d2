"""Neutral calibration: a person's resting face, read by the real default model on a real clip, is learnt over a
few seconds; afterwards it reads neutral while a smile still reads happy, and what cannot calibrate says why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.analyze import load_engine
from app.capture import open_source
from app.inference.card import ModelCard
from app.neutral import (
    CALIBRATION_S,
    MIN_FRAMES,
    CalibrationError,
    NeutralCollector,
    generic_reference,
    learn_neutral,
)
from app.pipeline import FacePipeline
from tests.datapaths import require_data, video

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SMILE = "woman_smile_neutral.mp4"  # labelled: happy 16-52, neutral 196-324 (talking), happy 326-348
RESTING = (196, 286)  # her first three seconds of neutral: the calibration window
NEUTRAL_LATER, HAPPY = (286, 324), (16, 52)
DEFAULT_CARD = Path(__file__).resolve().parents[1] / "models" / "poster-small.json"


def probs(**shares: float) -> np.ndarray:
    rest = (1.0 - sum(shares.values())) / (len(CLASSES) - len(shares))
    return np.array([shares.get(c, rest) for c in CLASSES], np.float32)


def test_a_resting_face_read_as_fear_reads_neutral_and_a_clear_expression_survives():
    resting = probs(fear=0.4, surprise=0.25, neutral=0.15)
    calibration = learn_neutral(np.tile(resting, (30, 1)), CLASSES)
    assert CLASSES[int(np.argmax(calibration.apply(resting)))] == "neutral"
    assert calibration.describe() == "fear 40%, surprise 25%, neutral 15%"
    for clear in ("happy", "sad", "angry"):
        face = probs(**{clear: 0.8})
        assert CLASSES[int(np.argmax(calibration.apply(face)))] == clear
    batch = calibration.apply(np.stack([resting, probs(happy=0.9)]))
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-6)
    assert batch.dtype == np.float32


def test_a_face_that_already_reads_like_the_reference_is_left_as_it_is():
    ref = generic_reference(CLASSES)
    calibration = learn_neutral(np.tile(ref, (20, 1)), CLASSES)
    np.testing.assert_allclose(calibration.weights, 1.0, atol=1e-5)
    face = probs(surprise=0.5)
    np.testing.assert_allclose(calibration.apply(face), face, atol=1e-6)


@pytest.mark.parametrize("frames, resting, message", [
    (MIN_FRAMES - 1, probs(neutral=0.5), "found on 9 frames"),
    (30, probs(happy=0.7), r"read as happy \(70%\): relax it"),
])
def test_what_cannot_calibrate_says_why(frames, resting, message):
    with pytest.raises(CalibrationError, match=message):
        learn_neutral(np.tile(resting, (frames, 1)), CLASSES)
    with pytest.raises(CalibrationError, match="no neutral class"):
        generic_reference(("a", "b"))


def test_the_collector_counts_seconds_of_video_and_starts_again_after_a_seek():
    collector = NeutralCollector(seconds=1.0)
    face = probs(neutral=0.5)
    assert not any(collector.feed(t / 30, face) for t in range(20))
    assert not collector.feed(0.2, face)  # time ran backwards: a fresh start at 0.2 s
    assert not collector.feed(1.1, None)  # a frame without a face counts time, not a face
    assert collector.feed(1.2, face)
    with pytest.raises(CalibrationError, match="found on 2 frames"):  # the 20 before the seek were dropped
        collector.learn(CLASSES)


def test_the_card_gives_its_measured_reference_in_class_order_or_none():
    card = ModelCard.from_json(DEFAULT_CARD)
    ref = card.neutral_reference
    assert ref is not None and len(ref) == len(card.classes)
    assert card.classes[int(np.argmax(ref))] == "neutral" and sum(ref) == pytest.approx(1.0, abs=0.01)
    data = json.loads(DEFAULT_CARD.read_text())
    data["metrics"]["neutral_reference"] = {"neutral": 1.0}  # not one share per class
    assert ModelCard.from_dict(data).neutral_reference is None


@pytest.fixture(scope="module")
def clip_results():
    """The clip's first 324 frames through the real pipeline (one face), uncalibrated."""
    engine = load_engine("poster-small", "cpu")
    source = open_source(require_data(video(SMILE)))
    pipeline = FacePipeline(engine, max_faces=1)
    try:
        frames = [source.read() for _ in range(NEUTRAL_LATER[1])]
        return engine, frames, [pipeline.process(f) for f in frames]
    finally:
        source.close()
        pipeline.close()


def share(results, span, label) -> float:
    faces = [r.faces[0] for r in results[span[0]:span[1]] if r.faces]
    return sum(f.label == label for f in faces) / (span[1] - span[0])


def test_calibrated_on_her_resting_face_her_later_neutral_reads_neutral_and_her_smile_happy(clip_results):
    engine, frames, uncalibrated = clip_results
    collector = NeutralCollector()
    start = frames[RESTING[0]].timestamp
    for result in uncalibrated[RESTING[0]:]:
        if collector.feed(result.frame.timestamp, result.faces[0].raw_probabilities if result.faces else None):
            break
    assert result.frame.timestamp - start == pytest.approx(CALIBRATION_S, abs=0.05)
    card = engine.card
    calibration = collector.learn(tuple(card.classes), card.neutral_reference, card.name)
    assert calibration.frames >= 85  # her face on (nearly) every frame of the three seconds
    assert calibration.baseline[card.classes.index("neutral")] < 0.3  # she talks: fear and surprise lead
    pipeline = FacePipeline(engine, max_faces=1)
    pipeline.neutral = calibration
    try:
        calibrated = [pipeline.process(f) for f in frames]
    finally:
        pipeline.close()
    before, after = share(uncalibrated, NEUTRAL_LATER, "neutral"), share(calibrated, NEUTRAL_LATER, "neutral")
    assert after >= before + 0.15  # measured: 87% of the frames against 66%
    assert share(calibrated, HAPPY, "happy") >= 0.8  # her smile still reads happy (measured: 89% against 97%)
    face = calibrated[300].faces[0]
    assert face.calibrated and not uncalibrated[300].faces[0].calibrated  # what the CSV's and outputs' flag says
    np.testing.assert_allclose(face.raw_probabilities, uncalibrated[300].faces[0].raw_probabilities, atol=1e-6)


def test_analyze_calibrates_the_whole_video_on_the_seconds_given(tmp_path, capsys):
    """``ferlive analyze --neutral-at``: the p_ columns are calibrated (her talking neutral reads neutral on more
    frames), the raw_ columns stay the model's own, and seconds that cannot calibrate stop with the reason."""
    import csv

    from app.cli import main
    from tests.datapaths import cut_clip

    clip = cut_clip(SMILE, tmp_path / "clip.mp4", NEUTRAL_LATER[1])  # 324 frames: smiles, then her neutral stretch
    quiet = ["--model", "poster-small", "--provider", "cpu", "--quiet"]
    at = f"{RESTING[0] / 29.97:.2f}"
    assert main(["analyze", str(clip), "--csv", str(tmp_path / "plain.csv"), *quiet]) == 0
    assert "neutral calibrated" not in capsys.readouterr().out
    assert main(["analyze", str(clip), "--neutral-at", at, "--csv", str(tmp_path / "calibrated.csv"), *quiet]) == 0
    assert "neutral calibrated: the resting face read as fear" in capsys.readouterr().out
    plain, calibrated = (list(csv.DictReader(open(tmp_path / f"{name}.csv"))) for name in ("plain", "calibrated"))
    assert [r["raw_neutral"] for r in plain] == [r["raw_neutral"] for r in calibrated]
    assert {r["calibrated"] for r in plain} == {"0"} and {r["calibrated"] for r in calibrated} == {"1"}
    later = [int(r["frame_index"]) >= RESTING[0] for r in plain]  # her neutral stretch
    shown = [sum(r["label"] == "neutral" for r, keep in zip(rows, later) if keep) for rows in (plain, calibrated)]
    assert shown[1] >= shown[0] + 15  # of her 128 neutral frames: measured 124 against 99
    assert main(["analyze", str(clip), "--neutral-at", "0.5", *quiet]) == 2  # she smiles there
    assert "the face read as happy" in capsys.readouterr().err
    assert main(["analyze", str(clip), "--neutral-at", "9", *quiet]) == 2
    assert "the video ends before 9 + 3 s" in capsys.readouterr().err


def test_a_calibration_weighs_the_face_it_was_learnt_on_not_a_second_person(clip_results):
    """Two real people side by side (the woman large, the interview's athlete smaller): the calibration weighs only
    the largest face, the one it was learnt on; the other keeps the model's own reading. When the woman leaves for
    longer than a track lives, the athlete, who does not look like her, does not inherit it; when she comes back
    (a new track) it is hers again within a few frames. With the athlete picked as the subject (clicked in the
    app), it weighs the athlete."""
    from app.types import Frame
    from tests.datapaths import side_by_side

    engine, frames, _ = clip_results
    with open_source(require_data(video("interview_50s.mp4"))) as source:
        other = [source.read().image for _ in range(80)]
    calibration = learn_neutral(np.tile(probs(fear=0.4, surprise=0.25, neutral=0.15), (30, 1)), CLASSES)

    def both_at(i: int, woman: bool = True) -> Frame:
        return Frame(side_by_side(frames[RESTING[0] + i].image, other[i], woman), i, i / 30)

    def run(neutral, subject=None):
        pipeline = FacePipeline(engine, max_faces=2)
        pipeline.neutral, pipeline.subject = neutral, subject
        try:
            return ([pipeline.process(both_at(i)) for i in range(20)],
                    [pipeline.process(both_at(i, woman=False)) for i in range(20, 60)],
                    [pipeline.process(both_at(i)) for i in range(60, 80)])
        finally:
            pipeline.close()

    both, alone, back = run(calibration)
    plain, _, _ = run(None)
    assert all(len(r.faces) == 2 for r in both[2:] + back[3:]) and all(len(r.faces) == 1 for r in alone[20:])
    for result, before in zip(both[2:], plain[2:]):
        (woman, athlete), (woman_before, athlete_before) = (sorted(r.faces, key=lambda f: -f.area)
                                                            for r in (result, before))
        assert woman.calibrated and not athlete.calibrated
        assert woman.probabilities[6] > woman_before.probabilities[6]  # weighed towards neutral
        # the athlete's own reading
        np.testing.assert_allclose(athlete.probabilities, athlete_before.probabilities, atol=1e-5)
    athlete = [f for f in both[-1].faces if not f.calibrated][0]
    # she left (her face held a moment, as shown last): the athlete, who does not look like her, is not weighed
    assert not any(f.calibrated for r in alone for f in r.faces if not f.held)
    her = [max(r.faces, key=lambda f: f.area) for r in back[3:]]
    assert her[0].track_id not in (athlete.track_id, both[-1].faces[0].track_id)  # a new track for her
    assert all(f.calibrated for f in her)  # she looks like the face it was learnt on
    assert not any(f.calibrated for r in back for f in r.faces if f.track_id == athlete.track_id)
    picked, _, _ = run(calibration, subject=athlete.track_id)  # the athlete clicked in the app: theirs, then
    assert all(f.calibrated == (f.track_id == athlete.track_id) for r in picked[2:] for f in r.faces)
    assert all(r.subject == athlete.track_id for r in picked)


def test_two_people_each_keep_their_own_calibration(clip_results):
    """The woman calibrated first (the largest face), then the athlete clicked and calibrated: each face is weighed
    by its own person's calibration only, exactly as if it were the only one, and keeps it when the woman steps
    out and back (found again by her look, while the athlete keeps theirs)."""
    from app.types import Frame
    from tests.datapaths import side_by_side

    engine, frames, _ = clip_results
    with open_source(require_data(video("interview_50s.mp4"))) as source:
        other = [source.read().image for _ in range(80)]
    hers = learn_neutral(np.tile(probs(fear=0.4, surprise=0.25, neutral=0.15), (30, 1)), CLASSES)
    theirs = learn_neutral(np.tile(probs(happy=0.45, sad=0.2, neutral=0.15), (30, 1)), CLASSES)

    def both_at(i: int, woman: bool = True) -> Frame:
        return Frame(side_by_side(frames[RESTING[0] + i].image, other[i], woman), i, i / 30)

    def run(first, second=None):
        """``first`` from the start on the largest face; ``second`` from frame 5 with the smaller face clicked."""
        pipeline = FacePipeline(engine, max_faces=2)
        pipeline.neutrals = (first,) if first else ()
        try:
            results = [pipeline.process(both_at(i)) for i in range(5)]
            pipeline.subject = min(results[-1].faces, key=lambda f: f.area).track_id
            if second is not None:
                pipeline.neutrals = (*pipeline.neutrals, second)
            results += [pipeline.process(both_at(i)) for i in range(5, 20)]
            tracks = {id(c): pipeline.calibrated_track(c) for c in pipeline.neutrals}
            results += [pipeline.process(both_at(i, woman=False)) for i in range(20, 60)]
            results += [pipeline.process(both_at(i)) for i in range(60, 80)]
            return results, tracks
        finally:
            pipeline.close()

    both, tracks = run(hers, theirs)
    alone_hers, _ = run(hers)
    alone_theirs, _ = run(None, theirs)
    woman, athlete = sorted(both[19].faces, key=lambda f: -f.area)
    assert tracks == {id(hers): woman.track_id, id(theirs): athlete.track_id}
    for i in [*range(7, 20), *range(65, 80)]:  # both in view (she is back as a new track from frame 60)
        (w, a), (w_hers, a_hers), (w_theirs, a_theirs) = (sorted(r[i].faces, key=lambda f: -f.area)
                                                          for r in (both, alone_hers, alone_theirs))
        assert w.calibrated and a.calibrated
        np.testing.assert_allclose(w.probabilities, w_hers.probabilities, atol=1e-5)
        np.testing.assert_allclose(a.probabilities, a_theirs.probabilities, atol=1e-5)
        assert not a_hers.calibrated and not w_theirs.calibrated
    assert all(f.calibrated for r in both[20:60] for f in r.faces if f.track_id == athlete.track_id)
