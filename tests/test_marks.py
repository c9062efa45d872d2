"""Event marks (M in the app): each reaches the recording (its own CSV, lines on the timeline picture, a tag on the
video) and every live output with the frame it was set on, and an output that drops results loses no mark.

The outputs are real (python-osc server, websockets client, pylsl inlet on loopback) and the frames come from the
real pipeline on a shared clip; the app is driven with its keys on a real video.
"""

from __future__ import annotations

import csv
import os
import threading
import time
import uuid
from dataclasses import replace

import cv2
import numpy as np
import pytest

from app.publish.base import Publisher
from app.publish.osc import OscPublisher
from app.publish.ws import WebSocketPublisher
from app.render import render
from app.timeline import TimelineLog
from app.types import FaceResult, Frame, FrameResult
from tests.publish_receivers import OscReceiver, WebSocketReader, clip_results, wait

pytest_plugins = ["tests.ui_helpers"]  # the models_dir and make_window fixtures
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def bare_result(index: int, marks: tuple[str, ...] = ()) -> FrameResult:
    return FrameResult(frame=Frame(np.zeros((8, 8, 3), np.uint8), index, index / 30), marks=marks)


class GatedPublisher(Publisher):
    """A real ``Publisher`` whose sends wait for a gate, so results can be made to pile up in its mailbox."""

    name = "gated"

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.sending = threading.Event(), threading.Event()
        self.sent: list[tuple] = []

    def _send(self, result: FrameResult) -> None:
        self.sending.set()
        self.gate.wait(5)
        self.sent.append(("frame", result.frame.index))

    def _send_marks(self, marks) -> None:
        self.sent.extend(("mark", m.text, m.frame_index) for m in marks)


def test_a_result_replaced_in_an_outputs_mailbox_loses_no_mark():
    """Newest wins for frames, never for marks: both marks of replaced results leave, in order, before the frame
    that replaced them, each with the frame it was set on."""
    with GatedPublisher() as publisher:
        publisher.offer(bare_result(0))
        assert publisher.sending.wait(5)  # frame 0 is being sent: the next ones wait in the mailbox
        for result in (bare_result(1, ("mark 1",)), bare_result(2), bare_result(3, ("mark 2",))):
            publisher.offer(result)
        publisher.gate.set()
        assert publisher.flush()
        assert publisher.sent == [("frame", 0), ("mark", "mark 1", 1), ("mark", "mark 2", 3), ("frame", 3)]
        assert publisher.status().dropped == 2


@pytest.fixture(scope="module")
def marked():
    """A real frame with a face, marked, and the frame after it."""
    results = clip_results()
    i = next(i for i, r in enumerate(results) if r.faces and results[i + 1].faces)
    return replace(results[i], marks=("mark 1",)), results[i + 1]


def test_osc_sends_a_mark_before_its_frame(marked):
    with OscReceiver() as receiver:
        with OscPublisher("127.0.0.1", receiver.port) as publisher:
            for result in marked:
                publisher.offer(result)
                assert publisher.flush()
        assert receiver.wait_for(lambda r: sum(a == "/ferlive/frame" for a, _ in r.messages) == 2)
    addresses = [address for address, _ in receiver.messages]
    assert addresses.count("/ferlive/mark") == 1
    text, index, timestamp = dict(receiver.messages)["/ferlive/mark"]
    frame = marked[0].frame
    assert (text, index) == ("mark 1", frame.index) and timestamp == pytest.approx(frame.timestamp, abs=1e-4)
    assert addresses.index("/ferlive/mark") < addresses.index("/ferlive/frame")


def test_vrchat_has_no_place_for_marks_and_sends_its_parameters_as_before(marked):
    with OscReceiver() as receiver:
        with OscPublisher("127.0.0.1", receiver.port, preset="vrchat") as publisher:
            publisher.offer(marked[0])
            assert publisher.flush()
        assert receiver.wait_for(lambda r: len(r.messages) >= 13)
    assert all(address.startswith("/avatar/parameters/Fer") for address, _ in receiver.messages)


