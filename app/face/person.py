"""One person followed across tracks: the face a person clicked, or the face a neutral calibration was learnt on.

A track lasts while the tracker keeps the face in view. It ends when the person steps out, turns away or is hidden
for longer than the tracker waits, and after a seek or a mirror toggle every track starts again, its number reused
for whoever is found first. What stays the same is the person's look: ``FollowedPerson`` sums the looks of the
faces on its track (``app.face.change.signature``, compared by the change detector anyway) and, once the track is
gone, takes the face whose look correlates best with that mean look, at ``SAME_PERSON`` or more, as the person
back; while none does, it follows nobody.
"""

from __future__ import annotations

import numpy as np

from app.face.change import SIGNATURE_SIZE

# A face whose look correlates this well with a person's mean look is taken to be that person back. In
# woman_smile_neutral.mp4 her own faces (smiles, talk) correlate 0.54-0.92 (5th-95th percentile) with the mean look
# of three seconds of her resting face, all at 0.5 or more; the athlete of interview_50s.mp4 and the woman of
# woman_phone_night.mp4 none (medians 0.28 and 0.11). It is the change detector's own threshold too: two different
# people at one place correlate at 0.5 or more on 0.7% of the stream benchmark's face changes.
SAME_PERSON = 0.5


class FollowedPerson:
    """A person, known first by a track and then by their look. ``track`` is their face's track on the latest
    frame, None while they are not found."""

    def __init__(self, track: int | None) -> None:
        self.track = track
        self._look: np.ndarray | None = None  # the looks of their faces so far, summed

    @property
    def known_by_look(self) -> bool:
        """True once a face of theirs has been seen: they can be found again after their track ends."""
        return self._look is not None

    def find(self, faces: list, gone, looks) -> int | None:
        """Their track among ``faces`` (objects with ``track_id``) on this frame. ``gone``: tracks that are no
        longer the face they were (dropped by the tracker, or another face took their place: a cut); ``looks``
        (track_id -> its look on this frame, or None). The same track while it lasts, else the face that looks
        most like them."""
        if self.track in gone:
            self.track = None
        if self.track is None and self._look is not None:
            person = self._look / (float(np.linalg.norm(self._look)) + 1e-6)
            nearest = SAME_PERSON
            for face in faces:
                look = looks(face.track_id)
                likeness = -1.0 if look is None else float(look @ person)
                if likeness >= nearest:
                    self.track, nearest = face.track_id, likeness
        return self.track

    def learn(self, look: np.ndarray | None) -> None:
        """Add the look of their face on this frame (None: not known, nothing to add)."""
        if look is not None:
            self._look = look.copy() if self._look is None else self._look + look

    def lose_track(self) -> None:
        """Tracks start again (a seek, a mirror toggle): their number will be someone else's; their look stays."""
        self.track = None

    def mirror(self) -> None:
        """The picture is now shown mirrored (or no longer): their face will look mirrored too. A face's look is its
        aligned crop's, and the crop of a mirrored face is the mirrored crop, so their look is flipped left to right.
        Unflipped, a mirrored face of theirs correlates 0.26-0.48 (median) with it on the shared clips, too little to
        be known again; flipped, 0.37-0.79, as their faces unmirrored (0.41-0.83)."""
        if self._look is not None:
            self._look = self._look.reshape(SIGNATURE_SIZE, SIGNATURE_SIZE)[:, ::-1].ravel().copy()
