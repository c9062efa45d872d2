"""The operator's event marks of one recording as a small CSV beside its results (``<stem>-marks.csv``).

A mark falls on a frame, and a frame without a face has no row in the results CSV, so the marks have their own
file: ``timestamp, frame_index, seconds, mark``: the frame's stamp and number, as in the results, and the seconds into
the recording (its video's time, where a person coding the video finds the moment). It is created at the first
mark (a recording without marks has no such file) and each row goes to the OS at once, so a crash keeps every mark
set before it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from app.errors import OutputError
from app.types import Mark

COLUMNS = ("timestamp", "frame_index", "seconds", "mark")


class MarksWriter:
    """Appends marks to ``path``; ``OutputError`` when the file cannot be written (the marks already there stay)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self.error: OutputError | None = None  # the failed write; the writer accepts nothing more
        self._file: io.TextIOBase | None = None

    def write(self, marks: list[Mark], start: float = 0.0) -> None:
        """``start``: the timestamp of the recording's first frame (its video's time 0)."""
        if not marks:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if self.count == 0:
            writer.writerow(COLUMNS)
        for mark in marks:
            writer.writerow([f"{mark.timestamp:.4f}", mark.frame_index, f"{mark.timestamp - start:.3f}", mark.text])
        if self.error is not None:
            raise self.error
        try:
            if self._file is None:
                self._file = open(self.path, "w", encoding="utf-8", newline="")
            self._file.write(buffer.getvalue())
            self._file.flush()
        except OSError as exc:
            self.error = OutputError(f"Writing the marks to {self.path} failed: {exc.strerror or exc}.")
            self._abandon()
            raise self.error from exc
        self.count += len(marks)

    def _abandon(self) -> None:
        """After a failed write: close without flushing again what the disk refused."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    @property
    def written(self) -> Path | None:
        """The file, once a mark is in it."""
        return self.path if self.count else None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_marks(path: str | Path) -> list[tuple[float, str]]:
    """(seconds into the recording's video, text) of each mark in a marks file, in its order; ``OutputError`` with
    one sentence when the file cannot be read or is not one."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OutputError(f"Cannot read the marks in {path}: {getattr(exc, 'strerror', None) or exc}.") from exc
    try:
        return [(float(row["seconds"]), row["mark"]) for row in rows]
    except (KeyError, TypeError, ValueError):
        raise OutputError(f"{path} is not a marks file: it needs the columns {', '.join(COLUMNS)} (a recording's "
                          "<name>-marks.csv).") from None
