"""One live output is one ``Publisher``: a one-slot mailbox, its own thread, and a status anyone may read.

The frame loop only calls ``offer(result)``, which overwrites the slot and returns at once; the publisher's thread
takes the newest result and sends it. A slow, dead or absent receiver therefore costs dropped results (counted) and
a status line, never time in the frame loop. Subclasses open their socket in ``_open`` (on the caller's thread, so
a port in use is a ``PublishError`` the caller sees) and send one result in ``_send``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.capture.mailbox import LatestFrameMailbox
from app.types import FrameResult, Mark, marks_of

log = logging.getLogger(__name__)

LATENCY_SAMPLES = 2000  # capture -> sent latencies kept for the status and the benchmark
RATE_WINDOW_S = 2.0
MAX_MARK_CHARS = 120  # a mark sent by a receiver is cut to this (one line, spaces collapsed)
MAX_PENDING_MARKS = 256  # marks wait for the next result sent; a stalled output keeps the newest this many
CLOSE_FLUSH_S = 0.5  # on close, the last results get this long to leave (a stalled client must not hang exit)


@dataclass(frozen=True)
class PublisherStatus:
    """What the Outputs panel, the CLI summary and the benchmark show for one output."""

    name: str
    endpoint: str
    state: str  # "off", "sending", "idle", "no clients", "error", "closed"
    sent: int  # frame messages written to a socket (WebSocket: per client)
    dropped: int  # results replaced by a newer one before they were sent
    rate: float  # messages per second over the last two seconds
    clients: int | None  # connected receivers where the protocol knows them (UDP does not: None)
    last_error: str
    latency_median_ms: float | None  # frame capture -> message handed to the socket (includes the analysis)
    latency_p95_ms: float | None
    output_median_ms: float | None  # result offered -> message handed to the socket (the output's own delay)
    output_p95_ms: float | None
    cpu_ms_per_message: float | None  # CPU time of the publisher thread per result it handled

    def describe(self) -> str:
        """One line, e.g. ``websocket ws://127.0.0.1:8765: sending, 2 clients, 29.8 msg/s, 1.2 ms (p95 2.0)``."""
        parts = [self.state]
        if self.clients is not None:
            parts.append(f"{self.clients} client{'' if self.clients == 1 else 's'}")
        parts.append(f"{self.rate:.1f} msg/s, {self.sent} sent, {self.dropped} dropped")
        if self.latency_median_ms is not None:
            parts.append(f"capture -> sent {self.latency_median_ms:.1f} ms (p95 {self.latency_p95_ms:.1f}), "
                         f"offered -> sent {self.output_median_ms:.2f} ms (p95 {self.output_p95_ms:.2f})")
        if self.last_error:
            parts.append(f"last error: {self.last_error}")
        return f"{self.name} {self.endpoint}: " + ", ".join(parts)


