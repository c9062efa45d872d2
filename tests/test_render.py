"""Drawing: on a copy, coloured by expression, kept inside the frame, and fast enough for live video."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from app.labels import EXPRESSIONS
from app.render import EXPRESSION_COLORS, FALLBACK_COLOR, RenderOptions, color_for, render
from app.types import FaceResult

GREY = 90


def blank(width: int = 640, height: int = 480) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


def face(box, label: str = "happy", track_id: int = 1, classes=EXPRESSIONS, seed: int = 0) -> FaceResult:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(classes)) * 0.3).astype(np.float32)
    probs[list(classes).index(label)] += 2.0  # make ``label`` the winner
    probs /= probs.sum()
    x0, y0, x1, y1 = box
    landmarks = np.column_stack([rng.uniform(x0, x1, 478), rng.uniform(y0, y1, 478), np.zeros(478)]).astype(np.float32)
    return FaceResult(track_id, tuple(float(v) for v in box), landmarks, probs, tuple(classes))


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


def test_render_draws_on_a_copy():
    frame = blank()
    before = frame.copy()
    out = render(frame, [face((200, 150, 360, 330))])
    assert out is not frame and out.shape == frame.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(frame, before)  # the input is untouched
    diff = changed(out, frame)
    assert diff[150:331, 200:361].any()  # box, label and track id
    assert not diff[400:, :100].any()  # far from the face nothing changes


def test_box_has_the_expression_colour_and_unknown_classes_a_fallback():
    out = render(blank(), [face((200, 150, 360, 330), "sad")], RenderOptions(labels=False, bars=False))
    assert tuple(int(v) for v in out[240, 200]) == EXPRESSION_COLORS["sad"]
    classes = ("happy", "contempt")
    out = render(blank(), [face((200, 150, 360, 330), "contempt", classes=classes)], RenderOptions(bars=False))
    assert tuple(int(v) for v in out[240, 200]) == FALLBACK_COLOR == color_for("contempt")
    assert set(EXPRESSIONS) <= set(EXPRESSION_COLORS)


@pytest.mark.parametrize("part", ["labels", "bars"])
@pytest.mark.parametrize("box", [(0, 0, 120, 120), (520, 360, 639, 479), (-30, -30, 700, 520), (300, 0, 340, 30)])
def test_labels_and_bars_stay_whole_inside_the_frame(box, part):
    """Near an edge a tag or panel is moved inside, never clipped: it covers as many pixels as in mid-frame."""
    options = RenderOptions(boxes=False, labels=part == "labels", bars=part == "bars")
    middle = changed(render(blank(), [face((250, 180, 350, 300))], options), blank()).sum()
    at_edge = changed(render(blank(), [face(box)], options), blank()).sum()
    assert at_edge == middle > 0


def test_options_switch_parts_off_and_on():
    f = face((100, 150, 260, 330))
    none = render(blank(), [f], RenderOptions(boxes=False, labels=False, bars=False, landmarks=False))
    np.testing.assert_array_equal(none, blank())
    bars = render(blank(), [f], RenderOptions(boxes=False, labels=False, bars=True))
    assert changed(bars, blank())[150:300, 265:400].any()  # panel right of the box
    dots = render(blank(), [f], RenderOptions(boxes=False, labels=False, bars=False, landmarks=True))
    assert 50 < changed(dots, blank()).sum() < 2000  # small dots, subsampled


def test_panel_moves_left_when_there_is_no_room_on_the_right():
    out = render(blank(), [face((500, 100, 630, 260))], RenderOptions(boxes=False, labels=False))
    diff = changed(out, blank())
    assert diff[100:260, 350:500].any() and not diff[:, 630:].any()


def test_render_is_fast_at_640x480():
    frame = blank()
    faces = [face((40 + 200 * i, 120, 180 + 200 * i, 300), EXPRESSIONS[i], i, seed=i) for i in range(3)]
    options = RenderOptions(landmarks=True)
    render(frame, faces, options)  # warm caches
    times = []
    for _ in range(30):
        start = time.perf_counter()
        render(frame, faces, options)
        times.append(time.perf_counter() - start)
    per_face_ms = 1000 * float(np.median(times)) / len(faces)
    assert per_face_ms < 2.0, f"{per_face_ms:.2f} ms per face"


@pytest.mark.parametrize("box", [(40, 180, 320, 470), (20, 60, 340, 420), (30, 300, 330, 630)])
def test_bar_panel_stays_off_the_face_on_portrait_video(box):
    """A portrait frame has no room beside a close face: the panel goes below or above it, never over the face."""
    frame = blank(360, 640)
    out = render(frame, [face(box)], RenderOptions(boxes=False, labels=False, bars=True))
    diff = changed(out, frame)
    x0, y0, x1, y1 = box
    assert diff.any()
    assert not diff[y0 : y1 + 1, x0 : x1 + 1].any()


def test_a_small_frame_is_drawn_enlarged_so_the_label_leaves_the_face_visible():
    """A 48 px dataset crop: drawn at its own size, the label tag alone would cover a third of the face."""
    frame = np.full((48, 48, 3), 100, np.uint8)
    crop_face = face((2, 2, 46, 46))
    out = render(frame, [crop_face])
    assert out.shape == (480, 480, 3)
    np.testing.assert_array_equal(frame, np.full((48, 48, 3), 100, np.uint8))  # the input is untouched
    boxed = render(frame, [crop_face], RenderOptions(labels=False, bars=False))
    assert tuple(int(v) for v in boxed[240, 20]) == color_for(crop_face.label)  # the box at 10x: x 20, not 2
    tagged = changed(render(frame, [crop_face], RenderOptions(boxes=False, bars=False)),
                     cv2.resize(frame, (480, 480), interpolation=cv2.INTER_CUBIC))
    assert tagged.mean() < 0.1  # the tag covers under a tenth of the enlarged crop
    wide = np.full((120, 200, 3), 100, np.uint8)  # a 200x120 camera: short side 120 -> 480
    assert render(wide, []).shape == (480, 800, 3)
    assert render(blank(), []).shape == blank().shape  # a camera-sized frame keeps its size


def test_the_selected_face_gets_a_heavier_box_in_a_white_frame():
    """The face clicked in the app (followed by the panel and the outputs) is marked; the others are drawn as
    before, and with boxes off only the selected one keeps a box."""
    faces = [face((100, 100, 220, 240), track_id=1), face((360, 120, 460, 230), "sad", track_id=2, seed=1)]
    plain = render(blank(), faces)
    marked = render(blank(), faces, selected=2)
    assert (marked[130:220, 352:356] > 200).all(axis=2).any(axis=1).all()  # a white line left of face 2, all along
    assert not (plain[130:220, 352:356] > 200).all(axis=2).any()
    assert np.array_equal(marked[80:260, 80:240], plain[80:260, 80:240])  # face 1 unchanged
    sad = np.array(color_for("sad"))
    heavy = np.all(marked[175, 355:366] == sad, axis=1).sum()
    assert heavy > np.all(plain[175, 355:366] == sad, axis=1).sum()  # a thicker left edge
    no_boxes = render(blank(), faces, RenderOptions(boxes=False, bars=False, labels=False), selected=2)
    assert np.all(no_boxes[175, 350:370] == sad, axis=1).any() and (no_boxes[175, 90:110] == GREY).all()
