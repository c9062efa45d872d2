"""Draws results onto a copy of the frame: boxes, labels, landmarks and probability bars, with OpenCV only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from app.types import FaceResult

BGR = tuple[int, int, int]

# One colour per expression (BGR), the same everywhere (video, probability panel, plots), so people learn them.
EXPRESSION_COLORS: dict[str, BGR] = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (0, 200, 255),
    "sad": (200, 110, 30),
    "surprise": (0, 140, 255),
    "neutral": (180, 180, 180),
}
FALLBACK_COLOR: BGR = (220, 220, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_PANEL_BG: BGR = (30, 30, 30)
# A frame whose short side is under SMALL_FRAME_SIDE (a 48 px dataset crop, a 160x120 camera) is drawn on a copy
# enlarged to a short side of ENLARGED_SIDE: labels and bars keep their size in pixels, so on the frame itself
# they would cover the face they describe.
SMALL_FRAME_SIDE = 240
ENLARGED_SIDE = 480
CAPTION_MARGIN = 8  # pixels from the top left corner to an event mark's tag
CAPTION_COLOR: BGR = (40, 40, 40)


@dataclass
class RenderOptions:
    """What to draw; ``font_scale`` and ``thickness`` are OpenCV's (0.5 and 2 read well at 640x480)."""

    boxes: bool = True
    labels: bool = True
    landmarks: bool = False
    bars: bool = True
    font_scale: float = 0.5
    thickness: int = 2
    landmark_step: int = 3  # draw every n-th of the 478 mesh points: the face shape stays visible, the frame cheap


def color_for(label: str) -> BGR:
    """The colour of an expression, or the fallback for classes we have no colour for."""
    return EXPRESSION_COLORS.get(label, FALLBACK_COLOR)


def _text_color(background: BGR) -> BGR:
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


