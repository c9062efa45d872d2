"""Neutral calibration: a few seconds of a person's relaxed face, so that their neutral reads as neutral.

A model reads some resting faces as an expression: a mouth that turns down as sad, a talking face's open mouth and
raised brows as surprise or fear, a face lit from above as sad. The bias belongs to the person and the camera, and
stays while they sit there. Calibration learns the mean probabilities ``b`` the model gives the person's resting
face and weighs every later frame's probabilities by ``(r / b) ** STRENGTH`` (renormalised), where ``r`` is what the
model gives a typical neutral face (its card's ``neutral_reference``: the mean over AffectNet valid's neutral
faces). The resting face then reads close to ``r``, and a real expression still wins: its class's probability
rises far above the resting face's.

Measured on the labelled clip whose talking woman's neutral reads as fear and surprise (``python -m
training.neutral_reference``: calibrated on the first seconds of one of her neutral stretches, scored on the clip's
other labelled frames, ``balanced``): the default gains 0.4 and 10.6 points (81.2 and 88.3%; neutral recall up 8 and
22 points, happy down 5 and 1), the other models -0.4 to +27. One clip of one person: it is opt-in.

A calibration belongs to one person: ``FacePipeline`` applies it to one face only (the subject, a clicked face or
else the largest, when it starts; once that track ends, only a face that looks like that person,
``app.face.person``). Several people can each have their own (``CalibratedPeople``); calibrating a person again
replaces theirs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from app.errors import FerliveError
from app.face.person import FollowedPerson
from app.types import FaceResult, subject_face

CALIBRATION_S = 3.0  # how long the person holds a relaxed face
MIN_FRAMES = 10  # frames with the face found, within that time, for a mean worth trusting
STRENGTH = 0.5  # the exponent on r / b: half the full correction (1 moved happy faces to neutral on the clip)
WEIGHT_RANGE = (0.1, 10.0)  # no class is ever weighed more than 10x up or down
# a smile is not a resting face: calibrating on one would make happy hard to show for the rest of the session
SMILE_LIMIT = 0.5
# where a card has no measured reference: about the neutral share of the shipped models' own (0.54-0.61)
GENERIC_NEUTRAL = 0.6
# people calibrated at once; a new one beyond this replaces the oldest (each person not in view is looked for on
# every frame, a few microseconds each)
MAX_CALIBRATED_PEOPLE = 8


class CalibrationError(FerliveError):
    """The seconds given to calibration cannot make one (no face, too few frames, a smile): the message says why."""


def generic_reference(classes: tuple[str, ...]) -> np.ndarray:
    """``GENERIC_NEUTRAL`` on neutral and the rest shared evenly: for a model whose card measured no reference."""
    if "neutral" not in classes:
        raise CalibrationError("this model has no neutral class to calibrate towards")
    ref = np.full(len(classes), (1.0 - GENERIC_NEUTRAL) / (len(classes) - 1), np.float32)
    ref[classes.index("neutral")] = GENERIC_NEUTRAL
    return ref


@dataclass(frozen=True)
class NeutralCalibration:
    """The weights that turn a person's resting face into a typical neutral one, and what they were learnt from."""

    classes: tuple[str, ...]
    baseline: np.ndarray  # (C,) the model's mean probabilities on the resting face
    weights: np.ndarray  # (C,) what every later frame's probabilities are multiplied by (then renormalised)
    frames: int
    model: str = ""

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """``probs`` (C,) or (N, C), weighed and renormalised, float32."""
        weighed = np.asarray(probs, np.float32) * self.weights
        return (weighed / np.maximum(weighed.sum(axis=-1, keepdims=True), 1e-12)).astype(np.float32)

    def describe(self) -> str:
        """What the resting face read as, for the person: "neutral 24%, fear 27%, surprise 24%"."""
        order = np.argsort(-self.baseline)[:3]
        return ", ".join(f"{self.classes[i]} {100 * self.baseline[i]:.0f}%" for i in order)


def learn_neutral(probabilities: np.ndarray, classes: tuple[str, ...], reference: np.ndarray | None = None,
                  model: str = "") -> NeutralCalibration:
    """The calibration for a resting face the model gave ``probabilities`` (N, C) over ``CALIBRATION_S``;
    ``reference``: the card's ``neutral_reference`` (None: ``generic_reference``). Raises ``CalibrationError``."""
    classes = tuple(classes)
    ref = generic_reference(classes) if reference is None else np.asarray(reference, np.float32)
    probs = np.asarray(probabilities, np.float32).reshape(-1, len(classes))
    if len(probs) < MIN_FRAMES:
        raise CalibrationError(f"the face was found on {len(probs)} frames of the {CALIBRATION_S:g} s "
                               f"(at least {MIN_FRAMES} needed): face the camera and calibrate again")
    baseline = probs.mean(axis=0)
    if "happy" in classes and baseline[classes.index("happy")] > SMILE_LIMIT:
        raise CalibrationError(f"the face read as happy ({100 * baseline[classes.index('happy')]:.0f}%): "
                               f"relax it, no smile, and calibrate again")
    weights = np.clip((ref / np.maximum(baseline, 1e-6)) ** STRENGTH, *WEIGHT_RANGE).astype(np.float32)
    return NeutralCalibration(classes, baseline.astype(np.float32), weights, len(probs), model)


