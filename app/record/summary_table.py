"""``ferlive analyze --summary``: one CSV row per input (each video of a folder), for comparing sessions at a glance."""

from __future__ import annotations

import csv
from pathlib import Path

from app.errors import OutputError
from app.record.paths import prepare_output_path

BASE_COLUMNS = ("input", "error", "frames", "frames_with_face", "face_coverage", "faces", "face_seconds",
                "label_changes_per_second", "dim_share", "turned_share", "model", "accuracy")


class SummaryTable:
    """Rows of ``input``, ``error`` (why an input has no results or fewer than it holds) and the columns of
    ``AnalysisSummary.table_row()``.

    Per class: ``share_<class>``, the share of face-frames that showed the label (what a viewer saw), and
    ``mean_raw_<class>``, the model's own probability averaged over every face it saw. ``face_seconds`` and
    ``label_changes_per_second`` are blank for photos; ``accuracy`` is blank but for a folder of photos in class
    folders (``app.dataset_score``). The file is created with the first row, so a run that fails
    before anything is analysed leaves none behind; each row is on disk before the next input starts, so an
    interrupted batch keeps the rows of the inputs that finished.
    """

    def __init__(self, path: str | Path, classes: tuple[str, ...] | list[str]) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".csv":
            raise OutputError(f"Cannot write the summary to {self.path}: use a .csv file name.")
        if self.path.is_dir():
            raise OutputError(f"Cannot write the summary to {self.path}: it is a folder.")
        self.columns = [*BASE_COLUMNS, *(f"share_{c}" for c in classes), *(f"mean_raw_{c}" for c in classes)]
        self._file = None
        self._writer: csv.DictWriter | None = None
        self.rows_written = 0

    def write(self, name: str, row: dict[str, object] | None = None, error: str | None = None) -> None:
        """One input's row: its name (its path inside the input folder), and its analysis or why there is none."""
        line = {"input": name, **(row or {})}
        line["error"] = error or line.get("error") or ""
        try:
            if self._writer is None:
                prepare_output_path(self.path, "the summary")
                self._file = open(self.path, "w", newline="", encoding="utf-8")
                self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore")
                self._writer.writeheader()
            self._writer.writerow({k: "" if v is None else v for k, v in line.items()})
            self._file.flush()
        except OSError as exc:
            raise OutputError(f"Cannot write the summary to {self.path}: {exc.strerror or exc}.") from exc
        self.rows_written += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SummaryTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
