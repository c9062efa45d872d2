"""What every output says about a frame, computed once here so OSC, WebSocket and LSL agree with each other and
with the CSV/JSONL results files (same names, same rounding: ``app.record.ResultsWriter``).
"""

from __future__ import annotations

import math

from app.labels import EXPRESSIONS, canonical_name
from app.types import FaceResult, FrameResult, Mark, subject_face, subject_track

SCHEMA = "ferlive.frame/1"
MARK_SCHEMA = "ferlive.mark/1"


def image_size(result: FrameResult) -> tuple[int, int]:
    """(width, height) of the analysed frame in pixels."""
    h, w = result.frame.image.shape[:2]
    return int(w), int(h)


def normalised_box(face: FaceResult, width: int, height: int) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 as fractions of the frame's width and height, clipped to 0..1."""
    x0, y0, x1, y1 = face.box
    return tuple(min(1.0, max(0.0, float(v) / s)) for v, s in ((x0, width), (y0, height), (x1, width), (y1, height)))


def primary_face(result: FrameResult) -> FaceResult | None:
    """The face single-subject outputs (LSL, VRChat) follow, as the app's probability panel does: the one picked
    (``FrameResult.subject``, a face clicked in the app) while it is in view, else the largest."""
    return subject_face(result.faces, result.subject, result.subject_away)


def faces_by_track(result: FrameResult) -> list[FaceResult]:
    """Faces ordered by track id: the person tracked longest keeps slot 0 while others come and go."""
    return sorted(result.faces, key=lambda f: f.track_id)


def expression_vector(face: FaceResult) -> list[float]:
    """The probabilities in the fixed order of ``app.labels.EXPRESSIONS``, whatever the model's own class order;
    NaN for an expression the model does not have. Fixed-layout outputs (LSL channels, VRChat parameters) use it."""
    by_name: dict[str, float] = {}
    for name, p in zip(face.classes, face.probabilities):
        canon = canonical_name(name)
        if canon is not None:
            by_name[canon] = float(p)
    return [by_name.get(name, math.nan) for name in EXPRESSIONS]


def _by_name(classes, values) -> dict[str, float]:
    return {name: round(float(p), 5) for name, p in zip(classes, values)}


def frame_message(result: FrameResult) -> dict:
    """The ``ferlive.frame/1`` JSON object of one frame (see docs/outputs.md).

    Field names and rounding follow the CSV row of the same frame: ``timestamp`` (4 decimals), ``frame_index``,
    per face ``track_id``, ``x0..y1`` in pixels (1 decimal), ``label``, ``confidence``, the smoothed (``p_``) and
    raw (``raw_``) probabilities (5 decimals, keyed by class name), ``model``; plus the box normalised to 0..1
    (``nx0..ny1``), ``label_index``, ``held``, ``talking``, ``dim``, ``turned`` and ``calibrated`` (the CSV's
    columns, as true or false), the frame's ``width`` and ``height``, ``subject`` (the ``track_id`` the
    single-subject outputs follow: a clicked face, else the largest; null without a face), and for photos ``image``
    (the CSV's column).
    """
    width, height = image_size(result)
    faces = []
    for face in result.faces:
        nx0, ny0, nx1, ny1 = normalised_box(face, width, height)
        raw = face.reported_raw
        x0, y0, x1, y1 = (round(float(v), 1) for v in face.box)
        faces.append({
            "track_id": int(face.track_id),
            "x0": x0, "y0": y0, "x1": x1, "y1": y1,
            "nx0": round(nx0, 5), "ny0": round(ny0, 5), "nx1": round(nx1, 5), "ny1": round(ny1, 5),
            "label": face.label,
            "label_index": face.label_index,
            "confidence": round(face.confidence, 5),
            "probabilities": _by_name(face.classes, face.probabilities),
            # before temporal smoothing, as the CSV has them: the smoothed ones where none was applied (stills),
            # null for a face missed on this frame and shown as last seen for a moment (app.pipeline.LOST_FACE_HOLD_S)
            "raw_probabilities": dict.fromkeys(face.classes) if raw is None else _by_name(face.classes, raw),
            "held": face.held,
            "talking": face.talking,
            "dim": face.dim,
            "turned": face.turned,
            "calibrated": face.calibrated,
        })
    message = {
        "schema": SCHEMA,
        "timestamp": round(result.frame.timestamp, 4),
        "frame_index": int(result.frame.index),
        "model": result.model_name,
        "width": width,
        "height": height,
        "subject": subject_track(result),
        "faces": faces,
    }
    if result.frame.image_name:  # photos: the CSV's image column
        message["image"] = result.frame.image_name
    return message


def mark_message(mark: Mark) -> dict:
    """The ``ferlive.mark/1`` JSON object of one event mark: its ``mark`` text and the ``timestamp`` and
    ``frame_index`` of the frame it was set on (the same as that frame's ``ferlive.frame/1`` message and CSV rows)."""
    return {"schema": MARK_SCHEMA, "mark": mark.text, "timestamp": round(mark.timestamp, 4),
            "frame_index": mark.frame_index}
