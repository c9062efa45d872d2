"""OSC in: event marks from the program the demo runs in, ``/ferlive/mark "stimulus 3"`` over UDP (python-osc).

A VR scene, a game engine or a show-control tool that speaks OSC tells the app when something happens, and the
mark goes where the operator's M goes (``app.ui.marks``): the recording and every output. It sits beside the outputs
(started, shown and closed as they are, and given their ``on_mark``) but takes no frames. Binds 127.0.0.1 unless
another host is asked for; anything but ``/ferlive/mark`` with one string or number is ignored and counted.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import deque

from app.errors import PublishError
from app.publish.base import RATE_WINDOW_S, Publisher, PublisherStatus, mark_text
from app.types import FrameResult

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9100  # clear of VRChat's 9000 (what it listens on) and 9001 (what it sends to)
MARK_ADDRESS = "/ferlive/mark"


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")


def check_no_loop(osc_host: str, osc_port: int, in_port: int) -> None:
    """``PublishError`` when the OSC output would send to the OSC input's own port: each mark sent out would come
    back in as a new mark, without end."""
    if osc_port == in_port and osc_host.strip("[]").lower() in LOCAL_HOSTS:
        raise PublishError(f"OSC in cannot listen on port {in_port} while the OSC output sends to {osc_host}:"
                           f"{osc_port}: every mark would come back in and go out again. Use another port.")


class OscMarkListener(Publisher):
    name = "osc-in"

    def __init__(self, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> None:
        super().__init__()
        self.host, self.port = host, int(port)
        self._server = None
        self._serving: threading.Thread | None = None
        self.received = 0  # marks taken
        self.ignored = 0  # other messages, or a mark with nothing to call it
        self._times: deque[float] = deque(maxlen=256)

    def endpoint(self) -> str:
        return f"udp://{self.host}:{self.port}"

    def offer(self, result: FrameResult) -> None:
        """An input takes no frames."""

    def _open(self) -> None:
        try:
            from pythonosc.dispatcher import Dispatcher
            from pythonosc.osc_server import BlockingOSCUDPServer
        except ImportError:
            raise PublishError("The OSC input needs the python-osc package: pip install python-osc.") from None
        dispatcher = Dispatcher()
        dispatcher.map(MARK_ADDRESS, self._on_mark)
        dispatcher.set_default_handler(self._on_other)
        try:
            self._server = BlockingOSCUDPServer((self.host, self.port), dispatcher)
        except OverflowError:
            raise PublishError(f"The OSC input cannot listen on port {self.port}: use 1 to 65535.") from None
        except OSError as exc:
            where = f"The OSC input cannot listen on {self.host}:{self.port}"
            if exc.errno == errno.EADDRINUSE:
                raise PublishError(f"{where}: the port is already in use (pick another).") from None
            raise PublishError(f"{where}: {exc.strerror or exc}.") from None
        self.port = self._server.server_address[1]  # the real one when 0 asked for any free port
        self._serving = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                         name="publish:osc-in", daemon=True)
        self._serving.start()

    def _on_mark(self, address: str, *args: object) -> None:
        value = args[0] if len(args) == 1 and isinstance(args[0], (str, int, float)) else None
        text = mark_text(str(value)) if value is not None and not isinstance(value, bool) else ""
        on_mark = self.on_mark
        if not text or on_mark is None:
            self.ignored += 1
            return
        try:
            on_mark(text)
        except Exception as exc:  # the app's problem must not stop the listening
            self.mark_error(f"taking a mark failed: {exc}")
            return
        self.received += 1
        self._times.append(time.perf_counter())

    def _on_other(self, address: str, *args: object) -> None:
        self.ignored += 1

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def status(self) -> PublisherStatus:
        """``listening``, with the marks taken as ``sent`` and the messages ignored as ``dropped``."""
        base = super().status()
        now = time.perf_counter()
        recent = sum(1 for t in self._times if now - t <= RATE_WINDOW_S)
        state = base.state if base.state in ("off", "closed", "error") else "listening"
        return PublisherStatus(self.name, self.endpoint(), state, self.received, self.ignored, recent / RATE_WINDOW_S,
                               None, base.last_error, None, None, None, None, None)
