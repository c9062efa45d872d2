"""Fan one frame's results out to every live output, and build the outputs a person asked for.

``PublisherSet.publish`` is what the frame loop calls: one non-blocking ``offer`` per output. Outputs can be added
and removed while frames flow (the app's Outputs panel); the list is replaced, never mutated, so the frame loop
needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable

from app.errors import PublishError
from app.publish.base import Publisher, PublisherStatus
from app.publish.options import OutputConfig, parse_host_port
from app.types import FrameResult


def build_publishers(config: OutputConfig) -> list[Publisher]:
    """The (not yet started) outputs ``config`` asks for."""
    from app.publish.lsl import LslPublisher
    from app.publish.osc import OscPublisher
    from app.publish.ws import WebSocketPublisher

    publishers: list[Publisher] = []
    if config.osc or config.osc_preset:
        host, port = parse_host_port(config.osc) if config.osc else (None, None)
        publishers.append(OscPublisher(host, port, preset=config.osc_preset or "generic"))
    if config.ws_port is not None:
        publishers.append(WebSocketPublisher(config.ws_port, config.ws_host))
    if config.lsl:
        publishers.append(LslPublisher())
    if config.osc_in is not None:
        from app.publish.osc_in import OscMarkListener, check_no_loop

        for publisher in publishers:
            if isinstance(publisher, OscPublisher):
                check_no_loop(publisher.host, publisher.port, config.osc_in)
        publishers.append(OscMarkListener(config.osc_in))
    return publishers


class PublisherSet:
    """The running outputs. ``publish`` from the frame loop; ``statuses``/``add``/``remove``/``close`` from anywhere."""

    def __init__(self, publishers: list[Publisher] | tuple[Publisher, ...] = ()) -> None:
        self._publishers: tuple[Publisher, ...] = tuple(publishers)
        self._on_mark: Callable[[str], None] | None = None

    def set_mark_handler(self, on_mark: Callable[[str], None] | None) -> None:
        """Where the marks receivers send go (``Publisher.on_mark``), for the outputs running and those added."""
        self._on_mark = on_mark
        for publisher in self._publishers:
            publisher.on_mark = on_mark

    @classmethod
    def open(cls, config: OutputConfig) -> PublisherSet:
        """Start every output in ``config``; if one fails, close those already started and raise its error."""
        started: list[Publisher] = []
        try:
            for publisher in build_publishers(config):
                started.append(publisher.start())
        except PublishError:
            for publisher in started:
                publisher.close()
            raise
        return cls(started)

    @property
    def publishers(self) -> tuple[Publisher, ...]:
        return self._publishers

    def __bool__(self) -> bool:
        return bool(self._publishers)

    def publish(self, result: FrameResult) -> None:
        """Offer ``result`` to every output; returns at once whatever the receivers do."""
        for publisher in self._publishers:
            publisher.offer(result)

    def add(self, publisher: Publisher) -> None:
        """Take over a started publisher."""
        publisher.on_mark = self._on_mark
        self._publishers = (*self._publishers, publisher)

    def remove(self, publisher: Publisher) -> None:
        """Stop sending to ``publisher`` and close it."""
        self._publishers = tuple(p for p in self._publishers if p is not publisher)
        publisher.close()

    def statuses(self) -> list[PublisherStatus]:
        return [p.status() for p in self._publishers]

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait for every output to send what it was offered (end of an offline run, tests)."""
        return all([p.flush(timeout) for p in self._publishers])

    def close(self) -> None:
        publishers, self._publishers = self._publishers, ()
        for publisher in publishers:
            publisher.close()

    def __enter__(self) -> PublisherSet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