def test_websocket_clients_get_a_mark_message_before_the_frame(marked):
    with WebSocketPublisher(port=0) as publisher:
        reader = WebSocketReader(f"ws://127.0.0.1:{publisher.port}")
        assert wait(lambda: publisher.clients() == 1)
        for result in marked:
            publisher.offer(result)
            assert publisher.flush()
        assert wait(lambda: len(reader.messages) == 3)
        reader.close()
    frame = marked[0].frame
    mark, first, second = reader.messages
    assert mark == {"schema": "ferlive.mark/1", "mark": "mark 1", "timestamp": round(frame.timestamp, 4),
                    "frame_index": frame.index}
    assert first["schema"] == "ferlive.frame/1" and first["frame_index"] == frame.index
    assert second["frame_index"] == marked[1].frame.index


def test_lsl_marker_stream_gets_the_mark_stamped_at_its_frames_capture(marked):
    pylsl = pytest.importorskip("pylsl")
    from app.publish.lsl import LslPublisher
    from tests.test_publish_lsl import open_inlet

    source_id = f"ferlive-test-{uuid.uuid4().hex[:8]}"
    with LslPublisher(stream_name="ferlive-test", source_id=source_id) as publisher:
        markers = open_inlet(f"{source_id}-markers")
        offset = pylsl.local_clock() - time.perf_counter()
        for result in marked:
            publisher.offer(result)
            assert publisher.flush()
        got = []
        while (sample := markers.pull_sample(timeout=1.0))[0] is not None:
            got.append(sample)
    texts = [values[0] for values, _ in got]
    assert texts[0] == "mark 1" and "mark 1" not in texts[1:]  # before the label the frame brings
    assert got[0][1] == pytest.approx(marked[0].frame.captured_at + offset, abs=1e-3)


def test_a_mark_is_a_tag_at_the_top_left_of_the_drawn_frame():
    frame = np.full((336, 596, 3), 128, np.uint8)
    plain, tagged = render(frame, []), render(frame, [], caption="mark 1")
    changed = np.argwhere((plain != tagged).any(axis=2))
    assert len(changed) > 200
    assert changed[:, 0].max() < 40 and changed[:, 1].max() < 120  # rows, columns: the top left corner only


def test_the_timeline_picture_draws_each_mark_where_it_was_set(tmp_path):
    """Marks at 1 s and 2 s of a 3 s recording that started at clock time 10 s: two lines, a third and two thirds
    of the way along (a recording's picture counts from its first frame: so must the marks)."""
    from app.ui.timeline_plot import save_timeline

    def log(marks: bool) -> TimelineLog:
        timeline = TimelineLog()
        for i in range(91):
            t = 10.0 + i / 30
            face = FaceResult(track_id=1, box=(0, 0, 50, 50), landmarks=np.zeros((478, 3), np.float32),
                              probabilities=np.eye(7, dtype=np.float32)[3], classes=CLASSES)
            timeline.add(t, [face], marks=(f"mark {i // 30}",) if marks and i in (30, 60) else ())
        return timeline

    marked_log = log(True)
    assert marked_log.marks == [(11.0, "mark 1"), (12.0, "mark 2")]
    pictures = [cv2.imread(str(save_timeline(tmp_path / f"{m}.png", log(m), from_start=True))) for m in (False, True)]
    columns = np.flatnonzero((pictures[0] != pictures[1]).any(axis=2).sum(axis=0) > 100)  # long vertical lines
    assert len(columns)
    groups = np.split(columns, np.flatnonzero(np.diff(columns) > 5) + 1)
    assert len(groups) == 2
    first, second = (float(np.median(g)) for g in groups)
    left = first - (second - first)  # where 0 s is, if the lines are at 1 s and 2 s
    right = second + (second - first)  # and 3 s
    assert 0 < left < first < second < right <= pictures[1].shape[1]