class Publisher:
    """Base of every output: mailbox + thread + counters. Call ``start()`` once, ``offer()`` per frame, ``close()``."""

    name = "output"

    def __init__(self) -> None:
        self._mailbox: LatestFrameMailbox[tuple[FrameResult, float]] = LatestFrameMailbox()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._handled = 0  # results taken from the mailbox and finished (sent or failed)
        self._sent = 0
        self._extra_dropped = 0  # drops after the mailbox (a slow WebSocket client's slot)
        self._latency_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._output_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._cpu_s = 0.0
        self.offered_at = 0.0  # when the result being sent was offered (publisher thread)
        self._sent_times: deque[float] = deque(maxlen=4096)
        self._last_error = ""
        self._error_active = False
        self._closed = False
        self._marks: deque[Mark] = deque(maxlen=MAX_PENDING_MARKS)  # offered, not yet sent (never replaced)
        # where a mark a receiver sends goes (WebSocket clients; the app sets it): called on the output's own thread
        self.on_mark: Callable[[str], None] | None = None

    # ---- called by the owner --------------------------------------------------------------------------------
    def start(self) -> Publisher:
        """Open the socket/stream here (errors raise ``PublishError``), then send on a thread; returns self."""
        if self._thread is None:
            self._open()
            self._thread = threading.Thread(target=self._run, name=f"publish:{self.name}", daemon=True)
            self._thread.start()
        return self

    def offer(self, result: FrameResult) -> None:
        """Hand over one frame's results; never blocks (an unsent older result is replaced and counted). The frame's
        marks are kept apart and sent before the next result that leaves, so a replaced result loses no mark."""
        if result.marks:
            with self._lock:
                self._marks.extend(marks_of(result))
        self._mailbox.put((result, time.perf_counter()))

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until everything offered so far has been sent or dropped; True if that happened in time.

        For the end of an offline run and for tests; the live frame loop never calls it.
        """
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self._idle():
                return True
            time.sleep(0.001)
        return self._idle()

    def close(self) -> None:
        """Stop the thread (a result still in the mailbox is sent first) and release the socket."""
        if self._closed:
            return
        self._closed = True
        self.flush(CLOSE_FLUSH_S)
        self._mailbox.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        try:
            self._shutdown()
        except Exception as exc:  # closing must not raise into the caller's own shutdown
            log.warning("Closing %s output failed: %s", self.name, exc)

    def status(self) -> PublisherStatus:
        with self._lock:
            latencies, output = list(self._latency_ms), list(self._output_ms)
            now = time.perf_counter()
            recent = sum(1 for t in self._sent_times if now - t <= RATE_WINDOW_S)
            sent, last_error, error_active = self._sent, self._last_error, self._error_active
            dropped = self._mailbox.dropped + self._extra_dropped
        clients = self.clients()
        if self._closed:
            state = "closed"
        elif self._thread is None:
            state = "off"
        elif error_active:
            state = "error"
        elif clients == 0:
            state = "no clients"
        else:
            state = "sending" if recent else "idle"
        cpu_ms = 1000.0 * self._cpu_s / self._handled if self._handled else None
        return PublisherStatus(self.name, self.endpoint(), state, sent, dropped, recent / RATE_WINDOW_S, clients,
                               last_error, *_median_p95(latencies), *_median_p95(output), cpu_ms)

    def latencies_ms(self) -> list[float]:
        """The recent capture -> sent latencies in milliseconds (oldest first)."""
        with self._lock:
            return list(self._latency_ms)

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- for subclasses -------------------------------------------------------------------------------------
    def endpoint(self) -> str:
        """Where messages go, as a person would write it (``udp://127.0.0.1:9000``)."""
        return ""

    def clients(self) -> int | None:
        """Connected receivers, or None where the protocol cannot know (UDP)."""
        return None

    def _open(self) -> None:
        """Open sockets/streams on the caller's thread; raise ``PublishError`` with one sentence on failure."""

    def _send(self, result: FrameResult) -> None:
        """Send one result (publisher thread). Exceptions become ``last_error``; the thread carries on."""
        raise NotImplementedError

    def _send_marks(self, marks: list[Mark]) -> None:
        """Send event marks, oldest first, before the result they came with (publisher thread). The default: an
        output with no place for them (VRChat's avatar parameters) leaves them out."""

    def _shutdown(self) -> None:
        """Release what ``_open`` acquired (after the thread has stopped)."""

    def _pending(self) -> bool:
        """True while a subclass still holds something not yet sent (e.g. a WebSocket client's slot)."""
        return False

    def mark_sent(self, captured_at: float, offered_at: float | None = None) -> None:
        """Count one message that left through the socket, with its capture -> sent and offered -> sent latencies
        (any thread; ``offered_at`` defaults to that of the result the publisher thread is sending)."""
        now = time.perf_counter()
        offered_at = self.offered_at if offered_at is None else offered_at
        with self._lock:
            self._sent += 1
            self._sent_times.append(now)
            self._latency_ms.append((now - captured_at) * 1000.0)
            self._output_ms.append((now - offered_at) * 1000.0)
            self._error_active = False

    def mark_dropped(self, n: int = 1) -> None:
        with self._lock:
            self._extra_dropped += n

    def mark_error(self, message: str) -> None:
        """Remember a send failure as one sentence; logged once per distinct message."""
        with self._lock:
            repeated = message == self._last_error
            self._last_error, self._error_active = message, True
        if not repeated:
            log.warning("%s output: %s", self.name, message)

    # ---- thread ---------------------------------------------------------------------------------------------
    def _idle(self) -> bool:
        mb = self._mailbox
        return mb.put_count == self._handled + mb.dropped and not self._pending()

    def _run(self) -> None:
        while True:
            item = self._mailbox.get()
            if item is None:
                return
            result, self.offered_at = item
            cpu0 = time.thread_time()
            marks: list[Mark] = []
            if self._marks:  # rare: most results come without a mark, and this thread is the only one emptying it
                with self._lock:
                    marks, self._marks = list(self._marks), deque(maxlen=MAX_PENDING_MARKS)
            try:
                if marks:
                    self._guarded(self._send_marks, marks)
                self._guarded(self._send, result)
            finally:
                self._cpu_s += time.thread_time() - cpu0
                self._handled += 1

    def _guarded(self, send: Callable[[object], None], what: object) -> None:
        """``send(what)``; a failure becomes the status's last error, and the thread carries on."""
        try:
            send(what)
        except Exception as exc:  # a receiver's problem must not end the output; it is shown in the status
            self.mark_error(describe_send_error(exc))


def mark_text(value: object) -> str:
    """A receiver's mark as one tidy line (``""``: not a mark): whitespace collapsed, at most ``MAX_MARK_CHARS``."""
    if not isinstance(value, str):
        return ""
    return " ".join(value.split())[:MAX_MARK_CHARS]


def _median_p95(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return float(np.median(values)), float(np.percentile(values, 95))


def describe_send_error(exc: BaseException) -> str:
    """One sentence for a failed send (the OS's words for socket errors)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"sending failed: {exc.strerror.lower()}."
    return f"sending failed: {type(exc).__name__}: {exc}."
