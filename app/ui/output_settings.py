"""The live outputs' remembered choices (``outputs/...`` keys in the app's QSettings), through AppSettings' typed
reads, so a restart brings back the outputs that were on, with their addresses."""

from __future__ import annotations

from app.publish import OutputConfig
from app.publish.osc import VRCHAT_DEFAULT
from app.publish.osc_in import DEFAULT_PORT as OSC_IN_PORT
from app.publish.ws import DEFAULT_HOST, DEFAULT_PORT
from app.ui.settings import AppSettings

DEFAULT_OSC = f"{VRCHAT_DEFAULT[0]}:{VRCHAT_DEFAULT[1]}"


class OutputSettings(AppSettings):
    """Same QSettings store as the window's ``AppSettings``; pass its ``qs``."""

    def enabled(self, name: str) -> bool:
        """``name`` is "osc", "websocket", "lsl" or "osc_in" (the marks input)."""
        return self._get(f"outputs/{name}_enabled", False, bool)

    def set_enabled(self, name: str, on: bool) -> None:
        self._set(f"outputs/{name}_enabled", bool(on))

    @property
    def osc_address(self) -> str:
        return self._get("outputs/osc_address", DEFAULT_OSC, str)

    @osc_address.setter
    def osc_address(self, value: str) -> None:
        self._set("outputs/osc_address", value)

    @property
    def osc_preset(self) -> str:
        preset = self._get("outputs/osc_preset", "generic", str)
        return preset if preset in ("generic", "vrchat") else "generic"

    @osc_preset.setter
    def osc_preset(self, value: str) -> None:
        self._set("outputs/osc_preset", value)

    @property
    def ws_port(self) -> int:
        return self._port("outputs/ws_port", DEFAULT_PORT)

    @ws_port.setter
    def ws_port(self, value: int) -> None:
        self._set("outputs/ws_port", int(value))

    @property
    def ws_host(self) -> str:
        return self._get("outputs/ws_host", DEFAULT_HOST, str)

    @ws_host.setter
    def ws_host(self, value: str) -> None:
        self._set("outputs/ws_host", value)

    @property
    def osc_in_port(self) -> int:
        return self._port("outputs/osc_in_port", OSC_IN_PORT)

    @osc_in_port.setter
    def osc_in_port(self, value: int) -> None:
        self._set("outputs/osc_in_port", int(value))

    def _port(self, key: str, default: int) -> int:
        """A remembered port, kept to 1-65535 whatever the settings file holds."""
        return min(65535, max(1, self._get(key, default, int)))

    def remember(self, config: OutputConfig) -> None:
        """Store what the command line asked for, as if chosen in the panel (like --provider and --stability)."""
        if config.osc or config.osc_preset:
            self.set_enabled("osc", True)
            self.osc_preset = config.osc_preset or "generic"
            self.osc_address = config.osc or DEFAULT_OSC
        if config.ws_port is not None:
            self.set_enabled("websocket", True)
            self.ws_port, self.ws_host = config.ws_port or DEFAULT_PORT, config.ws_host
        if config.lsl:
            self.set_enabled("lsl", True)
        if config.osc_in is not None:
            self.set_enabled("osc_in", True)
            self.osc_in_port = config.osc_in or OSC_IN_PORT