def test_a_recording_keeps_the_marks_set_during_it(qtbot, make_window):
    """R, then M twice, then Stop: <name>-marks.csv has both marks on frames of the recording, the timeline picture
    is saved, the status bar says where the last one landed, the live chart shows both, and the banner names the
    marks file."""
    from PySide6.QtCore import Qt

    from tests.datapaths import require_data, video
    from tests.ui_helpers import WAIT_MS, wait_for_faces

    window = make_window(str(require_data(video("woman_smile_neutral.mp4"))))
    wait_for_faces(qtbot, window)
    assert window.record_controls.mark_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_R)
    for n in (1, 2):
        qtbot.wait(300)
        with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS) as blocker:
            qtbot.keyClick(window, Qt.Key.Key_M)
        assert blocker.args[0] == f"mark {n}"
    qtbot.waitUntil(lambda: window.status.currentMessage().startswith("mark 2 at 0:"))
    assert window.panel.mark_count() == 2  # dashed lines on the live chart
    qtbot.wait(300)
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as blocker:
        window.record_controls.record_button.click()
    summary = blocker.args[0]
    assert summary.marks == summary.results.with_name(f"{summary.name}-marks.csv") and summary.mark_count == 2
    with open(summary.marks, newline="") as f:
        marks = list(csv.DictReader(f))
    with open(summary.results, newline="") as f:
        rows = list(csv.DictReader(f))
    indices = [int(r["frame_index"]) for r in rows]
    for mark in marks:  # seconds into the recording's video: from its first frame (the woman is on every one)
        assert float(mark["seconds"]) == pytest.approx(float(mark["timestamp"]) - float(rows[0]["timestamp"]),
                                                       abs=2e-3)
    assert [m["mark"] for m in marks] == ["mark 1", "mark 2"]
    assert min(indices) < int(marks[0]["frame_index"]) < int(marks[1]["frame_index"]) < max(indices)
    assert [text for _, text in summary.timeline.marks] == ["mark 1", "mark 2"]
    assert [t for t, _ in summary.timeline.marks] == pytest.approx([float(m["timestamp"]) for m in marks], abs=1e-4)
    qtbot.waitUntil(lambda: summary.marks.name in window.banner.text, timeout=WAIT_MS)
    assert summary.picture.exists()


def test_with_nothing_playing_a_mark_is_refused_with_the_reason(qtbot, make_window):
    from PySide6.QtCore import Qt

    from app.ui.marks import NOTHING_TO_MARK
    from tests.ui_helpers import WAIT_MS

    window = make_window()
    qtbot.waitUntil(lambda: window.models.active_model == "alpha", timeout=WAIT_MS)
    assert not window.record_controls.mark_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert NOTHING_TO_MARK in window.banner.texts() and window.marks.count == 0


def test_a_mark_set_while_paused_goes_on_the_frame_on_screen_and_into_the_recording(qtbot, make_window):
    """Paused (reviewing a moment), M marks the frame shown: the outputs get that frame again with the mark, the
    recording gets the mark (its frame was written when first shown) and nothing else, and playing on adds none."""
    from PySide6.QtCore import Qt

    from tests.datapaths import require_data, video
    from tests.ui_helpers import WAIT_MS, wait_for_faces

    window = make_window(str(require_data(video("woman_smile_neutral.mp4"))))
    wait_for_faces(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R)
    qtbot.wait(300)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.paused
    qtbot.wait(300)  # a frame under way as the pause came is finished and shown
    shown = window.last_frame.result.frame
    frames = window.recorder.active.frames
    with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_M)
    assert blocker.args[0] == "mark 1" and blocker.args[2] == shown.index
    qtbot.wait(300)
    assert window.recorder.active.frames == frames  # the paused frame is not written again
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as saved:
        window.record_controls.record_button.click()
    summary = saved.args[0]
    with open(summary.marks, newline="") as f:
        (row,) = csv.DictReader(f)
    assert int(row["frame_index"]) == shown.index and float(row["timestamp"]) == pytest.approx(shown.timestamp,
                                                                                               abs=1e-4)
    assert summary.timeline.marks == [(pytest.approx(shown.timestamp), "mark 1")]


