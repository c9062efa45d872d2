"""Live outputs with real receivers on loopback: OSC (python-osc server), WebSocket (websockets client).

Frames come from the real pipeline (MediaPipe + a shipped ONNX model) on a real clip; ports are ephemeral and
everything binds 127.0.0.1 only.
"""

from __future__ import annotations

import csv
import socket
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest

from app.cli import main
from app.errors import PublishError
from app.publish import OutputConfig, PublisherSet, parse_host_port
from app.publish.osc import OscPublisher
from app.publish.ws import WebSocketPublisher
from app.record import ResultsWriter
from tests.datapaths import require_data, video
from tests.publish_receivers import (
    CLIP,
    FRAMES,
    MODEL,
    OscReceiver,
    WebSocketReader,
    clip_results,
    stalled_websocket,
    wait,
)


@pytest.fixture(scope="module")
def frame_results():
    return clip_results(CLIP, FRAMES, MODEL)


def csv_rows(path) -> dict[tuple[int, int], dict[str, str]]:
    return {(int(r["frame_index"]), int(r["track_id"])): r for r in csv.DictReader(open(path))}


@pytest.mark.slow
def test_osc_receiver_decodes_every_message_of_a_real_clip(tmp_path):
    """``ferlive analyze --osc``: a python-osc server decodes frames whose values match the CSV of the same run."""
    src = require_data(video(CLIP))
    results = tmp_path / "results.csv"
    with OscReceiver() as receiver:
        rc = main(["analyze", str(src), "--model", MODEL, "--csv", str(results), "--max-frames", str(FRAMES),
                   "--quiet", "--osc", f"127.0.0.1:{receiver.port}"])
        assert rc == 0
        assert receiver.wait_for(lambda r: FRAMES - 1 in r.frames()), "the last analysed frame must arrive"
        frames = receiver.frames()
    rows = csv_rows(results)
    width = cv2.VideoCapture(str(src)).get(cv2.CAP_PROP_FRAME_WIDTH)
    assert len(frames) >= FRAMES // 2 and set(frames) <= set(range(FRAMES))
    checked = 0
    for index, messages in frames.items():
        _, timestamp, n_faces = messages["/ferlive/frame"]
        assert n_faces == len([k for k in rows if k[0] == index])
        if n_faces == 0:
            continue
        classes = messages["/ferlive/classes"]
        track_id, label, confidence, face_ts = messages["/ferlive/face/0"]
        row = rows[(index, track_id)]
        assert label == row["label"]
        assert confidence == pytest.approx(float(row["confidence"]), abs=2e-5)
        assert timestamp == face_ts == pytest.approx(float(row["timestamp"]), abs=1e-4)
        probabilities = messages["/ferlive/face/0/probabilities"]
        assert len(probabilities) == len(classes) == 7
        for name, p in zip(classes, probabilities):
            assert p == pytest.approx(float(row[f"p_{name}"]), abs=2e-5)
            assert messages[f"/ferlive/face/0/p_{name}"][0] == p
        assert messages["/ferlive/face/0/talking"][0] == int(row["talking"])
        assert messages["/ferlive/face/0/dim"][0] == int(row["dim"])
        assert messages["/ferlive/face/0/turned"][0] == int(row["turned"])
        assert messages["/ferlive/face/0/calibrated"][0] == int(row["calibrated"])
        assert messages["/ferlive/subject"][0] == track_id  # the one face is the one followed
        nx0, ny0, nx1, ny1 = messages["/ferlive/face/0/box"]
        assert 0 <= nx0 < nx1 <= 1 and 0 <= ny0 < ny1 <= 1
        assert nx0 == pytest.approx(max(0.0, float(row["x0"])) / width, abs=1e-3)
        checked += 1
    assert checked >= FRAMES // 3