@lru_cache(maxsize=256)
def _text_size(text: str, scale: float, thickness: int) -> tuple[int, int, int]:
    (w, h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    return w, h, baseline


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def render(frame_bgr: np.ndarray, faces: list[FaceResult], options: RenderOptions | None = None,
           selected: int | None = None, caption: str = "") -> np.ndarray:
    """A new BGR image with ``faces`` drawn on it; ``frame_bgr`` is never modified (the recorder and CSV may still
    hold it, and the face mesh may be reading it on another thread). The same size as the frame, except for a
    small frame (short side under ``SMALL_FRAME_SIDE``), which is drawn enlarged to ``ENLARGED_SIDE``. The face of
    track ``selected`` (clicked in the app, so the panel and outputs follow it) gets a heavier box in a white
    frame, so the person sees which face that is. ``caption`` (an event mark just set) is a tag at the top left."""
    options = options or RenderOptions()
    short = min(frame_bgr.shape[:2])
    if 0 < short < SMALL_FRAME_SIDE:  # the result is larger than the frame, with the faces scaled alike
        scale = ENLARGED_SIDE / short
        out = cv2.resize(frame_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        faces = [_scaled(face, scale) for face in faces]
    else:
        out = frame_bgr.copy()
    for face in faces:
        _draw_face(out, face, options, selected=face.track_id == selected)
    if caption:
        _draw_label(out, caption, (CAPTION_MARGIN, CAPTION_MARGIN, CAPTION_MARGIN, CAPTION_MARGIN), CAPTION_COLOR,
                    options)
    return out


def _scaled(face: FaceResult, scale: float) -> FaceResult:
    landmarks = None if face.landmarks is None else face.landmarks * np.float32(scale)
    return replace(face, box=tuple(v * scale for v in face.box), landmarks=landmarks)


def _draw_face(out: np.ndarray, face: FaceResult, opt: RenderOptions, selected: bool = False) -> None:
    height, width = out.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    x0, x1 = _clamp(x0, 0, width - 1), _clamp(x1, 0, width - 1)
    y0, y1 = _clamp(y0, 0, height - 1), _clamp(y1, 0, height - 1)
    color = color_for(face.label)
    if opt.landmarks and face.landmarks is not None and len(face.landmarks):
        _draw_landmarks(out, face.landmarks, color, opt.landmark_step)
    if opt.boxes or selected:
        if selected:
            outer = 2 * opt.thickness + 2  # clear of the heavier box, with a gap
            cv2.rectangle(out, (x0 - outer, y0 - outer), (x1 + outer, y1 + outer), (255, 255, 255), 1, cv2.LINE_AA)
        cv2.rectangle(out, (x0, y0), (x1, y1), color, 2 * opt.thickness if selected else opt.thickness, cv2.LINE_AA)
    if opt.bars:
        _draw_bars(out, face, (x0, y0, x1, y1), opt)
    if opt.labels:
        text = f"{face.label} {face.confidence * 100:.0f}%"
        if face.track_id >= 0:
            text = f"#{face.track_id} {text}"
        _draw_label(out, text, (x0, y0, x1, y1), color, opt)


def _draw_label(out: np.ndarray, text: str, box: tuple[int, int, int, int], color: BGR, opt: RenderOptions) -> None:
    """Filled tag above the box; below its top edge when the box touches the top of the frame."""
    height, width = out.shape[:2]
    thickness = max(1, opt.thickness - 1)
    tw, th, base = _text_size(text, opt.font_scale, thickness)
    pad = 3
    tag_w, tag_h = tw + 2 * pad, th + base + 2 * pad  # cv2.rectangle includes both corners: +1 pixel each way
    x0, y0 = box[0], box[1]
    top = y0 - tag_h - 1 if y0 - tag_h - 1 >= 0 else y0
    left = _clamp(x0, 0, max(0, width - tag_w - 1))
    top = _clamp(top, 0, max(0, height - tag_h - 1))
    cv2.rectangle(out, (left, top), (left + tag_w, top + tag_h), color, cv2.FILLED)
    org = (left + pad, top + pad + th)
    cv2.putText(out, text, org, _FONT, opt.font_scale, _text_color(color), thickness, cv2.LINE_AA)


def _draw_bars(out: np.ndarray, face: FaceResult, box: tuple[int, int, int, int], opt: RenderOptions) -> None:
    """A small panel with one bar per class beside the face, never over it: right of the box, else left, below or
    above; with no room on any side (a portrait close-up) a smaller panel is tried. A face that fills the frame
    leaves no clear place: the full-size panel then sits inside the frame, over the face."""
    height, width = out.shape[:2]
    pad = 4
    label_h = _text_size("Ag", opt.font_scale, max(1, opt.thickness - 1))[1] + 12 if opt.labels else 0
    place = None
    for shrink in (1.0, 0.8, 0.65):
        layout = _bar_layout(face.classes, opt.font_scale, shrink, pad)
        place = bar_panel_origin((width, height), box, layout[:2], pad, label_h)
        if place is not None:
            break
    if place is None:
        layout = _bar_layout(face.classes, opt.font_scale, 1.0, pad)
        x0, y0, x1, _ = box
        left = x1 + pad if width - x1 >= x0 else x0 - pad - layout[0] - 1
        place = (_clamp(left, 0, max(0, width - layout[0] - 1)), _clamp(y0, 0, max(0, height - layout[1] - 1)))
    panel_w, panel_h, scale, name_w, text_h, row_h, bar_w = layout
    left, top = place
    cv2.rectangle(out, (left, top), (left + panel_w, top + panel_h), _PANEL_BG, cv2.FILLED)
    best = face.label_index
    for i, (name, p) in enumerate(zip(face.classes, face.probabilities)):
        row_top = top + pad + i * row_h
        text_color = (255, 255, 255) if i == best else (190, 190, 190)
        cv2.putText(out, name, (left + pad, row_top + text_h), _FONT, scale, text_color, 1, cv2.LINE_AA)
        bx = left + 2 * pad + name_w
        fill = int(round(bar_w * float(np.clip(p, 0.0, 1.0))))
        cv2.rectangle(out, (bx, row_top + 1), (bx + bar_w, row_top + row_h - 3), (70, 70, 70), cv2.FILLED)
        if fill > 0:
            cv2.rectangle(out, (bx, row_top + 1), (bx + fill, row_top + row_h - 3), color_for(name), cv2.FILLED)


def _bar_layout(classes: tuple[str, ...], font_scale: float, shrink: float, pad: int) -> tuple:
    """(panel_w, panel_h, text scale, name column width, text height, row height, bar width) at ``shrink``."""
    scale = font_scale * 0.75 * shrink
    name_w = max(_text_size(name, scale, 1)[0] for name in classes)
    text_h = _text_size("Ag", scale, 1)[1]
    row_h = text_h + 6
    bar_w = max(30, int(60 * shrink * font_scale / 0.5))
    return name_w + bar_w + 3 * pad, row_h * len(classes) + pad, scale, name_w, text_h, row_h, bar_w


def bar_panel_origin(
    frame_size: tuple[int, int],
    box: tuple[int, int, int, int],
    panel_size: tuple[int, int],
    pad: int = 4,
    label_h: int = 0,
) -> tuple[int, int] | None:
    """Top-left corner for a ``panel_size`` panel wholly inside the frame and clear of ``box`` (and of the label tag,
    ``label_h`` high, above it): right, left, below, then above the box; None when no side has room."""
    width, height = frame_size
    panel_w, panel_h = panel_size
    x0, y0, x1, y1 = box
    beside_top = _clamp(y0, 0, max(0, height - panel_h - 1))
    across_left = _clamp(x0, 0, max(0, width - panel_w - 1))
    candidates = (
        (x1 + pad, beside_top),  # right
        (x0 - pad - panel_w - 1, beside_top),  # left
        (across_left, y1 + pad),  # below
        (across_left, y0 - label_h - pad - panel_h - 1),  # above, clear of the label tag
    )
    for left, top in candidates:
        inside = left >= 0 and top >= 0 and left + panel_w < width and top + panel_h < height
        clear = left > x1 or left + panel_w < x0 or top > y1 or top + panel_h < y0 - label_h
        if inside and clear:
            return left, top
    return None


def _draw_landmarks(out: np.ndarray, landmarks: np.ndarray, color: BGR, step: int) -> None:
    """2x2-pixel dots set by array indexing: far cheaper than one cv2.circle per point."""
    height, width = out.shape[:2]
    points = np.asarray(landmarks)[:: max(1, step), :2]
    xs = np.round(points[:, 0]).astype(np.intp)
    ys = np.round(points[:, 1]).astype(np.intp)
    inside = (xs >= 0) & (xs < width - 1) & (ys >= 0) & (ys < height - 1)
    xs, ys = xs[inside], ys[inside]
    for dy in (0, 1):
        for dx in (0, 1):
            out[ys + dy, xs + dx] = color
