"""What live outputs cost: ``python -m app.bench --outputs`` (see docs/outputs.md).

Runs the ``ferlive analyze`` loop (decode -> face mesh -> model -> smoothing, no video encoding so the outputs'
share is not hidden) over the same frames with no output, each output alone with a real receiver on 127.0.0.1
(python-osc server, websockets client, pylsl inlet, in a process of their own as receiving programs are), all of
them together, and all of them facing bad receivers (a WebSocket client that never reads, OSC to a port nobody
listens on). Reports end-to-end frames per second and, per output, the latency from frame capture to the message
handed to the socket (median and 95th percentile). Configurations are interleaved and repeated, and the best fps of
each is kept, because this machine is shared.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from app.analyze import analyze
from app.inference.engine import InferenceEngine
from app.publish import Publisher, PublisherSet
from app.publish.base import LATENCY_SAMPLES
from app.publish.lsl import LslPublisher
from app.publish.osc import OscPublisher
from app.publish.ws import WebSocketPublisher

CONFIGS = ("none", "osc", "vrchat", "websocket", "lsl", "all", "all, bad receivers")


class _ReceiverHost:
    """The receivers of one configuration, in the child process: started on command, closed together."""

    def __init__(self) -> None:
        self._closers: list = []

    def osc_server(self) -> int:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda *_: None)
        server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)  # one thread, as a receiving program has
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._closers += [server.shutdown, server.server_close]
        return server.server_address[1]

    def ws_reader(self, port: int) -> None:
        from websockets.sync.client import connect

        def read() -> None:
            try:
                with connect(f"ws://127.0.0.1:{port}") as connection:
                    self._closers.append(connection.close)
                    for _ in connection:
                        pass
            except Exception:  # the server going away at the end of the run
                pass

        threading.Thread(target=read, daemon=True).start()

    def ws_stalled(self, port: int) -> None:
        """Completes the WebSocket handshake, then never reads again."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        self._closers.append(sock.close)

    def lsl_inlet(self, source_id: str) -> None:
        import pylsl

        found = pylsl.resolve_byprop("source_id", source_id, 1, 5.0)
        if not found:
            return
        inlet = pylsl.StreamInlet(found[0])
        inlet.open_stream(5.0)
        stop = threading.Event()

        def pull() -> None:
            while not stop.is_set():
                inlet.pull_chunk(timeout=0.1)

        threading.Thread(target=pull, daemon=True).start()
        self._closers.append(stop.set)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                pass
        self._closers = []


def _receiver_main(connection) -> None:
    """The child process: runs ``_ReceiverHost`` methods as the parent asks, answering each (``None`` to stop)."""
    host = _ReceiverHost()
    while (command := connection.recv()) is not None:
        name, args = command
        try:
            connection.send(getattr(host, name)(*args))
        except Exception as exc:  # the parent reports it; the host stays up for the next configuration
            connection.send(exc)
    host.close()


class _Receivers:
    """Real receivers in a process of their own, as receiving programs are: their decoding (python-osc parses every
    datagram in Python) takes no CPU time or interpreter lock from the loop measured."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no fork of a process with running threads
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_receiver_main, args=(child,), name="bench-receivers", daemon=True)
        self._process.start()

    def _call(self, name: str, *args):
        self._connection.send((name, args))
        answer = self._connection.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def osc_server(self) -> int:
        return self._call("osc_server")

    def ws_reader(self, port: int) -> None:
        self._call("ws_reader", port)

    def ws_stalled(self, port: int) -> None:
        self._call("ws_stalled", port)

    def lsl_inlet(self, source_id: str) -> None:
        self._call("lsl_inlet", source_id)

    def close(self) -> None:
        """Close this configuration's receivers; the process stays for the next one."""
        self._call("close")

    def stop(self) -> None:
        self._connection.send(None)
        self._process.join(timeout=10)


