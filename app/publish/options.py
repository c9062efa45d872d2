"""The outputs a person asked for, from the command line (``--osc``, ``--osc-preset``, ``--ws``, ``--ws-host``,
``--lsl``, and the marks input ``--osc-in``; the same flags for ``ferlive`` and ``ferlive analyze``) or from the
app's Outputs panel."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from app.errors import PublishError


@dataclass(frozen=True)
class OutputConfig:
    """The outputs switched on."""

    osc: str | None = None  # "HOST:PORT" (or "PORT"); None with the vrchat preset means 127.0.0.1:9000
    osc_preset: str | None = None  # "generic" (default) or "vrchat"
    ws_port: int | None = None
    ws_host: str = "127.0.0.1"
    lsl: bool = False
    osc_in: int | None = None  # the UDP port to take event marks on (app.publish.osc_in)

    @property
    def any(self) -> bool:
        return bool(self.osc or self.osc_preset or self.ws_port is not None or self.lsl or self.osc_in is not None)


def parse_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"HOST:PORT"``, ``"PORT"`` or ``"[::1]:PORT"`` -> (host, port); a malformed one is a ``PublishError``."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = default_host, text.strip()
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise PublishError(f"Cannot read the address {text!r}: write it as HOST:PORT, e.g. 127.0.0.1:9000.") from None
    if not 1 <= port <= 65535:
        raise PublishError(f"The port in {text!r} must be between 1 and 65535.")
    return host, port


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The live-output flags, shared by the app and ``ferlive analyze`` (see docs/outputs.md)."""
    group = parser.add_argument_group("live outputs (docs/outputs.md)")
    group.add_argument("--osc", metavar="HOST:PORT", default=None,
                       help="send OSC over UDP to HOST:PORT (with --osc-preset vrchat: default 127.0.0.1:9000)")
    group.add_argument("--osc-preset", choices=["generic", "vrchat"], default=None,
                       help="generic: /ferlive/... bundles (default); vrchat: /avatar/parameters/Fer* values")
    group.add_argument("--ws", metavar="PORT", type=int, default=None,
                       help="serve one JSON message per frame on ws://127.0.0.1:PORT (0 = any free port)")
    group.add_argument("--ws-host", metavar="HOST", default="127.0.0.1",
                       help="interface for --ws (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    group.add_argument("--lsl", action="store_true",
                       help="publish a Lab Streaming Layer stream (type Expression) and label markers")
    group.add_argument("--osc-in", metavar="PORT", type=int, default=None,
                       help="the app takes event marks (/ferlive/mark \"text\") sent over OSC to udp://127.0.0.1:PORT")


def config_from_args(args: argparse.Namespace) -> OutputConfig:
    return OutputConfig(osc=getattr(args, "osc", None), osc_preset=getattr(args, "osc_preset", None),
                        ws_port=getattr(args, "ws", None), ws_host=getattr(args, "ws_host", "127.0.0.1"),
                        lsl=bool(getattr(args, "lsl", False)), osc_in=getattr(args, "osc_in", None))