def test_a_websocket_client_can_send_a_mark_and_nothing_else_it_sends_counts():
    taken = []
    with WebSocketPublisher(port=0) as publisher:
        publisher.on_mark = taken.append
        reader = WebSocketReader(f"ws://127.0.0.1:{publisher.port}")
        assert wait(lambda: publisher.clients() == 1)
        for message in ("hello", "{}", '{"mark": 5}', '["mark"]', '{"mark": "   "}', b'{"mark": "bytes"}',
                        '{"mark": "  stimulus\\n 3 "}', '{"mark": "' + "x" * 500 + '"}',
                        '{"schema": "ferlive.mark/1", "mark": "echoed", "timestamp": 1.0, "frame_index": 30}'):
            reader.connection.send(message)
        assert wait(lambda: len(taken) == 2)
        time.sleep(0.2)
        assert publisher.clients() == 1  # still connected
        reader.close()
    assert taken == ["stimulus 3", "x" * 120]


def test_the_program_the_demo_runs_in_can_mark_an_event_over_the_websocket(qtbot, make_window):
    """A WebSocket client sends {"mark": "stimulus 3"}: the app sets it on its next frame, says so, draws it on the
    chart, and every client gets it back as a ferlive.mark/1 message with the frame it landed on."""
    from tests.datapaths import require_data, video
    from tests.ui_helpers import WAIT_MS, wait_for_faces

    window = make_window(str(require_data(video("woman_smile_neutral.mp4"))))
    wait_for_faces(qtbot, window)
    publisher = WebSocketPublisher(port=0).start()
    window.outputs.hub.add(publisher)
    reader = WebSocketReader(f"ws://127.0.0.1:{publisher.port}")
    with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS) as blocker:
        reader.connection.send('{"mark": "stimulus 3"}')
    text, _, frame_index, _ = blocker.args
    assert text == "stimulus 3" and window.marks.count == 0  # the operator's own numbering is untouched
    qtbot.waitUntil(lambda: window.status.currentMessage().startswith("stimulus 3 at 0:"))
    assert window.panel.mark_count() == 1
    qtbot.waitUntil(lambda: any(m.get("schema") == "ferlive.mark/1" for m in reader.messages), timeout=WAIT_MS)
    echo = next(m for m in reader.messages if m.get("schema") == "ferlive.mark/1")
    assert echo["mark"] == "stimulus 3" and echo["frame_index"] == frame_index
    reader.close()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux) to simulate a full disk")
def test_a_full_disk_is_one_sentence_naming_the_marks_file():
    from app.errors import OutputError
    from app.record import MarksWriter
    from app.types import marks_of

    writer = MarksWriter("/dev/full")
    with pytest.raises(OutputError, match=r"Writing the marks to /dev/full failed: No space left on device\."):
        writer.write(marks_of(bare_result(3, ("mark 1",))))
    writer.close()
    assert writer.written is None


def test_marks_are_kept_row_by_row_as_they_come(tmp_path):
    """Each mark is on disk once written (a crash loses none set before it); no mark, no file."""
    from app.record import MarksWriter
    from app.types import marks_of

    path = tmp_path / "rec-marks.csv"
    writer = MarksWriter(path)
    writer.write([])
    assert not path.exists() and writer.written is None
    writer.write(marks_of(bare_result(30, ("mark 1",))))
    writer.write(marks_of(bare_result(60, ("mark 2", "stimulus, 3"))), start=0.5)
    assert list(csv.DictReader(open(path))) == [
        {"timestamp": "1.0000", "frame_index": "30", "seconds": "1.000", "mark": "mark 1"},
        {"timestamp": "2.0000", "frame_index": "60", "seconds": "1.500", "mark": "mark 2"},
        {"timestamp": "2.0000", "frame_index": "60", "seconds": "1.500", "mark": "stimulus, 3"}]
    writer.close()
    assert writer.written == path and writer.count == 3


