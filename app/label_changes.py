"""How often the shown label changes: the steadiness a viewer sees, counted the same way everywhere.

``ferlive analyze`` reports it for a video and ``training.flicker`` measures the shared clips with it. A change is a
track's shown label differing from its label on the frame before; seconds are face time (the time between
consecutive frames, counted for each track present on both), so a clip with two faces has twice the face time.
A run (frames with one label) ends where the label changes or the track is missed for a frame.
"""

from __future__ import annotations

from collections.abc import Hashable


class LabelChanges:
    """Feed every frame in order (frames without faces too); read ``changes``, ``seconds`` and ``runs``."""

    def __init__(self) -> None:
        self.changes = 0
        self.seconds = 0.0
        self._closed_runs: list[int] = []
        self._current: dict[int, list] = {}  # track -> [label, run length in frames]
        self._last_time: float | None = None

    def feed(self, timestamp: float, labels: dict[int, Hashable]) -> None:
        """One frame: ``labels`` maps each track shown on it to its label."""
        dt = timestamp - self._last_time if self._last_time is not None else 0.0
        self._last_time = timestamp
        for track in [t for t in self._current if t not in labels]:
            self._closed_runs.append(self._current.pop(track)[1])
        for track, label in labels.items():
            run = self._current.get(track)
            if run is None:
                self._current[track] = [label, 1]
                continue
            self.seconds += dt
            if label == run[0]:
                run[1] += 1
            else:
                self.changes += 1
                self._closed_runs.append(run[1])
                self._current[track] = [label, 1]

    @property
    def runs(self) -> list[int]:
        """Run lengths in frames, the runs still open included."""
        return self._closed_runs + [run[1] for run in self._current.values()]

    @property
    def per_second(self) -> float:
        return self.changes / self.seconds if self.seconds > 0 else 0.0
