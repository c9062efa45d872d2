"""Per-track label stability: probabilities smoothed over *time*, and hysteresis on the label that is shown.

Single-frame predictions flicker (a smiling face read as happy, neutral, happy... at 4 changes a second), and a
per-frame moving average behaves differently at 15 and 60 fps. Here the probabilities follow an exponential
moving average with a time constant in seconds, computed from the frames' timestamps, and the shown label only
changes when a challenger leads the shown label by ``margin`` or has led it for ``hold_s`` seconds, or when the
shown label has fallen below half the leader's probability (so a label never sticks on a class the bars beside it
show as far smaller, as happens when no challenger keeps the lead long enough). For a new face's first time
constant the shown label is simply the smoothed leader: a face's first frames (the mesh just found it) are its
least sure, and holding on to their guess would keep a wrong first label for the hold time. The choice is
one of three named presets (``Stability``) so the app, the CLI and the benchmark speak of the same thing.

While a face talks, frames with parted lips weigh ``talk_weight`` in the average (``app.face.mouth``): the models
read a talking neutral face's open frames as surprise or fear, its frames between syllables as what they are.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from app.face.mouth import TALK_WINDOW_S, is_talking, talking_weight

# A talking face's frames with parted lips count 0.3 of a frame with closed lips. Replayed over the labelled clips
# (python -m training.clip_eval --every-frame-alike), the shipped poster-small shows the talking woman's neutral
# stretches as neutral 77% of the time instead of 31% (her smiles as happy 83% instead of 92%), and the smile seen
# from above, where nobody talks, as before; 0.2 and 0.5 score 78.4 and 71.3% on her clip against 79.3% (54.9% at 1).
TALK_WEIGHT = 0.3


@dataclass(frozen=True)
class Stability:
    """How firmly a shown label holds still.

    ``time_constant_s``: the probabilities' moving average forgets 63% of the past in this many seconds (0 = none).
    ``margin``: a challenger whose smoothed probability leads the shown label's by this much is shown at once.
    ``hold_s``: a challenger that has led by any amount for this long is shown too.
    ``stale_ratio``: the shown label gives way at once when its probability is below this share of the leader's.
    ``settle_margin``: for a new face's first time constant, when no hold applies yet, the lead a challenger needs.
    ``talk_weight``: while the face talks, a frame with parted lips counts this much in the average (1 = as any).
    """

    name: str
    time_constant_s: float
    margin: float
    hold_s: float
    stale_ratio: float = 0.5
    settle_margin: float = 0.1
    talk_weight: float = TALK_WEIGHT

    def __post_init__(self) -> None:
        if (self.time_constant_s < 0 or self.hold_s < 0 or not 0 <= self.margin <= 1
                or not 0 <= self.settle_margin <= 1 or not 0 < self.talk_weight <= 1):
            raise ValueError(f"invalid stability parameters: {self}")

    @property
    def switch_bound_s(self) -> float:
        """Longest wait for a clean, sustained change (one class at full confidence to another): the challenger
        leads after ``tau * ln 2`` and is shown at the latest ``hold_s`` later."""
        return self.time_constant_s * math.log(2) + self.hold_s

    def with_frame_smoothing(self, strength: float, fps: float = 30.0) -> Stability:
        """This preset with the old per-frame smoothing ``strength`` (0 to <1, each frame adds 1 - strength)
        turned into the time constant it had at ``fps``; used by the ``--smoothing`` option."""
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"smoothing strength must be in [0, 1), got {strength}")
        tau = 0.0 if strength == 0 else -1.0 / (fps * math.log(strength))
        return replace(self, name=f"{self.name}+smoothing {strength:g}", time_constant_s=tau)


# Chosen by measurement (python -m training.flicker; python -m training.stream_eval), with an earlier poster-small
# and kept for the shipped one: on the three shared clips its raw argmax changes 2.0-7.6 times a second, "balanced"
# holds them at 0.44-0.90 changes a second (0.44-0.80 with every frame alike, talk_weight 1) while a clear change
# still shows within 0.68 s (a 0.30 s time constant and hold gave 0.72-1.29 with the earlier model). On the stream
# benchmark (600 publictest faces, 12 frames each) the shipped poster-small scores 67.1% with it (67.2% with every
# frame alike), 67.7% raw and 69.0% as still images. In a new face's first time
# constant a challenger needs a 0.1 lead (settle_margin), and a face that takes over a live track weighs its first
# frame as one frame (_decayed_mean): with neither, the stream scored 66.9% and the clips 0.66-0.80 changes a
# second (training/README.md, "Evaluate").
PRESETS: dict[str, Stability] = {
    p.name: p
    for p in (
        Stability("responsive", time_constant_s=0.15, margin=0.30, hold_s=0.20),
        Stability("balanced", time_constant_s=0.40, margin=0.30, hold_s=0.40),
        Stability("steady", time_constant_s=0.40, margin=0.40, hold_s=0.70),
    )
}
DEFAULT_STABILITY = "balanced"
# the argmax, every frame
RAW = Stability("raw", time_constant_s=0.0, margin=0.0, hold_s=0.0, settle_margin=0.0, talk_weight=1.0)


def stability_preset(value: Stability | str | None = None) -> Stability:
    """A preset by name (None = the default); a ``Stability`` passes through."""
    if isinstance(value, Stability):
        return value
    name = value or DEFAULT_STABILITY
    if name not in PRESETS:
        raise ValueError(f"unknown stability preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass
class _TrackState:
    probs: np.ndarray  # the weighted mean of this face's frames so far (what is shown)
    time: float
    shown: int
    born: float = 0.0  # when this face's smoothing started (a new track, or a different face on it)
    challenger: int = -1
    challenger_since: float = 0.0
    weight: float = 1.0  # the decayed weight behind ``probs``; 0: the first frame's is set by the second frame
    openings: deque = field(default_factory=deque)  # (time, lip gap) over the last TALK_WINDOW_S
    talking_now: bool = False  # at the last frame

    def talking(self, timestamp: float, opening: float | None) -> bool:
        """Record this frame's lip gap (None: unknown) and say whether the face is talking."""
        if opening is None:
            self.talking_now = False
            return False
        self.openings.append((timestamp, opening))
        while timestamp - self.openings[0][0] > TALK_WINDOW_S:
            self.openings.popleft()
        self.talking_now = is_talking([gap for _, gap in self.openings])
        return self.talking_now


