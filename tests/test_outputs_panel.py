"""The Outputs panel and the window's live outputs (offscreen Qt, real sockets on 127.0.0.1, real receivers)."""

from __future__ import annotations

import socket

import pytest

from app.publish import OutputConfig, PublisherSet
from app.ui.output_settings import OutputSettings
from app.ui.outputs_panel import OutputsPanel
from app.ui.settings import AppSettings
from tests.datapaths import require_data, video
from tests.publish_receivers import WebSocketReader
from tests.ui_helpers import WAIT_MS, make_window, models_dir  # noqa: F401 (fixtures)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def panel(qtbot):
    widget = OutputsPanel(PublisherSet(), OutputSettings(AppSettings().qs))
    qtbot.addWidget(widget)
    yield widget
    widget.close_all()


def test_switching_websocket_on_shows_clients_and_is_remembered(qtbot, panel):
    port = free_tcp_port()
    panel.ws_port.setValue(port)
    panel.ws_port.editingFinished.emit()
    panel.toggles["websocket"].setChecked(True)
    assert len(panel.hub.publishers) == 1
    assert "no clients" in panel.status_labels["websocket"].text()
    reader = WebSocketReader(f"ws://127.0.0.1:{port}")
    qtbot.waitUntil(lambda: (panel.refresh(), "1 client" in panel.status_labels["websocket"].text())[1], timeout=5000)
    reader.close()
    remembered = OutputSettings(AppSettings().qs)
    assert remembered.enabled("websocket") and remembered.ws_port == port
    panel.toggles["websocket"].setChecked(False)
    assert not panel.hub.publishers and panel.status_labels["websocket"].text() == "off"
    assert not OutputSettings(AppSettings().qs).enabled("websocket")


def test_a_port_in_use_is_one_sentence_and_the_output_stays_off(qtbot, panel):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        panel.ws_port.setValue(taken.getsockname()[1])
        with qtbot.waitSignal(panel.errorOccurred) as signal:
            panel.toggles["websocket"].setChecked(True)
    assert "already in use" in signal.args[0]
    assert not panel.toggles["websocket"].isChecked() and not panel.hub.publishers
    panel.osc_address.setText("localhost:notaport")
    with qtbot.waitSignal(panel.errorOccurred) as signal:
        panel.toggles["osc"].setChecked(True)
    assert "HOST:PORT" in signal.args[0] and not panel.toggles["osc"].isChecked()


def test_command_line_vrchat_preset_starts_osc_on_port_9000(panel):
    panel.apply_config(OutputConfig(osc_preset="vrchat", lsl=True))
    assert panel.toggles["osc"].isChecked() and panel.toggles["lsl"].isChecked()
    assert panel.running["osc"].endpoint() == "udp://127.0.0.1:9000 (VRChat)"
    assert panel.osc_preset.currentData() == "vrchat"
    assert OutputSettings(AppSettings().qs).osc_preset == "vrchat"


@pytest.mark.slow
def test_window_sends_every_shown_result_to_a_websocket_client(qtbot, make_window):  # noqa: F811
    """The stream worker feeds the outputs: a client gets frames with faces while the video plays."""
    src = require_data(video("woman_smile_neutral.mp4"))
    port = free_tcp_port()
    window = make_window(start=False)
    window.outputs.apply_config(OutputConfig(ws_port=port))
    reader = WebSocketReader(f"ws://127.0.0.1:{port}")
    window.start(source=str(src), model="alpha")
    qtbot.waitUntil(lambda: sum(bool(m["faces"]) for m in reader.messages) >= 5, timeout=WAIT_MS)
    assert {m["model"] for m in reader.messages} == {"alpha"}
    assert all(m["schema"] == "ferlive.frame/1" for m in reader.messages)
    reader.close()
