"""A yes/no per tracked face with hysteresis: on past one line, off only back past another, so a note on screen
stays put while a face's value hovers at the line (``app.face.lighting``'s dim faces, ``app.face.pose``'s turned
ones)."""

from __future__ import annotations

from collections.abc import Iterable


class TrackFlags:
    """Per track id: on once the value passes ``on_at`` (above it with ``above``, else below), off again only once
    it passes back over ``off_at``."""

    def __init__(self, on_at: float, off_at: float, above: bool) -> None:
        self.on_at, self.off_at, self.above = on_at, off_at, above
        self._on: dict[int, bool] = {}

    def flag(self, track_id: int, value: float) -> bool:
        line = self.off_at if self._on.get(track_id, False) else self.on_at
        on = value > line if self.above else value < line
        self._on[track_id] = on
        return on

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._on.pop(track_id, None)

    def reset(self) -> None:
        self._on.clear()
