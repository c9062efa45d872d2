"""Per-frame results as CSV or JSON Lines, written a whole frame at a time so a cut-off file never ends mid-row."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path
from typing import Any

from app.errors import OutputError
from app.record.paths import prepare_output_path
from app.types import FaceResult, FrameResult, subject_track


def _rounded(probabilities: dict[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v, 5) for k, v in probabilities.items()}


class ResultsWriter:
    """Per-frame results to CSV (one row per face) or JSON Lines (one line per frame, faces nested), by extension.

    CSV columns: timestamp, frame_index, track_id, x0, y0, x1, y1, label, confidence, ``p_<class>`` per class,
    ``raw_<class>`` per class, model, talking (1 while the face talks and its parted-lip frames count less in the
    smoothing, ``app.face.mouth``; JSONL: ``talking`` true), dim (1 when the face is darker than nearly all training
    faces, so its label is less reliable, ``app.face.lighting``; JSONL: ``dim`` true), turned (1 when the face is
    turned more than 30 degrees to the side, also less reliable, ``app.face.pose``; JSONL: ``turned`` true),
    calibrated (1 when a neutral calibration weighs ``p_`` and the label, ``app.neutral``; ``raw_`` never; JSONL:
    ``calibrated`` true), subject (1 on the row of the face the app follows: the person clicked in the app while in
    view, else the largest face, ``app.types.subject_face``; JSONL: the frame's ``subject`` track), image (the
    photo's file name
    when the input is a photo or a folder of them, blank for video and cameras; JSONL: ``image``, only for photos).
    ``label`` is the stable label the app showed and ``p_`` the smoothed probabilities; ``raw_`` are the model's own
    for that frame, before temporal smoothing (JSONL: ``raw_probabilities``), so an analysis can redo the smoothing
    its own way. The classes come from ``classes`` or the first face written; a later result with other classes fills
    the columns by name (blank where it has no such class). A face the mesh missed for a moment and the app still shows
    (``FaceResult.held``) has its row with the ``raw_`` columns blank (JSONL: null). Frames without faces add no CSV
    row but are counted in ``frames_seen``; in JSONL they are a line with an empty ``faces`` list, so gaps stay
    visible. A frame's faces come largest first, so its first row is its main subject, in a video as in a photo.

    Each frame's text is built first and handed to the OS in one unbuffered write, so the file on disk always ends
    at a frame boundary that a crash cannot split. When the disk fills (ENOSPC, or the size limit) the file is cut
    back to the last whole frame, ``OutputError`` is raised once, and the writer accepts nothing more.
    """

    def __init__(self, path: str | Path, classes: tuple[str, ...] | list[str] | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            raise OutputError(f"Cannot write results to {self.path}: use a .csv or .jsonl file name.")
        self.format = suffix.lstrip(".")
        self.classes: tuple[str, ...] | None = tuple(classes) if classes else None
        prepare_output_path(self.path, "results")
        try:
            self._file: io.RawIOBase | None = open(self.path, "wb", buffering=0)
        except OSError as exc:
            raise OutputError(f"Cannot write results to {self.path}: {exc.strerror or exc}.") from exc
        self._header_written = False
        self._whole_bytes = 0  # length of the file up to the end of the last frame written in full
        self.error: OutputError | None = None
        self.frames_seen = 0
        self.rows_written = 0

    @property
    def columns(self) -> list[str]:
        base = ["timestamp", "frame_index", "track_id", "x0", "y0", "x1", "y1", "label", "confidence"]
        classes = self.classes or ()
        return [*base, *(f"p_{name}" for name in classes), *(f"raw_{name}" for name in classes), "model", "talking",
                "dim", "turned", "calibrated", "subject", "image"]

    def write(self, result: FrameResult) -> None:
        """Append one frame's faces; raises ``OutputError`` when the disk refuses them (the file stays whole)."""
        if self._file is None:
            raise ValueError(f"write() on a closed ResultsWriter ({self.path})")
        if self.error is not None:
            raise self.error
        self.frames_seen += 1
        if self.classes is None and result.faces:
            self.classes = tuple(result.faces[0].classes)
        if self.format == "csv":
            text, rows = self._csv_text(result)
        else:
            text, rows = self._jsonl_line(result), 1
        if text:
            self._append(text.encode("utf-8"))
            self.rows_written += rows

    def _append(self, data: bytes) -> None:
        """Write ``data`` completely or not at all (as far as the file's length shows)."""
        assert self._file is not None
        view = memoryview(data)
        try:
            while view:
                n = self._file.write(view)
                if not n:  # a raw write that took nothing is a full disk that did not say so
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[n:]
        except OSError as exc:
            self._truncate_to_whole()
            self.error = OutputError(f"Writing results to {self.path} failed: {exc.strerror or exc}.")
            raise self.error from exc
        self._whole_bytes += len(data)

    def _truncate_to_whole(self) -> None:
        try:
            os.ftruncate(self._file.fileno(), self._whole_bytes)
        except OSError:
            pass  # a device such as /dev/full has no length to cut back; nothing partial was kept there either

    def _probabilities(self, face: FaceResult, raw: bool = False) -> dict[str, float | None]:
        """By our column order; ``raw``: before smoothing (the same as the smoothed ones where none was applied;
        none at all for a held face, which the model did not see on this frame)."""
        values = face.reported_raw if raw else face.probabilities
        if values is None:
            return dict.fromkeys(self.classes or ())
        by_name = {name: float(p) for name, p in zip(face.classes, values)}
        return {name: by_name.get(name) for name in self.classes or ()}

    def _csv_text(self, result: FrameResult) -> tuple[str, int]:
        if not result.faces:  # the header waits for the first face, which may name the classes
            return "", 0
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if not self._header_written:
            writer.writerow(self.columns)
            self._header_written = True  # a failed write disables the writer, so the header is never repeated
        subject = subject_track(result)
        for face in largest_first(result.faces):
            probs = [*self._probabilities(face).values(), *self._probabilities(face, raw=True).values()]
            writer.writerow(
                [
                    f"{result.frame.timestamp:.4f}",
                    result.frame.index,
                    face.track_id,
                    *(f"{v:.1f}" for v in face.box),
                    face.label,
                    f"{face.confidence:.5f}",
                    *("" if p is None else f"{p:.5f}" for p in probs),
                    result.model_name,
                    int(face.talking),
                    int(face.dim),
                    int(face.turned),
                    int(face.calibrated),
                    int(face.track_id == subject),
                    result.frame.image_name,
                ]
            )
        return buffer.getvalue(), len(result.faces)

    def _jsonl_line(self, result: FrameResult) -> str:
        faces: list[dict[str, Any]] = [
            {
                "track_id": face.track_id,
                "box": [round(float(v), 1) for v in face.box],
                "label": face.label,
                "confidence": round(face.confidence, 5),
                "probabilities": _rounded(self._probabilities(face)),
                "raw_probabilities": _rounded(self._probabilities(face, raw=True)),
                "held": face.held,
                "talking": face.talking,
                "dim": face.dim,
                "turned": face.turned,
                "calibrated": face.calibrated,
            }
            for face in largest_first(result.faces)
        ]
        line = {
            "timestamp": round(result.frame.timestamp, 4),
            "frame_index": result.frame.index,
            "model": result.model_name,
            "subject": subject_track(result),
            "faces": faces,
        }
        if result.frame.image_name:
            line["image"] = result.frame.image_name
        return json.dumps(line) + "\n"

    def close(self) -> None:
        """Write the CSV header if no face ever arrived (so the file is still a valid table), then close.

        An error already raised by ``write()`` is not raised again here.
        """
        if self._file is None:
            return
        try:
            if self.format == "csv" and not self._header_written and self.error is None:
                buffer = io.StringIO()
                csv.writer(buffer).writerow(self.columns)
                self._header_written = True
                self._append(buffer.getvalue().encode("utf-8"))
        finally:
            self._file.close()
            self._file = None

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def largest_first(faces: list[FaceResult]) -> list[FaceResult]:
    """Faces by box area, largest first (ties keep their order): a script that reads each frame's first row gets
    its main subject, whatever order the face mesh found the faces in."""
    return sorted(faces, key=lambda f: -f.area)
