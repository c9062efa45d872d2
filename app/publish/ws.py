"""WebSocket server (``websockets``, asyncio loop on its own thread): one ``ferlive.frame/1`` JSON text message per
analysed frame to every connected client, and the operator's event marks (``ferlive.mark/1``).

Each client has its own one-slot mailbox and sender task, so a slow client gets the newest frame when it is ready
(older ones are dropped and counted) and never delays the others or the frame loop. A client may send an event mark
(``{"mark": "stimulus 3"}``, the app sets it on its next frame); anything else it sends is read and thrown away
(reading keeps pings and close handshakes working). Binds 127.0.0.1 unless another host is asked for.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import threading

from app.errors import PublishError
from app.publish.base import Publisher, mark_text
from app.publish.messages import frame_message, mark_message
from app.types import FrameResult, Mark

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
CLOSE_TIMEOUT_S = 1.0  # a client that does not answer the close handshake is cut off after this
MAX_INCOMING_BYTES = 4096  # clients have nothing to say; a bigger message closes their connection
# A live stream must not queue stale frames for a slow client: a few frames in the library's buffer and the kernel's
# send buffer per connection, then the one-slot mailbox replaces older frames with the newest.
WRITE_LIMIT_BYTES = 16 * 1024
SEND_BUFFER_BYTES = 32 * 1024


class _Client:
    """One connection's slot: the newest message not yet sent, and whether a send is in progress."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.slot: tuple[str, float, float] | None = None  # text, captured_at, offered_at
        self.marks: list[str] = []  # event mark messages, each sent (never replaced) before the next frame
        self.fresh = asyncio.Event()
        self.sending = False


def describe_bind_error(exc: OSError, host: str, port: int) -> str:
    where = f"The WebSocket output cannot listen on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is already in use (pick another with --ws PORT)."
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: this machine has no such address."
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need administrator rights)."
    return f"{where}: {exc.strerror or exc}."


class WebSocketPublisher(Publisher):
    name = "websocket"

    def __init__(self, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> None:
        super().__init__()
        self.host, self.port = host, int(port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._server = None
        self._clients: frozenset[_Client] = frozenset()  # replaced, never mutated: other threads read it
        self._queued = 0  # messages handed to the loop and not yet put in the clients' slots
        self._queued_lock = threading.Lock()
        self.client_slot_drops = 0  # frames replaced in a client's slot before that client could take them

    def endpoint(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def clients(self) -> int | None:
        return len(self._clients)

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            from websockets.asyncio.server import serve
        except ImportError:
            raise PublishError("The WebSocket output needs the websockets package (13 or newer): "
                               "pip install websockets.") from None
        if not 0 <= self.port <= 65535:
            raise PublishError(f"The WebSocket output cannot listen on port {self.port}: use 1 to 65535.")
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="publish:websocket-loop", daemon=True)
        self._loop_thread.start()

        async def start_server():
            return await serve(self._handle, self.host, self.port, compression=None, max_size=MAX_INCOMING_BYTES,
                               close_timeout=CLOSE_TIMEOUT_S, write_limit=WRITE_LIMIT_BYTES)

        try:
            self._server = asyncio.run_coroutine_threadsafe(start_server(), self._loop).result(timeout=10)
        except OSError as exc:
            self._stop_loop()
            if isinstance(exc, socket.gaierror):
                raise PublishError(f"The WebSocket output cannot listen on {self.host!r}: unknown host.") from None
            raise PublishError(describe_bind_error(exc, self.host, self.port)) from None
        self.port = self._server.sockets[0].getsockname()[1]  # the real one when 0 asked for any free port

    def _shutdown(self) -> None:
        if self._loop is None:
            return
        if self._server is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._stop_server(), self._loop).result(timeout=CLOSE_TIMEOUT_S + 3)
            except TimeoutError:
                pass
        self._stop_loop()

    async def _stop_server(self) -> None:
        """Close handshakes for clients that read; a stalled client's connection is cut after CLOSE_TIMEOUT_S."""
        self._server.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_S + 1)
        except TimeoutError:
            for client in self._clients:
                client.connection.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stop_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=5)
        loop.close()

    # ---- publisher thread -----------------------------------------------------------------------------------
    def _send(self, result: FrameResult) -> None:
        """Serialise once here (not on the loop), then let the loop put it in every client's slot."""
        if not self._clients:
            return
        text = json.dumps(frame_message(result), separators=(",", ":"))
        with self._queued_lock:
            self._queued += 1
        self._loop.call_soon_threadsafe(self._fan_out, text, result.frame.captured_at, self.offered_at)

    def _send_marks(self, marks: list[Mark]) -> None:
        """One ``ferlive.mark/1`` message per mark to every client, ahead of the frame it came with."""
        if not self._clients:
            return
        texts = [json.dumps(mark_message(mark), separators=(",", ":")) for mark in marks]
        with self._queued_lock:
            self._queued += 1
        self._loop.call_soon_threadsafe(self._fan_out_marks, texts)

    def _pending(self) -> bool:
        return self._queued > 0 or any(c.slot is not None or c.marks or c.sending for c in self._clients)

    # ---- event loop thread ----------------------------------------------------------------------------------
    def _fan_out(self, text: str, captured_at: float, offered_at: float) -> None:
        with self._queued_lock:
            self._queued -= 1
        for client in self._clients:
            if client.slot is not None:  # this client has not taken the previous frame yet: newest wins
                self.client_slot_drops += 1
                self.mark_dropped()
            client.slot = (text, captured_at, offered_at)
            client.fresh.set()

    def _fan_out_marks(self, texts: list[str]) -> None:
        with self._queued_lock:
            self._queued -= 1
        for client in self._clients:
            client.marks.extend(texts)
            client.fresh.set()

    async def _handle(self, connection) -> None:
        from websockets.exceptions import ConnectionClosed

        sock = connection.transport.get_extra_info("socket")
        if sock is not None:  # a fixed size also turns off the kernel's growth of the buffer (megabytes on loopback)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        client = _Client(connection)
        self._clients = self._clients | {client}
        sender = asyncio.create_task(self._send_to(client))
        try:
            async for message in connection:  # a mark ({"mark": "..."}) is taken; anything else is ignored
                self._take_mark(message)
        except ConnectionClosed:
            pass
        finally:
            self._clients = self._clients - {client}
            sender.cancel()

    def _take_mark(self, message: str | bytes) -> None:
        """``{"mark": "stimulus 3"}`` from a client: an event mark set in the app (``on_mark``), as M sets one."""
        on_mark = self.on_mark
        if on_mark is None or not isinstance(message, str):
            return
        try:
            data = json.loads(message)
        except ValueError:
            return
        # a message of the app's own sent back (an echoing client) has a schema: taken, it would go round for ever
        text = mark_text(data.get("mark")) if isinstance(data, dict) and "schema" not in data else ""
        if not text:
            return
        try:
            on_mark(text)
        except Exception:  # the app's problem must not close this client's connection
            log.exception("Taking a mark from a WebSocket client failed")

    async def _send_to(self, client: _Client) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            await client.fresh.wait()
            client.fresh.clear()
            while client.marks:  # marks first: the frame after them must not overtake them
                client.sending = True
                try:
                    await client.connection.send(client.marks[0])
                except ConnectionClosed:
                    return
                finally:
                    client.sending = False
                client.marks.pop(0)
            if client.slot is None:
                continue
            (text, captured_at, offered_at), client.slot = client.slot, None
            client.sending = True
            try:
                await client.connection.send(text)
            except ConnectionClosed:
                return
            finally:
                client.sending = False
            self.mark_sent(captured_at, offered_at)