def test_a_mark_can_be_named_and_typing_its_name_marks_nothing(qtbot, make_window):
    """Typed under the button, a name is the next marks' text (Enter there sets one at once); an M typed into the
    name is a letter, not a mark; with the name cleared, marks are numbered again."""
    from PySide6.QtCore import Qt

    from tests.datapaths import require_data, video
    from tests.ui_helpers import WAIT_MS, wait_for_faces

    window = make_window(str(require_data(video("woman_smile_neutral.mp4"))))
    wait_for_faces(qtbot, window)
    name = window.record_controls.mark_text
    texts = []
    window.worker.marked.connect(lambda text, *_: texts.append(text))
    name.setFocus()
    qtbot.keyClicks(name, "stimulus Am")
    qtbot.wait(300)
    assert name.text() == "stimulus Am" and texts == [] and window.marks.count == 0
    qtbot.keyClick(name, Qt.Key.Key_Backspace)
    with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS):
        qtbot.keyClick(name, Qt.Key.Key_Return)
    with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS):
        window.record_controls.mark_button.click()
    name.clear()
    with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS):
        window.record_controls.mark_button.click()
    assert texts == ["stimulus A", "stimulus A", "mark 1"]


def test_analyze_draws_a_recordings_marks_on_the_timeline_of_its_video(tmp_path, capsys):
    """`ferlive analyze clean.mp4 --plot t.png --marks rec-marks.csv`: the recording's marks are lines at their
    seconds into the video; without --plot, on a folder of videos, or with a file that is no marks file: one
    sentence and exit status 2, before any work."""
    from app.cli import main
    from app.record import MarksWriter
    from app.types import marks_of
    from tests.datapaths import cut_clip

    clip = cut_clip("woman_smile_neutral.mp4", tmp_path / "clip.mp4", 60)
    marks = tmp_path / "rec-marks.csv"
    writer = MarksWriter(marks)
    writer.write(marks_of(bare_result(40, ("stimulus A",))), start=0.5)  # 0.833 s into the video
    writer.close()
    pictures = []
    for extra in ([], ["--marks", str(marks)]):
        pictures.append(tmp_path / f"t{len(extra)}.png")
        assert main(["analyze", str(clip), "--model", "poster-small", "--quiet", "--plot", str(pictures[-1]),
                     *extra]) == 0
    plain, marked = (cv2.imread(str(p)) for p in pictures)
    columns = np.flatnonzero((plain != marked).any(axis=2).sum(axis=0) > 100)
    assert len(columns) and columns.max() - columns.min() < 12  # one line
    assert 0.35 < columns.mean() / plain.shape[1] < 0.65  # 0.83 s of a 2 s clip, in the plot's middle part
    capsys.readouterr()
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(clip.read_bytes())
    not_marks = tmp_path / "results.csv"
    not_marks.write_text("timestamp,frame_index,label\n0.0,0,happy\n")
    for argv, says in (([str(clip), "--marks", str(marks)], "give it with --plot and one video"),
                       ([str(clip), "--plot", str(tmp_path / "p.png"), "--marks", str(not_marks)],
                        "is not a marks file"),
                       ([str(videos), "--plot", str(tmp_path / "plots"), "--marks", str(marks)],
                        "with one video, not a folder"),
                       ([str(clip), "--osc-in", "9100"], "ferlive analyze has nobody to mark for")):
        assert main(["analyze", *argv, "--model", "poster-small", "--quiet"]) == 2
        assert says in capsys.readouterr().err


