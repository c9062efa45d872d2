"""A paused video's step back shows a frame as it was played: the pipeline's carried state can be copied and put
back (real clip, real model), and the history of shown frames keeps to one run through the video under one set of
settings."""

from __future__ import annotations

import numpy as np
import pytest

from app.analyze import load_engine
from app.capture.video import VideoFileSource
from app.pipeline import FacePipeline
from app.types import Frame, FrameResult
from app.ui.shown_frames import Same, ShownFrames
from tests.datapaths import require_data, video

SMILE = "woman_smile_neutral.mp4"


def result_at(index: int) -> FrameResult:
    return FrameResult(Frame(np.zeros((4, 4, 3), np.uint8), index, index / 30), [], {"face_mesh": 1.0}, "m")


def test_history_recalls_a_frame_by_its_place_under_the_same_settings_only():
    shown = ShownFrames(limit=5)
    engine = object()
    context = (Same(engine), "balanced")
    for i in range(8):
        shown.remember(i / 30, context, result_at(i), {"i": i})
    assert len(shown) == 5  # the oldest dropped
    kept = shown.recall(6 / 30 + 0.004, context, tolerance=0.01)
    assert kept is not None and kept.state == {"i": 6} and kept.model_name == "m"
    frame = Frame(np.ones((4, 4, 3), np.uint8), 6, 0.2)
    assert kept.result_for(frame).frame is frame and kept.result_for(frame).timings_ms == {"face_mesh": 1.0}
    assert shown.recall(1 / 30, context, tolerance=0.01) is None  # dropped
    assert shown.recall(9 / 30, context, tolerance=0.01) is None  # never shown
    assert shown.recall(6 / 30, (Same(object()), "balanced"), tolerance=0.01) is None  # another engine
    assert shown.recall(6 / 30, (Same(engine), "steady"), tolerance=0.01) is None  # another stability
    shown.remember(3 / 30, context, result_at(3), {"i": 3})  # a frame at or before the last: a new run
    assert len(shown) == 1 and shown.recall(6 / 30, context, tolerance=0.01) is None
    shown.remember(4 / 30, (Same(engine), "steady"), result_at(4), {"i": 4})  # other settings: a new run
    assert len(shown) == 1 and shown.recall(3 / 30, (Same(engine), "steady"), tolerance=0.01) is None


def test_same_compares_by_identity_and_keeps_the_object():
    a, b = [1], [1]
    assert Same(a) == Same(a) and Same(a) != Same(b) and hash(Same(a)) == id(a)


def test_a_restored_pipeline_goes_on_as_it_did_from_that_frame():
    """Snapshot after frame 40 of the woman's clip, play on to 70; restore and play 41-70 again: the same track,
    and smoothed probabilities as before (the face mesh finds the face afresh, so its landmarks differ a little),
    where a reset pipeline starts its smoothing from scratch."""
    path = require_data(video(SMILE))
    with VideoFileSource(path) as source:
        frames = [source.read() for _ in range(71)]
    pipeline = FacePipeline(load_engine("poster-small"))
    try:
        for frame in frames[:41]:
            pipeline.process(frame)
        state = pipeline.snapshot()
        first = [pipeline.process(f) for f in frames[41:]]
        pipeline.restore(state)
        again = [pipeline.process(f) for f in frames[41:]]
        pipeline.restore(state)  # a snapshot can be put back more than once
        third = pipeline.process(frames[41])
        pipeline.reset()
        fresh = [pipeline.process(f) for f in frames[41:]]
    finally:
        pipeline.close()
    assert all(r.faces for r in first + again + fresh)
    assert [r.faces[0].track_id for r in again] == [r.faces[0].track_id for r in first]
    np.testing.assert_allclose(third.faces[0].probabilities, again[0].faces[0].probabilities, atol=1e-6)

    def gap(run: list[FrameResult]) -> float:
        return max(float(np.abs(a.faces[0].probabilities - b.faces[0].probabilities).max())
                   for a, b in zip(run[:5], first[:5]))

    print(f"largest difference over 5 frames: restored {gap(again):.4f}, reset {gap(fresh):.4f}")
    assert gap(again) < 0.02
    assert gap(fresh) > 2 * gap(again)
    assert [r.faces[0].label for r in again] == [r.faces[0].label for r in first]


@pytest.mark.parametrize("limit", [0, 1])
def test_a_tiny_history_keeps_at_most_its_limit(limit):
    shown = ShownFrames(limit=limit)
    for i in range(3):
        shown.remember(i / 30, (), result_at(i), {})
    assert len(shown) == limit
