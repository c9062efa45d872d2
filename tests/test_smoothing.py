"""Label stability on synthetic probability sequences: the same behaviour in time at 15 and 60 fps, hysteresis that
needs a margin or a lead held for a while, and a real sustained change shown within the preset's bound."""

import math
from dataclasses import replace

import numpy as np
import pytest

from app.smoothing import DEFAULT_STABILITY, PRESETS, LabelSmoother, Stability, stability_preset
from app.types import FaceResult

HAPPY = np.array([0.05, 0.85, 0.10], np.float32)  # classes: 0 neutral, 1 happy, 2 sad
NEUTRAL = np.array([0.85, 0.05, 0.10], np.float32)


def run(smoother: LabelSmoother, fps: float, seconds: float, probs_at) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feed ``probs_at(t)`` at ``fps`` for ``seconds``; returns timestamps, smoothed probabilities, shown labels."""
    times = np.arange(int(round(seconds * fps))) / fps
    smoothed, shown = [], []
    for t in times:
        s, label = smoother.update(1, probs_at(t), float(t))
        smoothed.append(s)
        shown.append(label)
    return times, np.array(smoothed), np.array(shown)


def step(before: np.ndarray, after: np.ndarray, at: float):
    return lambda t: before if t < at else after


def first_switch(times: np.ndarray, shown: np.ndarray, to: int, after: float = 0.0) -> float:
    hits = np.where((shown == to) & (times >= after))[0]
    assert len(hits), "the label never switched"
    return float(times[hits[0]])


@pytest.mark.parametrize("preset", list(PRESETS))
def test_same_behaviour_in_time_at_15_and_60_fps(preset):
    change = 1.0
    results = {fps: run(LabelSmoother(preset), fps, 3.0, step(NEUTRAL, HAPPY, change)) for fps in (15, 60)}
    t15, s15, l15 = results[15]
    t60, s60, l60 = results[60]
    # at the shared instants (every 4th frame at 60 fps) the averaged probabilities agree to within one frame at
    # 15 fps: each sample stands for the interval before it, so a step is seen up to one frame period earlier
    at60 = s60[::4][1:]
    low, high = np.minimum(s15[:-1], s15[1:]), np.maximum(s15[:-1], s15[1:])
    assert ((at60 >= low - 1e-5) & (at60 <= high + 1e-5)).all()
    # and the label switches at the same time, give or take one frame at the lower rate
    assert abs(first_switch(t15, l15, 1, change) - first_switch(t60, l60, 1, change)) <= 1 / 15 + 1e-9


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("fps", [15, 60])
def test_a_real_sustained_change_shows_within_the_presets_bound(preset, fps):
    stability = PRESETS[preset]
    change = 1.0
    times, _, shown = run(LabelSmoother(preset), fps, 1.0 + stability.switch_bound_s + 1.0,
                          step(NEUTRAL, HAPPY, change))
    assert (shown[times < change] == 0).all()
    delay = first_switch(times, shown, 1, change) - change
    assert delay <= stability.switch_bound_s + 1 / fps + 1e-9
    assert (shown[times >= change + delay] == 1).all()  # and it stays


@pytest.mark.parametrize("fps", [15, 60])
def test_a_small_lead_must_be_held_before_it_is_shown(fps):
    """A challenger leading by less than the margin is shown only after leading for ``hold_s``."""
    stability = Stability("test", time_constant_s=0.2, margin=0.3, hold_s=0.5)
    slightly_neutral = np.array([0.45, 0.40, 0.15], np.float32)
    slightly_happy = np.array([0.40, 0.45, 0.15], np.float32)
    times, smoothed, shown = run(LabelSmoother(stability), fps, 3.0, step(slightly_neutral, slightly_happy, 1.0))
    leads_from = times[np.argmax((times >= 1.0) & (smoothed[:, 1] > smoothed[:, 0]))]
    switched = first_switch(times, shown, 1, 1.0)
    assert stability.hold_s - 1e-9 <= switched - leads_from <= stability.hold_s + 1 / fps + 1e-9


@pytest.mark.parametrize("fps", [15, 60])
def test_brief_flicker_never_reaches_the_shown_label(fps):
    """The model's argmax flips between neutral and happy every 0.1 s; no preset shows a single change, where the
    raw argmax changes about 10 times a second."""
    flicker = lambda t: NEUTRAL if int(t / 0.1) % 2 == 0 else np.array([0.35, 0.55, 0.10], np.float32)  # noqa: E731
    for preset in PRESETS:
        times, _, shown = run(LabelSmoother(preset), fps, 5.0, flicker)
        assert (shown == 0).all(), preset
    raw = np.array([np.argmax(flicker(t)) for t in times])
    assert np.count_nonzero(np.diff(raw)) > 40


def test_time_running_backwards_restarts_the_track():
    smoother = LabelSmoother("steady")
    run(smoother, 30, 2.0, lambda t: NEUTRAL)
    probs, shown = smoother.update(1, HAPPY, 0.0)  # a seek back to the start, or a new source
    np.testing.assert_allclose(probs, HAPPY)
    assert shown == 1


def test_tracks_are_independent_and_forgotten():
    smoother = LabelSmoother("steady")
    smoother.update(1, NEUTRAL, 0.0)
    _, shown = smoother.update(2, HAPPY, 0.0)
    assert shown == 1
    smoother.forget([1])
    _, shown = smoother.update(1, HAPPY, 0.1)
    assert shown == 1


def test_old_frame_smoothing_maps_to_its_time_constant_at_30_fps():
    stability = stability_preset("balanced").with_frame_smoothing(0.5)
    assert stability.time_constant_s == pytest.approx(1 / (30 * math.log(2)))
    smoother = LabelSmoother(stability)
    for i in range(30):  # a second: many time constants, past the first frames' start-up
        smoother.update(1, np.array([1.0, 0.0], np.float32), i / 30)
    probs, _ = smoother.update(1, np.array([0.0, 1.0], np.float32), 1.0)
    np.testing.assert_allclose(probs, [0.5, 0.5], atol=1e-6)
    assert stability_preset("balanced").with_frame_smoothing(0.0).time_constant_s == 0.0


def test_presets_and_their_order():
    assert DEFAULT_STABILITY in PRESETS
    bounds = [PRESETS[n].switch_bound_s for n in ("responsive", "balanced", "steady")]
    assert bounds == sorted(bounds)
    with pytest.raises(ValueError, match="unknown stability preset"):
        stability_preset("wobbly")


def test_the_result_shows_the_stable_label_not_the_argmax():
    face = FaceResult(track_id=1, box=(0, 0, 1, 1), landmarks=np.zeros((478, 3), np.float32),
                      probabilities=np.array([0.4, 0.6], np.float32), classes=("neutral", "happy"), shown_index=0)
    assert face.label == "neutral"
    assert face.confidence == pytest.approx(0.4)
    face.shown_index = None
    assert face.label == "happy"


@pytest.mark.parametrize("fps", [15, 60])
def test_a_label_never_sticks_far_below_the_leader(fps):
    """Once happy has faded and fear and surprise take turns at the top (neither long enough to be held, neither
    leading by the margin), the stale happy label still gives way instead of showing beside much larger bars."""
    probs = np.array([0.05, 0.85, 0.05, 0.05], np.float32)  # classes: 0 neutral, 1 happy, 2 fear, 3 surprise

    def fading(t: float) -> np.ndarray:
        if t < 1.0:
            return probs
        fear_turn = int((t - 1.0) / 0.2) % 2 == 0
        return np.array([0.25, 0.10, 0.35 if fear_turn else 0.30, 0.30 if fear_turn else 0.35], np.float32)

    stability = Stability("test", time_constant_s=0.15, margin=0.3, hold_s=0.5)
    times, smoothed, shown = run(LabelSmoother(stability), fps, 3.0, fading)
    late = times >= 2.0
    assert (shown[late] != 1).all()
    shown_p = smoothed[np.arange(len(shown)), shown]
    assert (shown_p[late] >= stability.stale_ratio * smoothed[late].max(1) - 1e-6).all()


def test_restart_drops_the_past_of_a_track():
    """A different face on the same track (``app.face.change``) is labelled from its own first frame."""
    smoother = LabelSmoother("steady")
    happy, sad = np.eye(7, dtype=np.float32)[3], np.eye(7, dtype=np.float32)[4]
    for i in range(30):
        smoother.update(1, happy, i / 30)
    probs, shown = smoother.update(1, sad, 1.0)
    assert shown == 3  # steady holds the old label against one frame
    probs, shown = smoother.update(1, sad, 1.0 + 1 / 30, restart=True)
    assert shown == 4 and np.allclose(probs, sad)


@pytest.mark.parametrize("fps", [15, 30, 60])
def test_a_face_taking_over_a_track_weighs_its_first_frame_as_one_frame(fps):
    """A different face takes over a live track (a cut): its first frame (landmarks still the last face's) says
    angry, every later one happy. A third of a time constant on, the mean is happy's and shows it; a brand-new
    track's first frame, a fresh detection, starts the average as plain smoothing does (still 72% angry)."""
    preset = stability_preset("balanced")
    angry, happy = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    frames = max(2, round(preset.time_constant_s / 3 * fps))
    keep = math.exp(-1 / (fps * preset.time_constant_s))
    for restart in (True, False):
        smoother = LabelSmoother(preset)
        smoother.update(1, happy, -1 / fps)  # the face before the cut
        smoother.update(1, angry, 0.0, restart=restart)
        if not restart:
            smoother.forget([1])
            smoother.update(1, angry, 0.0)  # a new track
        for i in range(1, frames + 1):
            probs, shown = smoother.update(1, happy, i / fps)
        if restart:
            expected_angry = keep**frames / sum(keep**k for k in range(frames + 1))
            assert probs[0] == pytest.approx(expected_angry, abs=1e-5) and probs[0] < 0.4 and shown == 1
        else:
            assert probs[0] == pytest.approx(keep**frames, abs=1e-5) and probs[0] > 0.6 and shown == 0


def test_a_new_face_near_a_tie_keeps_its_label_until_a_clear_lead():
    """In a new face's first time constant no hold applies yet, but a challenger still needs a small lead
    (``settle_margin``): a near-tie that tips back and forth does not flip the label; a clear change does."""
    preset = stability_preset("balanced")
    smoother = LabelSmoother(preset)
    _, shown = smoother.update(1, np.array([0.52, 0.48], np.float32), 0.0)
    assert shown == 0
    t = 0.0
    for _ in range(3):  # class 1 ahead by a few points: the mean tips to it, by less than the settle margin
        t += 1 / 30
        probs, shown = smoother.update(1, np.array([0.40, 0.60], np.float32), t)
    assert probs[1] > probs[0] and shown == 0
    while shown == 0:
        t += 1 / 30
        probs, shown = smoother.update(1, np.array([0.1, 0.9], np.float32), t)
    assert t < preset.time_constant_s and probs[1] - probs[0] >= preset.settle_margin


def face_landmarks(lip_gap: float, eye_width: float = 100.0, angle: float = 0.0) -> np.ndarray:
    """478 points, all at the centre but the outer eye corners and the inner lips, rotated by ``angle``."""
    from app.face.mouth import LEFT_EYE_OUTER, LOWER_LIP_INNER, RIGHT_EYE_OUTER, UPPER_LIP_INNER

    pts = np.zeros((478, 3), np.float32)
    pts[RIGHT_EYE_OUTER, :2] = (-eye_width / 2, 0)
    pts[LEFT_EYE_OUTER, :2] = (eye_width / 2, 0)
    pts[UPPER_LIP_INNER, :2] = (0, eye_width * 0.6)
    pts[LOWER_LIP_INNER, :2] = (0, eye_width * 0.6 + lip_gap * eye_width)
    c, s = math.cos(angle), math.sin(angle)
    pts[:, :2] = pts[:, :2] @ np.array([[c, -s], [s, c]], np.float32).T + 320
    return pts


@pytest.mark.parametrize("eye_width,angle", [(100.0, 0.0), (37.0, 0.5), (400.0, -1.2)])
def test_mouth_opening_is_the_lip_gap_in_eye_widths(eye_width, angle):
    from app.face.mouth import mouth_opening

    assert mouth_opening(face_landmarks(0.2, eye_width, angle)) == pytest.approx(0.2, abs=1e-4)
    assert mouth_opening(face_landmarks(0.0, eye_width, angle)) == pytest.approx(0.0, abs=1e-4)


SURPRISE = np.array([0.30, 0.05, 0.65], np.float32)  # here class 2 stands for the open-mouthed reading


def talking_run(stability: Stability, fps: float, seconds: float = 3.0, opening_of=None,
                smoother: LabelSmoother | None = None):
    """A talking neutral face: lips apart 60% of the time in a 4 Hz syllable rhythm, read as the open-mouthed
    class whenever they are apart and as neutral whenever they are closed."""
    smoother = smoother or LabelSmoother(stability)
    shown = []
    for t in np.arange(int(seconds * fps)) / fps:
        apart = (t * 4.0) % 1.0 < 0.6
        opening = 0.2 if apart else 0.01
        shown.append(smoother.update(1, SURPRISE if apart else NEUTRAL, float(t),
                                     mouth_opening=opening if opening_of is None else opening_of(opening))[1])
    return np.array(shown)


@pytest.mark.parametrize("fps", [15, 60])
def test_a_talking_faces_open_lipped_frames_count_less(fps):
    balanced = PRESETS["balanced"]
    smoother = LabelSmoother(balanced)
    assert not smoother.talking(1)
    weighted = talking_run(balanced, fps, smoother=smoother)
    assert smoother.talking(1)  # what the app shows beside the label
    unweighted = talking_run(replace(balanced, talk_weight=1.0), fps)
    settled = slice(fps, None)  # after the first second
    assert (weighted[settled] == 0).mean() > 0.9  # neutral
    assert (unweighted[settled] == 2).mean() > 0.9  # the open frames outnumber the closed ones
    # no lip gap known (a caller without landmarks): every frame counts the same
    assert (talking_run(balanced, fps, opening_of=lambda _: None)[settled] == 2).mean() > 0.9


def test_a_steady_open_mouth_is_not_talking():
    """A held gasp or a wide smile keeps its lips apart without the swing of speech: every frame counts fully."""
    from app.face.mouth import is_talking, talking_weight

    stability = PRESETS["balanced"]
    plain, gasping = LabelSmoother(stability), LabelSmoother(stability)
    rng = np.random.default_rng(0)
    for t in np.arange(60) / 30:
        p = rng.dirichlet(np.ones(3)).astype(np.float32)
        a = plain.update(1, p, float(t))
        b = gasping.update(1, p, float(t), mouth_opening=0.3 + 0.02 * math.sin(9 * t))
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
        assert a[1] == b[1]
    assert not is_talking([0.3, 0.32, 0.29, 0.31]) and not is_talking([0.01, 0.2])  # too few to tell
    assert is_talking([0.01, 0.2, 0.02]) and is_talking([0.2, 0.01, 0.03, 0.2])  # a swing either way
    assert not is_talking([0.01, 0.02, 0.2, 0.22, 0.21])  # lips parting into a held gasp: one step
    assert talking_weight(0.02, True, 0.3) == 1.0 and talking_weight(0.3, True, 0.3) == 0.3
    assert talking_weight(0.3, False, 0.3) == 1.0 and talking_weight(0.3, True, 1.0) == 1.0


def test_a_restart_forgets_the_talking():
    """A different face on the track starts with no lip history, so its first frames count fully."""
    smoother = LabelSmoother(PRESETS["balanced"])
    for i, gap in enumerate([0.01, 0.2, 0.01, 0.2, 0.01, 0.2]):
        smoother.update(1, NEUTRAL, i / 30, mouth_opening=gap)
    assert smoother._state[1].talking(6 / 30, 0.2)
    smoother.update(1, SURPRISE, 7 / 30, restart=True, mouth_opening=0.2)
    assert [gap for _, gap in smoother._state[1].openings] == [0.2]


def test_talk_weight_must_be_a_share():
    with pytest.raises(ValueError):
        replace(PRESETS["balanced"], talk_weight=0.0)
    with pytest.raises(ValueError):
        replace(PRESETS["balanced"], talk_weight=1.5)
