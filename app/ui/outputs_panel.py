"""The Outputs section: OSC, WebSocket and LSL each switched on or off, with its address and a live status line
(sending, clients connected, messages per second, latency, last error); and OSC in, the port that takes event marks
from the program the demo runs in (``app.publish.osc_in``).

The panel only starts and stops publishers and shows their status; the stream worker offers every result to the
shared ``PublisherSet``. A port in use, a bad host or a missing library becomes one sentence for the banner, the
output stays off, and the app carries on.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QGroupBox, QLabel, QLineEdit, QSpinBox, QWidget

from app.errors import PublishError
from app.publish import OutputConfig, Publisher, PublisherSet, PublisherStatus, parse_host_port
from app.publish.lsl import LslPublisher
from app.publish.osc import OscPublisher
from app.publish.osc_in import OscMarkListener, check_no_loop
from app.publish.ws import WebSocketPublisher
from app.ui.output_settings import DEFAULT_OSC, OutputSettings

NAMES = ("osc", "websocket", "lsl", "osc_in")
REFRESH_MS = 500


def status_text(status: PublisherStatus) -> str:
    """The short line under an output, e.g. ``sending · 2 clients · 29.9 msg/s · 1.4 ms`` (the marks input:
    ``listening · 3 marks taken``)."""
    if status.state == "listening":
        ignored = f" · {status.dropped} other messages ignored" if status.dropped else ""
        return f"listening · {status.sent} mark{'' if status.sent == 1 else 's'} taken{ignored}"
    parts = [status.state]
    if status.clients is not None:
        parts.append(f"{status.clients} client{'' if status.clients == 1 else 's'}")
    parts.append(f"{status.rate:.1f} msg/s")
    if status.latency_median_ms is not None:
        parts.append(f"{status.latency_median_ms:.1f} ms")
    if status.state == "error" and status.last_error:
        parts.append(status.last_error)
    return " · ".join(parts)


class OutputsPanel(QGroupBox):
    errorOccurred = Signal(str)  # noqa: N815 - one sentence for the banner

    def __init__(self, hub: PublisherSet, settings: OutputSettings, parent: QWidget | None = None) -> None:
        super().__init__("Outputs", parent)
        self.hub, self.settings = hub, settings
        self.running: dict[str, Publisher] = {}
        self.toggles = {"osc": QCheckBox("OSC"), "websocket": QCheckBox("WebSocket"), "lsl": QCheckBox("LSL"),
                        "osc_in": QCheckBox("OSC in")}
        self.status_labels = {name: QLabel("off") for name in NAMES}
        self.osc_address = QLineEdit()
        self.osc_address.setPlaceholderText("host:port")
        self.osc_preset = QComboBox()
        self.osc_preset.addItem("generic /ferlive", "generic")
        self.osc_preset.addItem("VRChat avatar", "vrchat")
        self.ws_host = QLineEdit()
        self.ws_host.setToolTip("127.0.0.1 keeps it on this computer; 0.0.0.0 opens it to the network")
        self.ws_port = QSpinBox()
        self.ws_port.setRange(1, 65535)
        self.osc_in_port = QSpinBox()
        self.osc_in_port.setRange(1, 65535)
        self.osc_in_port.setPrefix("marks on port ")
        self.toggles["osc"].setToolTip("Open Sound Control over UDP: numbers only, never images (docs/outputs.md)")
        self.toggles["websocket"].setToolTip("One JSON message per analysed frame to every connected client")
        self.toggles["lsl"].setToolTip("Lab Streaming Layer: type Expression (7 probabilities + confidence) + Markers")
        self.toggles["osc_in"].setToolTip('Take event marks from the program the demo runs in: /ferlive/mark "text" '
                                          "sent over OSC to this computer's port (as M sets one)")
        self._layout()
        self._load()
        for name, box in self.toggles.items():
            box.toggled.connect(lambda on, name=name: self._on_toggled(name, on))
        self.osc_address.editingFinished.connect(lambda: self._on_edited("osc"))
        self.osc_preset.activated.connect(lambda _: self._on_preset())
        self.ws_host.editingFinished.connect(lambda: self._on_edited("websocket"))
        self.ws_port.editingFinished.connect(lambda: self._on_edited("websocket"))
        self.osc_in_port.editingFinished.connect(lambda: self._on_edited("osc_in"))
        self._timer = QTimer(self, interval=REFRESH_MS, timeout=self.refresh)
        self._timer.start()

    def _layout(self) -> None:
        grid = QGridLayout(self)
        grid.addWidget(self.toggles["osc"], 0, 0)
        grid.addWidget(self.osc_address, 0, 1)
        grid.addWidget(self.osc_preset, 0, 2)
        grid.addWidget(self.status_labels["osc"], 1, 0, 1, 3)
        grid.addWidget(self.toggles["websocket"], 2, 0)
        grid.addWidget(self.ws_host, 2, 1)
        grid.addWidget(self.ws_port, 2, 2)
        grid.addWidget(self.status_labels["websocket"], 3, 0, 1, 3)
        grid.addWidget(self.toggles["lsl"], 4, 0)
        grid.addWidget(self.status_labels["lsl"], 5, 0, 1, 3)
        grid.addWidget(self.toggles["osc_in"], 6, 0)
        grid.addWidget(self.osc_in_port, 6, 1, 1, 2)
        grid.addWidget(self.status_labels["osc_in"], 7, 0, 1, 3)
        for label in self.status_labels.values():
            label.setWordWrap(True)

    def _load(self) -> None:
        s = self.settings
        self.osc_address.setText(s.osc_address)
        self.osc_preset.setCurrentIndex(max(0, self.osc_preset.findData(s.osc_preset)))
        self.ws_host.setText(s.ws_host)
        self.ws_port.setValue(s.ws_port)
        self.osc_in_port.setValue(s.osc_in_port)

    # ---- starting and stopping ------------------------------------------------------------------------------
    def restore(self) -> None:
        """Start the outputs that were on last time (called once the window is up)."""
        for name in NAMES:
            if self.settings.enabled(name):
                self.set_output(name, True)

    def apply_config(self, config: OutputConfig) -> None:
        """The command line's outputs: remembered like a choice here, shown, and started."""
        if not config.any:
            return
        self.settings.remember(config)
        self._load()
        for name in NAMES:
            if self.settings.enabled(name) and name not in self.running:
                self.set_output(name, True)

    def set_output(self, name: str, on: bool) -> bool:
        """Start or stop one output; True when it ended in the asked-for state."""
        self._stop(name)
        if on:
            try:
                publisher = self._build(name)
                self._check_no_loop(publisher)
                publisher.start()
            except PublishError as exc:
                self._show_off(name, str(exc))
                self.errorOccurred.emit(str(exc))
                return False
            self.running[name] = publisher
            self.hub.add(publisher)
        self._set_checked(name, on)
        self.refresh()
        return True

    def _build(self, name: str) -> Publisher:
        if name == "osc":
            preset = self.osc_preset.currentData()
            host, port = parse_host_port(self.osc_address.text() or DEFAULT_OSC)
            return OscPublisher(host, port, preset=preset)
        if name == "websocket":
            return WebSocketPublisher(self.ws_port.value(), self.ws_host.text().strip() or "127.0.0.1")
        if name == "osc_in":
            return OscMarkListener(self.osc_in_port.value())
        return LslPublisher()

    def _check_no_loop(self, publisher: Publisher) -> None:
        """The OSC output and OSC in on one port of this computer would pass every mark round for ever."""
        others = [publisher, *self.running.values()]
        osc = next((p for p in others if isinstance(p, OscPublisher)), None)
        listener = next((p for p in others if isinstance(p, OscMarkListener)), None)
        if osc is not None and listener is not None:
            check_no_loop(osc.host, osc.port, listener.port)

    def _stop(self, name: str) -> None:
        publisher = self.running.pop(name, None)
        if publisher is not None:
            self.hub.remove(publisher)
        self.status_labels[name].setText("off")

    def close_all(self) -> None:
        """Stop every output (window closing)."""
        self._timer.stop()
        for name in list(self.running):
            self._stop(name)

    # ---- reactions ------------------------------------------------------------------------------------------
    def _on_toggled(self, name: str, on: bool) -> None:
        self.settings.set_enabled(name, on)  # the person's choice, kept even if starting fails this time
        self.set_output(name, on)

    def _on_edited(self, name: str) -> None:
        if name == "osc":
            self.settings.osc_address = self.osc_address.text().strip()
        elif name == "osc_in":
            self.settings.osc_in_port = self.osc_in_port.value()
        else:
            self.settings.ws_host, self.settings.ws_port = self.ws_host.text().strip(), self.ws_port.value()
        if name in self.running:
            self.set_output(name, True)  # restart on the new address

    def _on_preset(self) -> None:
        self.settings.osc_preset = self.osc_preset.currentData()
        if self.osc_preset.currentData() == "vrchat" and not self.osc_address.text().strip():
            self.osc_address.setText(DEFAULT_OSC)
        if "osc" in self.running:
            self.set_output("osc", True)

    def _set_checked(self, name: str, on: bool) -> None:
        box = self.toggles[name]
        box.blockSignals(True)
        box.setChecked(on)
        box.blockSignals(False)

    def _show_off(self, name: str, message: str) -> None:
        self._set_checked(name, False)
        self.status_labels[name].setText(f"off · {message}")

    def refresh(self) -> None:
        """Status lines from the running publishers (timer; cheap: a few counters each)."""
        for name, publisher in self.running.items():
            status = publisher.status()
            label = self.status_labels[name]
            label.setText(f"{status.endpoint}: {status_text(status)}")
            label.setToolTip(status.describe())
            label.setStyleSheet("color:#e66;" if status.state == "error" else "")