def test_osc_in_takes_a_mark_and_counts_what_else_comes():
    """/ferlive/mark with one string or number is a mark (one tidy line); anything else is counted as ignored. A
    port in use is one sentence."""
    from pythonosc.udp_client import SimpleUDPClient

    from app.errors import PublishError
    from app.publish.osc_in import OscMarkListener
    from app.ui.outputs_panel import status_text

    taken = []
    with OscMarkListener(port=0) as listener:
        listener.on_mark = taken.append
        client = SimpleUDPClient("127.0.0.1", listener.port)
        for address, value in (("/ferlive/mark", "  stimulus\n B "), ("/ferlive/mark", 7), ("/ferlive/mark", []),
                               ("/ferlive/mark", ["a", "b"]), ("/ferlive/mark", True), ("/avatar/x", 1.0)):
            client.send_message(address, value)
        assert wait(lambda: listener.received + listener.ignored == 6)
        status = listener.status()
        in_use = rf"cannot listen on 127.0.0.1:{listener.port}: the port is already in use"
        with pytest.raises(PublishError, match=in_use):
            OscMarkListener(port=listener.port).start()
    assert taken == ["stimulus B", "7"]
    assert status_text(status) == "listening · 2 marks taken · 4 other messages ignored"


def test_the_program_the_demo_runs_in_can_mark_an_event_over_osc(qtbot, make_window):
    """Outputs > OSC in, on a port: an OSC /ferlive/mark from another program is set on the app's next frame, as M."""
    import socket

    from pythonosc.udp_client import SimpleUDPClient

    from tests.datapaths import require_data, video
    from tests.ui_helpers import WAIT_MS, wait_for_faces

    window = make_window(str(require_data(video("woman_smile_neutral.mp4"))))
    wait_for_faces(qtbot, window)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    panel = window.outputs
    panel.osc_in_port.setValue(port)
    panel.osc_in_port.editingFinished.emit()  # as when the person leaves the box
    panel.toggles["osc_in"].setChecked(True)
    assert "osc_in" in panel.running and panel.settings.enabled("osc_in") and panel.settings.osc_in_port == port
    with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS) as blocker:
        SimpleUDPClient("127.0.0.1", port).send_message("/ferlive/mark", "stimulus B")
    assert blocker.args[0] == "stimulus B"
    qtbot.waitUntil(lambda: "listening · 1 mark taken" in panel.status_labels["osc_in"].text(), timeout=WAIT_MS)
    panel.osc_address.setText(f"127.0.0.1:{port}")  # the OSC output sent there, each mark would go round for ever
    panel.toggles["osc"].setChecked(True)
    assert "osc" not in panel.running and any("every mark would come back" in t for t in window.banner.texts())


def test_the_command_line_cannot_loop_the_osc_output_into_osc_in():
    from app.errors import PublishError
    from app.publish import OutputConfig, PublisherSet

    with pytest.raises(PublishError, match="every mark would come back in"):
        PublisherSet.open(OutputConfig(osc="localhost:9100", osc_in=9100))
    with PublisherSet.open(OutputConfig(osc="127.0.0.1:9101", osc_in=0)) as outputs:
        assert [p.name for p in outputs.publishers] == ["osc", "osc-in"]


def test_a_recording_that_got_no_frame_leaves_no_marks_file_either(qtbot, make_window, tmp_path):
    """Paused before Record: the recording gets no frame, so nothing is kept, the mark set meanwhile included."""
    from PySide6.QtCore import Qt

    from tests.datapaths import require_data, video
    from tests.ui_helpers import WAIT_MS, wait_for_faces

    window = make_window(str(require_data(video("woman_smile_neutral.mp4"))))
    wait_for_faces(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.wait(300)
    qtbot.keyClick(window, Qt.Key.Key_R)
    with qtbot.waitSignal(window.worker.marked, timeout=WAIT_MS):
        qtbot.keyClick(window, Qt.Key.Key_M)
    with qtbot.waitSignal(window.recorder.saved, timeout=WAIT_MS) as saved:
        window.record_controls.record_button.click()
    summary = saved.args[0]
    assert summary.empty and summary.marks is None
    assert not list((tmp_path / "out").glob("*-marks.csv"))
