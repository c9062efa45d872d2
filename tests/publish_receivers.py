"""Real receivers on loopback for the live-output tests: a python-osc server, a websockets client, a pylsl inlet."""

from __future__ import annotations

import base64
import functools
import json
import os
import socket
import threading
import time

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from app.analyze import load_engine
from app.capture import VideoFileSource
from app.pipeline import FacePipeline
from app.types import FrameResult
from tests.datapaths import require_data, video

CLIP = "woman_smile_neutral.mp4"
FRAMES = 30
MODEL = "poster-small"


@functools.lru_cache(maxsize=2)
def clip_results(clip: str = CLIP, frames: int = FRAMES, model: str = MODEL) -> tuple[FrameResult, ...]:
    """The first ``frames`` results of a shared clip through the real pipeline (MediaPipe + a shipped model);
    skips the test when the shared data is absent."""
    path = require_data(video(clip))
    pipeline = FacePipeline(load_engine(model))
    results = []
    with VideoFileSource(path) as source:
        for _ in range(frames):
            results.append(pipeline.process(source.read()))
    pipeline.close()
    assert sum(bool(r.faces) for r in results) >= frames // 2, "the clip should show a face in most frames"
    return tuple(results)


def wait(predicate, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


class OscReceiver:
    """A python-osc UDP server on 127.0.0.1 (any free port) that groups what it decodes into frames."""

    def __init__(self) -> None:
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._on_message)
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.messages: list[tuple[str, tuple]] = []
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _on_message(self, address: str, *args) -> None:
        self.messages.append((address, args))

    def frames(self) -> dict[int, dict[str, tuple]]:
        """frame_index -> {address: args} for the generic scheme (each bundle starts with /ferlive/frame)."""
        out: dict[int, dict[str, tuple]] = {}
        current: dict[str, tuple] | None = None
        for address, args in self.messages:
            if address == "/ferlive/frame":
                current = out.setdefault(int(args[0]), {})
            if current is not None:
                current[address] = args
        return out

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.01)
        return predicate(self)

    def __enter__(self) -> OscReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class WebSocketReader:
    """A websockets (sync) client on its own thread collecting the decoded JSON messages."""

    def __init__(self, url: str, delay_s: float = 0.0) -> None:
        self.url = url
        self.messages: list[dict] = []
        self.delay_s = delay_s
        self.connection = None
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._connected.wait(10):
            raise TimeoutError(f"could not connect to {url}")

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        with connect(self.url, compression=None) as connection:
            self.connection = connection
            self._connected.set()
            try:
                for text in connection:
                    self.messages.append(json.loads(text))
                    if self.delay_s:
                        time.sleep(self.delay_s)
            except ConnectionClosed:
                pass

    def close(self) -> None:
        self.connection.close()
        self._thread.join(timeout=5)


def stalled_websocket(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake by hand and then never reads (a tiny receive buffer, no
    background reader), so the server's writes to it back up: the slow client every live output must survive."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connect, so the window stays small
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # byte by byte: nothing after the headers is taken off the socket
    assert b" 101 " in response.split(b"\r\n", 1)[0], response
    return sock