class NeutralCollector:
    """Gathers the subject's raw probabilities (the picked face, else the largest) for ``seconds`` of frame time,
    then learns from them."""

    def __init__(self, seconds: float = CALIBRATION_S) -> None:
        self.seconds = seconds
        self._start: float | None = None
        self._last = float("-inf")
        self._probs: list[np.ndarray] = []
        self.track: int | None = None  # the track of the face last fed: the person being calibrated

    def feed_faces(self, timestamp: float, faces: list[FaceResult], subject: int | None = None,
                   away: bool = False) -> bool:
        """``feed`` with the subject the model saw on this frame: track ``subject`` if it was seen, else the largest
        face seen (a held face was not seen again)."""
        face = subject_face([f for f in faces if not f.held], subject, away)
        if face is not None:
            self.track = face.track_id
        return self.feed(timestamp, None if face is None else face.raw_probabilities)

    def feed(self, timestamp: float, raw: np.ndarray | None) -> bool:
        """One frame (``raw``: the subject's raw probabilities, None without a face); True once the time is up."""
        if self._start is None or timestamp < self._last:  # the first frame, or time ran backwards (a seek)
            self._start, self._probs = timestamp, []
        self._last = timestamp
        if raw is not None:
            self._probs.append(np.asarray(raw, np.float32))
        return timestamp - self._start >= self.seconds

    def learn(self, classes: tuple[str, ...], reference: np.ndarray | None = None,
              model: str = "") -> NeutralCalibration:
        return learn_neutral(np.array(self._probs).reshape(-1, len(classes)), classes, reference, model)


class CalibratedPeople:
    """Which face each neutral calibration weighs. Each belongs to the person it was learnt on: it binds to the
    subject's face (the clicked face, else the largest) on the first frame it is applied, and follows that person
    (``FollowedPerson``: the same track, else the face that looks like them). A face is weighed by one calibration
    at most: people still on their track keep it, and those being looked for take only faces nobody else has."""

    def __init__(self) -> None:
        self._people: list[tuple[NeutralCalibration, FollowedPerson | None]] = []

    def assign(self, calibrations: tuple[NeutralCalibration, ...], faces: list, gone, looks,
               subject: int | None) -> dict[int, NeutralCalibration]:
        """Track -> the calibration that weighs it on this frame. ``calibrations``: those in force (a person whose
        calibration is not among them is forgotten); ``faces``, ``gone`` and ``looks`` as ``FollowedPerson.find``;
        ``subject``: the track a calibration new to this frame binds to."""
        known = {id(c): person for c, person in self._people}
        self._people = [(c, known.get(id(c))) for c in calibrations]
        weighed: dict[int, NeutralCalibration] = {}
        for i in sorted(range(len(self._people)), key=lambda i: self._people[i][1] is None or
                        self._people[i][1].track is None):  # people on their track first
            calibration, person = self._people[i]
            if (person is None or person.track is None and not person.known_by_look) and subject is not None \
                    and subject not in weighed:  # nobody seen yet: the face it was learnt on
                person = FollowedPerson(subject)
                self._people[i] = (calibration, person)
            if person is None:
                continue
            track = person.find([f for f in faces if f.track_id not in weighed], gone, looks)
            if track is not None and track not in weighed:
                weighed[track] = calibration
        return weighed

    def learn(self, track_id: int, look) -> None:
        """The look of face ``track_id`` on this frame, for the person it belongs to."""
        for _, person in self._people:
            if person is not None and person.track == track_id:
                person.learn(look)

    def track_of(self, calibration: NeutralCalibration) -> int | None:
        """The track ``calibration`` weighs now (None: its person is not in view)."""
        return next((p.track for c, p in self._people if c is calibration and p is not None), None)

    def lose_tracks(self, mirrored: bool = False) -> None:
        """Tracks start again (a seek): the people are found again by their looks; ``mirrored``: because the picture
        was mirrored (``FollowedPerson.mirror``)."""
        for _, person in self._people:
            if person is not None:
                person.lose_track()
                if mirrored:
                    person.mirror()

    def __deepcopy__(self, memo: dict) -> CalibratedPeople:
        """The people copied, the calibrations (never changed once learnt) shared: ``track_of`` and ``assign`` know
        them by identity."""
        twin = CalibratedPeople()
        twin._people = [(c, copy.deepcopy(p, memo)) for c, p in self._people]
        return twin