def _decayed_mean(state: _TrackState, probs: np.ndarray, keep: float, frame_weight: float = 1.0) -> np.ndarray:
    """Exponential smoothing that keeps the weight behind its mean (the bias correction of Adam-style moving
    averages), so that a mean started with a weight of 0 gives its first frame the weight of one frame.

    A new track starts from a fresh detection and its first frame starts the average (weight 1: plain smoothing).
    A different face taking over a live track (``restart``) does not: MediaPipe follows the previous face's
    landmarks into its first frames, and a plain average would still be 72% that frame a third of a time constant
    later; it starts at weight 0. Either way the weight tends to 1 and this becomes plain smoothing.
    ``frame_weight`` scales this frame's share (a talking face's open-lipped frames count less).
    """
    new = (1.0 - keep) * frame_weight
    if state.weight == 0.0:  # second frame: the first one counts as one frame of the same length
        state.weight = new
    total = keep * state.weight + new
    mean = (keep * state.weight * state.probs + new * probs) / total if total > 0 else probs
    state.weight = total
    return mean.astype(np.float32)


class LabelSmoother:
    """Smoothed probabilities and the shown label, per track id. Time comes from the caller (frame timestamps),
    so a file analysed slower than real time behaves as it would live."""

    def __init__(self, stability: Stability | str | None = None) -> None:
        self.stability = stability_preset(stability)
        self._state: dict[int, _TrackState] = {}

    def update(self, track_id: int, probs: np.ndarray, timestamp: float, restart: bool = False,
               mouth_opening: float | None = None) -> tuple[np.ndarray, int]:
        """Smoothed probabilities (float32) and the index of the label to show for this track at ``timestamp``;
        ``restart`` drops the track's past (a different face has taken it over: ``app.face.change``);
        ``mouth_opening`` (``app.face.mouth``) lets a talking face's open-lipped frames count less."""
        probs = np.asarray(probs, np.float32)
        state = self._state.get(track_id)
        # time running backwards (a seek, a new source) or another model's classes: start this track afresh
        if restart or state is None or timestamp < state.time or state.probs.shape != probs.shape:
            state = _TrackState(probs=probs.copy(), time=timestamp, shown=int(np.argmax(probs)), born=timestamp,
                                weight=0.0 if restart else 1.0)
            state.talking(timestamp, mouth_opening)
            self._state[track_id] = state
            return state.probs.copy(), state.shown
        st = self.stability
        tau = st.time_constant_s
        keep = math.exp(-(timestamp - state.time) / tau) if tau > 0 else 0.0
        weight = talking_weight(mouth_opening or 0.0, state.talking(timestamp, mouth_opening), st.talk_weight)
        state.probs = _decayed_mean(state, probs, keep, weight)
        state.time = timestamp
        leader = int(np.argmax(state.probs))
        if timestamp - state.born < tau:  # a new face's first frames are its least sure: a small lead suffices
            if leader != state.shown and state.probs[leader] - state.probs[state.shown] >= st.settle_margin:
                state.shown = leader
            state.challenger = -1
        elif leader == state.shown:
            state.challenger = -1
        else:
            if leader != state.challenger:
                state.challenger, state.challenger_since = leader, timestamp
            lead = float(state.probs[leader] - state.probs[state.shown])
            stale = state.probs[state.shown] < st.stale_ratio * state.probs[leader]
            if lead >= st.margin or stale or timestamp - state.challenger_since >= st.hold_s:
                state.shown, state.challenger = leader, -1
        return state.probs.copy(), state.shown

    def talking(self, track_id: int) -> bool:
        """Whether this track's face was talking at its last frame (its parted-lip frames then count less)."""
        state = self._state.get(track_id)
        return state is not None and state.talking_now

    def shown(self, track_id: int) -> int | None:
        """The label this track shows now (None for a track never seen), without new evidence."""
        state = self._state.get(track_id)
        return None if state is None else state.shown

    def forget(self, track_ids) -> None:
        for t in track_ids:
            self._state.pop(t, None)

    def reset(self) -> None:
        self._state.clear()
