"""Which face the window's panel follows, and the worker's outputs and calibrations with it: the person clicked (or
picked with F), as the worker finds them again after they step out, a seek or a cut; else nobody picked (the
largest face). No Qt: the window passes the clicks and the results, and ``set_subject`` reaches the worker.
"""

from __future__ import annotations

from collections.abc import Callable

from app.types import FaceResult, FrameResult, subject_face
from app.ui.probability_panel import face_at, next_face

# Frames the worker may have analysed, or be analysing, when a face is clicked (its one-slot hand-over and the frame
# under way): until one comes back following the click, or this many have not, the click stands.
CLICK_IN_FLIGHT_FRAMES = 3


class FaceFollow:
    """``photo``, where a method takes it: the name of the photo shown in a folder of photos (None for video), since
    a face clicked there belongs to that photo only."""

    def __init__(self, set_subject: Callable[[int | None], None]) -> None:
        self._set_subject = set_subject
        self.track: int | None = None  # the followed person's track now (None: not picked, or out of view)
        self.following = False  # a person was picked and not let go: followed, or awaited while out of view
        self._in_flight = 0  # frames that may still come back without the face just picked
        self._photo: str | None = None  # the photo a face was picked in
        self._before_click: int | None = None  # to undo the first click of a double-click

    @property
    def awaited(self) -> bool:
        """A person was picked and is out of view: the panel and outputs show nobody else meanwhile."""
        return self.following and self.track is None

    def select(self, track_id: int | None, photo: str | None = None) -> None:
        """Follow face ``track_id`` (None: let go, the largest face again)."""
        self._photo = photo if track_id is not None else None
        self.track, self._in_flight = track_id, CLICK_IN_FLIGHT_FRAMES
        self.following = track_id is not None
        self._set_subject(track_id)

    def click(self, faces: list[FaceResult], x: float, y: float, photo: str | None = None) -> None:
        """A click on the picture at frame point (``x``, ``y``): the face there, or beside every face, let go."""
        face = face_at(faces, x, y)
        self._before_click = self.track
        self.select(face.track_id if face else None, photo)

    def undo_click(self, photo: str | None = None) -> None:
        """A double-click's first click chose nothing: the face followed before it is followed again."""
        self.select(self._before_click, photo)

    def next(self, faces: list[FaceResult], photo: str | None = None) -> None:
        """F: the next face from the left; after the rightmost, let go."""
        self.select(next_face(faces, self.track), photo)

    def take(self, result: FrameResult) -> None:
        """Each frame shown: the followed person's track as the worker found it (it changes when they step out and
        back or after a seek, and is None while they are not found). Frames analysed before the click reached the
        worker still carry the last one and are not taken for a change. A face picked in one photo is nobody in
        the next."""
        if self._photo is not None and result.frame.image_name != self._photo:
            self.select(None)
        if self._in_flight and result.subject != self.track:
            self._in_flight -= 1
            return
        self._in_flight = 0
        self.track = result.subject

    def shown(self, faces: list[FaceResult]) -> FaceResult | None:
        """The face the panel shows: the followed person's, None while they are awaited, else the largest."""
        return subject_face(faces, self.track, away=self.awaited)