def test_vrchat_preset_sends_avatar_parameters(frame_results):
    with OscReceiver() as receiver:
        with OscPublisher("127.0.0.1", receiver.port, preset="vrchat") as publisher:
            result = next(r for r in frame_results if r.faces)
            publisher.offer(result)
            assert publisher.flush()
        # FerFace, FerExpression, FerConfidence, the seven floats, FerTalking, FerDim, FerTurned
        assert receiver.wait_for(lambda r: len(r.messages) >= 13)
    got = {address.rsplit("/", 1)[1]: args[0] for address, args in receiver.messages}
    assert all(address.startswith("/avatar/parameters/Fer") for address, _ in receiver.messages)
    face = max(result.faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    assert got["FerFace"] is True and got["FerTalking"] is face.talking and got["FerDim"] is face.dim
    assert got["FerTurned"] is face.turned
    assert got["FerExpression"] == face.label_index
    assert got["FerHappy"] == pytest.approx(float(face.probabilities[3]), abs=1e-6)
    assert sum(got[f"Fer{n}"] for n in ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")) \
        == pytest.approx(1.0, abs=1e-3)


def test_websocket_client_gets_json_for_every_frame_matching_the_csv(frame_results, tmp_path):
    path = tmp_path / "results.csv"
    # every other frame as a neutral calibration marks it (app.neutral), so the flag is seen both ways
    frame_results = [replace(r, faces=[replace(f, calibrated=i % 2 == 0) for f in r.faces])
                     for i, r in enumerate(frame_results)]
    with WebSocketPublisher(port=0) as publisher, ResultsWriter(path) as writer:
        reader = WebSocketReader(f"ws://127.0.0.1:{publisher.port}")
        assert wait(lambda: publisher.clients() == 1)
        for result in frame_results:
            writer.write(result)
            publisher.offer(result)
            assert publisher.flush(), "each frame should reach the client"
        assert wait(lambda: len(reader.messages) == FRAMES)
        status = publisher.status()
        reader.close()
        assert wait(lambda: publisher.clients() == 0), "a client that leaves is dropped"
    assert status.sent == FRAMES and status.dropped == 0 and status.latency_median_ms is not None
    assert [m["frame_index"] for m in reader.messages] == [r.frame.index for r in frame_results]
    rows = csv_rows(path)
    faces_seen = 0
    for message in reader.messages:
        assert message["schema"] == "ferlive.frame/1"
        largest = max(message["faces"], key=lambda f: (f["x1"] - f["x0"]) * (f["y1"] - f["y0"]), default=None)
        assert message["subject"] == (None if largest is None else largest["track_id"])
        for face in message["faces"]:
            row = rows[(message["frame_index"], face["track_id"])]
            assert message["timestamp"] == float(row["timestamp"]) and message["model"] == row["model"]
            for key in ("x0", "y0", "x1", "y1", "confidence"):
                assert face[key] == float(row[key]), key
            assert face["label"] == row["label"] and face["talking"] == bool(int(row["talking"]))
            assert face["dim"] == bool(int(row["dim"])) and face["turned"] == bool(int(row["turned"]))
            assert face["calibrated"] == bool(int(row["calibrated"]))
            assert face["probabilities"] == {k[2:]: float(v) for k, v in row.items() if k.startswith("p_")}
            assert face["raw_probabilities"] == {k[4:]: float(v) for k, v in row.items() if k.startswith("raw_")}
            assert face["nx0"] == pytest.approx(min(1, max(0, face["x0"] / message["width"])), abs=1e-3)
            faces_seen += 1
    assert faces_seen == len(rows)


def test_slow_websocket_client_gets_the_newest_frame_and_does_not_hold_up_others(frame_results):
    """A client that stops reading has its frames replaced (counted as dropped); a reading client gets them all."""
    last = frame_results[-1]
    with WebSocketPublisher(port=0) as publisher:
        with stalled_websocket(publisher.port):
            fast = WebSocketReader(f"ws://127.0.0.1:{publisher.port}")
            assert wait(lambda: publisher.clients() == 2)
            deadline = time.monotonic() + 30
            i = 0
            while publisher.client_slot_drops == 0 and time.monotonic() < deadline:  # until its buffers are full
                publisher.offer(frame_results[i % (FRAMES - 1)])
                i += 1
                time.sleep(0.0005)
            assert publisher.client_slot_drops > 0, f"the stalled client's older frames are replaced ({i} offered)"
            assert i < 3000, f"a stalled client is sent at most a few frames before they are replaced ({i})"
            publisher.offer(last)
            assert wait(lambda: fast.messages and fast.messages[-1]["frame_index"] == last.frame.index)
            status = publisher.status()
            fast.close()
    assert status.clients == 2 and status.last_error == ""


def test_outputs_with_nobody_listening_keep_sending(frame_results):
    port = free_udp_port()
    with PublisherSet([OscPublisher("127.0.0.1", port).start(), WebSocketPublisher(port=0).start()]) as outputs:
        for result in frame_results[:5]:
            outputs.publish(result)
            assert outputs.flush()
        osc, ws = outputs.statuses()
    assert osc.sent == 5 and osc.clients is None and osc.state in ("sending", "idle")
    assert ws.sent == 0 and ws.clients == 0 and ws.state == "no clients"


def test_port_in_use_and_bad_host_are_one_sentence_errors():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PublishError, match="already in use"):
            WebSocketPublisher(port=port).start()
        rc_config = OutputConfig(ws_port=port)
        with pytest.raises(PublishError):
            PublisherSet.open(rc_config)
    with pytest.raises(PublishError, match="unknown host"):
        OscPublisher("no.such.host.invalid", 9000).start()
    with pytest.raises(PublishError, match="HOST:PORT"):
        parse_host_port("localhost:osc")
    assert parse_host_port("9001") == ("127.0.0.1", 9001)
    assert parse_host_port("[::1]:9001") == ("::1", 9001)


def test_cli_reports_a_port_in_use_and_exits(capsys, tmp_path):
    src = require_data(video(CLIP))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rc = main(["analyze", str(src), "--max-frames", "1", "--quiet", "--ws", str(taken.getsockname()[1])])
    assert rc == 2
    assert "already in use" in capsys.readouterr().err


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_probabilities_are_plain_floats_in_json(frame_results):
    from app.publish.messages import frame_message

    message = frame_message(next(r for r in frame_results if r.faces))
    face = message["faces"][0]
    assert isinstance(face["confidence"], float) and not isinstance(face["confidence"], np.floating)
    assert list(face["probabilities"]) == list(next(r for r in frame_results if r.faces).faces[0].classes)


def test_a_photo_frame_message_names_its_photo_as_the_csv_does():
    from app.publish.messages import frame_message
    from app.types import Frame, FrameResult

    image = np.zeros((48, 64, 3), np.uint8)
    photo = FrameResult(frame=Frame(image=image, index=3, timestamp=3.0, image_name="happy/0001.jpg"))
    assert frame_message(photo)["image"] == "happy/0001.jpg"
    assert "image" not in frame_message(FrameResult(frame=Frame(image=image, index=3, timestamp=0.1)))


def test_a_clicked_face_is_the_subject_of_every_output(frame_results):
    """Two faces, the smaller clicked (``FrameResult.subject``): the WebSocket/JSONL ``subject``, OSC's
    ``/ferlive/subject``, VRChat and LSL all follow it; unclicked, the larger one; clicked and out of view, none."""
    from app.publish.messages import frame_message, primary_face
    from app.publish.osc import generic_messages, vrchat_messages

    result = next(r for r in frame_results if r.faces)
    large = result.faces[0]
    x0, y0, x1, y1 = large.box
    small = replace(large, track_id=large.track_id + 1, box=(x1, y0, x1 + (x1 - x0) / 2, y0 + (y1 - y0) / 2),
                    probabilities=np.roll(large.probabilities, 1), shown_index=None)
    two = replace(result, faces=[large, small])
    for subject, followed in ((None, large), (small.track_id, small), (99, large)):  # 99: a face no longer seen
        picked = replace(two, subject=subject)
        assert frame_message(picked)["subject"] == followed.track_id
        assert primary_face(picked) is followed
        osc = {m.address: m.params for m in generic_messages(picked)}
        assert osc["/ferlive/subject"] == [followed.track_id]
        vrchat = {m.address.rsplit("/", 1)[1]: m.params[0] for m in vrchat_messages(picked)}
        assert vrchat["FerExpression"] == followed.label_index
    away = replace(two, subject=None, subject_away=True)  # a clicked person out of view: nobody is taken for them
    assert frame_message(away)["subject"] is None and primary_face(away) is None
    osc = {m.address: m.params for m in generic_messages(away)}
    assert "/ferlive/subject" not in osc and osc["/ferlive/frame"][2] == 2  # the two faces are still sent
    vrchat = {m.address.rsplit("/", 1)[1]: m.params[0] for m in vrchat_messages(away)}
    assert vrchat == {"FerFace": False}
