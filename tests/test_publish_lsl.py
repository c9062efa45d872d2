"""Lab Streaming Layer output with a real pylsl inlet on this machine: the stream resolves by its source_id, and the
samples' values and timestamps are the largest face's probabilities at the frame's capture time on LSL's clock."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import numpy as np
import pytest

from app.labels import EXPRESSIONS
from app.publish.lsl import CHANNELS, LslPublisher
from app.publish.messages import expression_vector, primary_face
from tests.publish_receivers import clip_results

pylsl = pytest.importorskip("pylsl")
RESOLVE_S = 5.0


@pytest.fixture(scope="module")
def frame_results():
    return clip_results()


def channel_labels(info) -> list[str]:
    labels, channel = [], info.desc().child("channels").child("channel")
    while not channel.empty():
        labels.append(channel.child_value("label"))
        channel = channel.next_sibling()
    return labels


def open_inlet(source_id: str):
    found = pylsl.resolve_byprop("source_id", source_id, 1, RESOLVE_S)
    if not found:
        pytest.fail(f"LSL stream {source_id} not resolved in {RESOLVE_S} s (is multicast on loopback blocked?)")
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(RESOLVE_S)
    return inlet


def test_lsl_inlet_gets_probabilities_stamped_at_capture_time(frame_results):
    source_id = f"ferlive-test-{uuid.uuid4().hex[:8]}"
    with LslPublisher(stream_name="ferlive-test", source_id=source_id) as publisher:
        inlet = open_inlet(source_id)
        markers = open_inlet(f"{source_id}-markers")
        info = inlet.info(RESOLVE_S)
        assert info.type() == "Expression" and info.channel_count() == 12
        assert info.nominal_srate() == pylsl.IRREGULAR_RATE and info.channel_format() == pylsl.cf_float32
        assert channel_labels(info) == list(CHANNELS) == [*EXPRESSIONS, "confidence", "talking", "dim", "turned",
                                                           "calibrated"]
        assert info.desc().child("channels").child("channel").child_value("unit") == "probability"
        assert info.desc().child("channels").last_child().child_value("unit") == "boolean"
        expected = []
        # the clip is well lit and frontal: every fifth frame's faces are marked dim, every third turned, as
        # app.face.lighting and app.face.pose mark them, and every other one calibrated (app.neutral)
        frame_results = [replace(r, faces=[replace(f, dim=i % 5 == 0, turned=i % 3 == 0, calibrated=i % 2 == 0)
                                           for f in r.faces])
                         for i, r in enumerate(frame_results)]
        for result in frame_results:
            offset = pylsl.local_clock() - time.perf_counter()
            publisher.offer(result)
            assert publisher.flush()
            face = primary_face(result)
            if face is not None:
                expected.append(([*expression_vector(face), face.confidence, face.talking, face.dim, face.turned,
                                  face.calibrated],
                                 result.frame.captured_at + offset))
        got = []
        deadline = time.monotonic() + RESOLVE_S
        while len(got) < len(expected) and time.monotonic() < deadline:
            sample, stamp = inlet.pull_sample(timeout=0.2)
            if sample is not None:
                got.append((sample, stamp))
        labels = []
        while True:
            marker, _ = markers.pull_sample(timeout=0.5)
            if marker is None:
                break
            labels.append(marker[0])
        assert publisher.status().clients == 1
    assert len(got) == len(expected)
    for (values, stamp), (want, want_stamp) in zip(got, expected):
        np.testing.assert_allclose(values, np.float32(want), rtol=0, atol=1e-6)
        assert stamp == pytest.approx(want_stamp, abs=1e-3)  # same clock; only the offset's read-out jitter
    assert {values[-3] for values, _ in got} == {0.0, 1.0}  # the clip's woman talks, and not from her first frame
    assert {values[-2] for values, _ in got} == {values[-1] for values, _ in got} == {0.0, 1.0}
    stamps = [s for _, s in got]
    assert stamps == sorted(stamps) and stamps[-1] < pylsl.local_clock()
    shown = [primary_face(r).label if r.faces else "no_face" for r in frame_results]
    while shown and shown[0] == "no_face":  # nothing to mark before the first face
        shown.pop(0)
    assert labels == [label for i, label in enumerate(shown) if i == 0 or label != shown[i - 1]]