def _unused_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _publishers(config: str, receivers: _Receivers) -> list[Publisher]:
    bad = config.endswith("bad receivers")
    wanted = {"osc", "vrchat", "websocket", "lsl"} if config.startswith("all") else {config} - {"none"}
    publishers: list[Publisher] = []
    if "osc" in wanted:
        publishers.append(OscPublisher("127.0.0.1", _unused_udp_port() if bad else receivers.osc_server()).start())
    if "vrchat" in wanted:
        publishers.append(OscPublisher("127.0.0.1", _unused_udp_port() if bad else receivers.osc_server(),
                                       preset="vrchat").start())
    if "websocket" in wanted:
        ws = WebSocketPublisher(port=0).start()
        (receivers.ws_stalled if bad else receivers.ws_reader)(ws.port)
        if bad:
            receivers.ws_reader(ws.port)  # a good client beside the stalled one: its latency is what is reported
        publishers.append(ws)
    if "lsl" in wanted:
        lsl = LslPublisher(stream_name="ferlive-bench", source_id=f"ferlive-bench-{config}").start()
        receivers.lsl_inlet(lsl.source_id)
        publishers.append(lsl)
    return publishers


def _run(video: Path, engine: InferenceEngine, frames: int | None, config: str, receivers: _Receivers) -> dict:
    outputs = PublisherSet(_publishers(config, receivers))
    try:
        time.sleep(0.3)  # clients connect before the first frame
        summary = analyze(str(video), engine=engine, progress=False, max_frames=frames, publishers=outputs)
        outputs.flush()
        per_output = {}
        for publisher in outputs.publishers:
            key = "vrchat" if getattr(publisher, "preset", "") == "vrchat" else publisher.name
            status = publisher.status()
            per_output[key] = {"capture_to_sent_ms": _ms(status.latency_median_ms, status.latency_p95_ms),
                               "offered_to_sent_ms": _ms(status.output_median_ms, status.output_p95_ms),
                               "cpu_ms_per_message": round(status.cpu_ms_per_message or 0.0, 3),
                               "sent": status.sent, "dropped": status.dropped, "clients": status.clients,
                               "last_error": status.last_error}
    finally:
        outputs.close()
        receivers.close()
    frame_ms = 1000.0 / summary.fps if summary.fps else 0.0
    cpu = sum(o["cpu_ms_per_message"] for o in per_output.values())
    return {"fps": summary.fps, "frames": summary.frames, "frame_ms": round(frame_ms, 1), "outputs": per_output,
            "output_cpu_pct_of_frame": round(100.0 * cpu / frame_ms, 2) if frame_ms else 0.0}


def _ms(median: float | None, p95: float | None) -> dict[str, float]:
    return {"median": round(median or 0.0, 2), "p95": round(p95 or 0.0, 2)}


def benchmark_outputs(video: Path, engine: InferenceEngine, frames: int | None = 300, repeats: int = 2) -> dict:
    """Best-of-``repeats`` fps per configuration (interleaved), with the outputs' latencies from that run."""
    if frames is not None and frames > LATENCY_SAMPLES:
        frames = LATENCY_SAMPLES  # every latency of the run is kept
    best: dict[str, dict] = {}
    receivers = _Receivers()
    try:
        for _ in range(repeats):
            for config in CONFIGS:
                run = _run(video, engine, frames, config, receivers)
                if config not in best or run["fps"] > best[config]["fps"]:
                    best[config] = run
    finally:
        receivers.stop()
    base = best["none"]["fps"]
    for run in best.values():
        run["fps_change_pct"] = round(100.0 * (run["fps"] - base) / base, 1) if base else 0.0
        run["fps"] = round(run["fps"], 1)
    return {"model": engine.card.name, "provider": engine.provider, "video": str(video), "configs": best}


def print_outputs_table(report: dict) -> None:
    print(f"live outputs on {report['model']} / {report['provider']} ({report['video']}):")
    print(f"{'configuration':<20}{'fps':>6}{'vs none':>9}{'out CPU':>9}   per output: capture->sent median/p95 ms, "
          "offered->sent median/p95 ms, sent, dropped")
    for config, run in report["configs"].items():
        print(f"{config:<20}{run['fps']:>6.1f}{run['fps_change_pct']:>8.1f}%{run['output_cpu_pct_of_frame']:>8.2f}%")
        for name, o in run["outputs"].items():
            c, s = o["capture_to_sent_ms"], o["offered_to_sent_ms"]
            print(f"{'':<46}{name:<10}{c['median']:>7.1f}/{c['p95']:<7.1f}{s['median']:>7.2f}/{s['p95']:<7.2f}"
                  f"{o['sent']:>6}{o['dropped']:>6}")
    print("(out CPU: the publisher threads' CPU time per frame as a share of the frame time)")
