"""Events per second over the last couple of seconds, so a read-out follows what is happening now.

A long moving average hides a change for many seconds: after a switch to a model that takes 1.6 s per frame an
average of the last ~20 rates still said 5.8 fps. Counting the events of a short time window (and, when fewer than
two fall inside it, the last interval) tracks a slow-down within one frame and a speed-up within the window.
"""

from __future__ import annotations

import time
from collections import deque


class RateMeter:
    """``tick()`` per event; ``value`` is events per second over the last ``window_s`` seconds (0.0 until two)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self.value = 0.0
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> float:
        """Record one event at ``now`` (default: ``time.perf_counter()``) and return the updated rate."""
        now = time.perf_counter() if now is None else now
        times = self._times
        times.append(now)
        while len(times) > 2 and now - times[0] > self.window_s:  # at least two, so one slow interval still counts
            times.popleft()
        span = times[-1] - times[0]
        self.value = (len(times) - 1) / span if len(times) >= 2 and span > 0 else 0.0
        return self.value

    def reset(self) -> None:
        """Forget the history (new source, new model): the next rate is measured from scratch."""
        self.value = 0.0
        self._times.clear()
