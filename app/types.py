"""Plain data every stage speaks: a frame, a detected face, a classified face."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


def box_area(box: tuple[float, float, float, float]) -> float:
    """Area of an (x0, y0, x1, y1) box; 0 for an empty one."""
    x0, y0, x1, y1 = box
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@dataclass(frozen=True)
class Frame:
    """One BGR image from a source, with its position in the stream."""

    image: np.ndarray  # H x W x 3 uint8, BGR (OpenCV order)
    index: int
    timestamp: float  # seconds since the source started (media time for files)
    source: str = ""
    image_name: str = ""  # the file inside a folder (photo or video) or the photo a frame came from; else ""
    # time.perf_counter() when the frame was captured (read, or released by pacing): latency is measured from it
    captured_at: float = field(default_factory=time.perf_counter, compare=False)


@dataclass
class Face:
    """One face found by the face mesh, in frame pixel coordinates."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels, z in pixels (MediaPipe's relative depth * width)
    score: float = 1.0
    track_id: int = -1
    whole_image: bool = False  # not found: the whole image taken as the face (app.face.stills, --face-crops)

    @property
    def area(self) -> float:
        return box_area(self.box)


@dataclass
class FaceResult:
    """A tracked face with its (smoothed) class probabilities and the label to show.

    ``shown_index`` is the stable label the smoother decided on (it can differ from the argmax of
    ``probabilities`` while a challenger has not yet earned the switch); renderer, results files, UI and publishers
    all read ``label``, so they agree on it. Without a decision the label is the argmax.
    """

    track_id: int
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    probabilities: np.ndarray  # (C,) float32, sums to 1
    classes: tuple[str, ...]
    raw_probabilities: np.ndarray | None = None  # before temporal smoothing
    shown_index: int | None = None  # the stable label (see app.smoothing); None = argmax of probabilities
    new_face: bool = False  # a different face took this track over on this frame; smoothing started afresh
    mouth_opening: float | None = None  # lip gap in eye widths (app.face.mouth), which the smoother weighs
    talking: bool = False  # the face is talking: its frames with parted lips count less in the smoothing
    held: bool = False  # not found on this frame: its last box and label, kept a moment (app.pipeline.LOST_FACE_HOLD_S)
    whole_image: bool = False  # no face was found in this face-crop image: the model saw the whole image
    dim: bool = False  # darker than nearly all training faces: its label is less reliable (app.face.lighting)
    turned: bool = False  # turned more than 30 degrees to the side: its label is less reliable (app.face.pose)
    calibrated: bool = False  # its probabilities are weighed by a neutral calibration (app.neutral)

    @property
    def area(self) -> float:
        return box_area(self.box)

    @property
    def reported_raw(self) -> np.ndarray | None:
        """The raw probabilities as results files and live outputs report them: the model's own before smoothing,
        the smoothed ones where none was applied (stills), None for a held face (the model saw nothing new)."""
        if self.held:
            return None
        return self.probabilities if self.raw_probabilities is None else self.raw_probabilities

    @property
    def label_index(self) -> int:
        return int(np.argmax(self.probabilities)) if self.shown_index is None else self.shown_index

    @property
    def label(self) -> str:
        return self.classes[self.label_index]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.label_index])


@dataclass
class FrameResult:
    """Everything the pipeline knows about one frame."""

    frame: Frame
    faces: list[FaceResult] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    model_name: str = ""
    subject: int | None = None  # the track picked to follow (the app: a clicked face); None: the largest face
    # a person was picked and is not found on this frame: the single-subject views and outputs have no face
    subject_away: bool = False
    marks: tuple[str, ...] = ()  # events the operator marked on this frame (M in the app: "mark 1", "mark 2"...)


@dataclass(frozen=True)
class Mark:
    """One event mark with the frame it fell on (no image: outputs keep marks until they are sent)."""

    text: str
    timestamp: float  # the frame's, as in the CSV
    frame_index: int
    captured_at: float  # the frame's time.perf_counter() capture time (LSL stamps it on its clock)


def marks_of(result: FrameResult) -> list[Mark]:
    """The marks set on ``result``'s frame, each with that frame's time."""
    frame = result.frame
    return [Mark(text, float(frame.timestamp), int(frame.index), frame.captured_at) for text in result.marks]


def subject_face(faces: list[FaceResult], subject: int | None = None, away: bool = False) -> FaceResult | None:
    """The face single-subject views and outputs follow: track ``subject`` while it is among ``faces``, else the
    largest (the person nearest the camera), else None. ``away``: the person picked is out of view (None: another
    person is never taken for them)."""
    if away:
        return None
    picked = next((f for f in faces if f.track_id == subject), None) if subject is not None else None
    return picked or largest_face(faces)


def subject_track(result: FrameResult) -> int | None:
    """The ``track_id`` of the face the single-subject outputs follow (``subject_face``), None without a face:
    sent with all faces (WebSocket, JSONL, OSC) so that their receivers know which one the app follows."""
    face = subject_face(result.faces, result.subject, result.subject_away)
    return None if face is None else int(face.track_id)


def largest_face(faces: list[FaceResult]) -> FaceResult | None:
    """The face with the largest box (the subject single-face views and outputs follow), or None."""
    return max(faces, key=lambda f: f.area) if faces else None
