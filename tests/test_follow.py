"""A clicked face is a person, not a track: ``FacePipeline.subject`` follows them by their look
(``app.face.person``) when they step out of view and back, and after a seek, and never hands them over to someone
who does not look like them. Real people: the woman of woman_smile_neutral.mp4 beside the interview's athlete."""

from __future__ import annotations

import numpy as np
import pytest

from app.analyze import load_engine
from app.capture import open_source
from app.face.person import SAME_PERSON, FollowedPerson
from app.pipeline import FacePipeline
from app.types import Frame, subject_track
from tests.datapaths import require_data, side_by_side, video

START = 196  # her talking, neutral stretch


@pytest.fixture(scope="module")
def two_people():
    """Frames of the woman (left, large) and the athlete (right, half height), 90 of each, and a pipeline maker."""
    with open_source(require_data(video("woman_smile_neutral.mp4"))) as her, \
            open_source(require_data(video("interview_50s.mp4"))) as athlete:
        for _ in range(START):
            her.read()
        pairs = [(her.read().image, athlete.read().image) for _ in range(90)]
    return load_engine("poster-small", "cpu"), pairs


def frame(pairs, i: int, woman: bool = True) -> Frame:
    left, right = pairs[i]
    return Frame(side_by_side(left, right, woman), i, i / 30)


def largest(result):
    return max(result.faces, key=lambda f: f.area)


def smallest(result):
    return min(result.faces, key=lambda f: f.area)


def test_a_clicked_person_who_steps_out_and_back_is_followed_again_and_nobody_else_meanwhile(two_people):
    """She is clicked, leaves for 40 frames (longer than a track lives) and comes back as a new track: the pipeline
    follows her again within a few frames. While she is away the athlete, who does not look like her, is not taken
    for her. (Following a track, as before, loses her for good: her new track is another number.)"""
    engine, pairs = two_people
    pipeline = FacePipeline(engine, max_faces=2)
    try:
        before = [pipeline.process(frame(pairs, i)) for i in range(3)]
        her_track = largest(before[-1]).track_id
        pipeline.subject = her_track  # the click
        both = [pipeline.process(frame(pairs, i)) for i in range(3, 20)]
        away = [pipeline.process(frame(pairs, i, woman=False)) for i in range(20, 60)]
        back = [pipeline.process(frame(pairs, i)) for i in range(60, 80)]
    finally:
        pipeline.close()
    assert all(r.subject == her_track for r in both)
    athlete = smallest(both[-1]).track_id
    assert all(r.subject in (None, her_track) for r in away)  # her held box for a moment, then nobody
    assert away[-1].subject is None and [f.track_id for f in away[-1].faces] == [athlete]
    assert away[-1].subject_away and subject_track(away[-1]) is None  # the outputs wait for her: no face
    assert not any(r.subject_away for r in both + back[-10:])
    her_again = largest(back[-1]).track_id
    assert her_again not in (her_track, athlete)  # a new track: following the old number would miss her
    followed = [r.subject == largest(r).track_id == her_again for r in back if len(r.faces) == 2]
    assert followed[-10:] == [True] * 10 and sum(followed) >= len(followed) - 3  # found again within 3 frames
    assert not any(r.subject == athlete for r in away + back)


def test_after_a_seek_a_clicked_person_is_followed_by_their_look_not_their_old_number(two_people):
    """A seek numbers faces afresh (the tracker starts at 1 again): she was #1 when clicked; after a seek to the
    athlete alone (filling the frame), the athlete is #1 and is not taken for her. After a seek back to her she is
    followed again (following the number, as before, the athlete would have been followed in between)."""
    engine, pairs = two_people
    pipeline = FacePipeline(engine, max_faces=2)
    try:
        for i in range(3):
            result = pipeline.process(frame(pairs, i))
        her_track = largest(result).track_id
        pipeline.subject = her_track
        for i in range(3, 15):
            pipeline.process(frame(pairs, i))
        pipeline.reset()  # what a seek does
        athlete_alone = [pipeline.process(Frame(pairs[i][1], i, i / 30)) for i in range(30, 40)]
        pipeline.reset()
        her_again = [pipeline.process(frame(pairs, i)) for i in range(60, 70)]
    finally:
        pipeline.close()
    assert all([f.track_id for f in r.faces] == [her_track] for r in athlete_alone)  # her old number
    assert all(r.subject is None for r in athlete_alone)
    assert all(r.faces and r.subject == largest(r).track_id for r in her_again)


def test_a_look_below_the_same_person_threshold_is_never_taken_for_them():
    """The rule itself on made-up looks: the nearest face at SAME_PERSON or more, else nobody; a cut unbinds."""
    class Face:
        def __init__(self, track_id: int) -> None:
            self.track_id = track_id

    rng = np.random.default_rng(0)
    own = rng.normal(size=576)
    own /= np.linalg.norm(own)
    other = rng.normal(size=576)
    other -= (other @ own) * own
    other /= np.linalg.norm(other)

    def mix(likeness: float) -> np.ndarray:  # a unit look correlating ``likeness`` with ``own``
        return likeness * own + np.sqrt(1 - likeness**2) * other

    person = FollowedPerson(7)
    assert person.find([Face(7)], [], lambda t: None) == 7 and not person.known_by_look
    person.learn(own)
    looks = {3: mix(SAME_PERSON - 0.05), 4: mix(SAME_PERSON + 0.05), 5: mix(SAME_PERSON + 0.3)}
    assert person.find([Face(3), Face(4), Face(5)], [7], looks.get) == 5  # the likeliest
    looks[5] = mix(SAME_PERSON - 0.1)  # another face in their place (a cut)
    assert person.find([Face(3), Face(5)], [5], looks.get) is None
    person.lose_track()
    assert person.find([Face(3), Face(4)], [], looks.get) == 4


def test_after_the_picture_is_mirrored_a_clicked_person_is_known_again(two_people):
    """The Mirror toggle: her face now looks mirrored, so her look is flipped too (``FollowedPerson.mirror``); she
    is followed on the mirrored picture. Unflipped, her mirrored faces are too unlike her look to be taken for her."""
    engine, pairs = two_people

    def run(flip: bool) -> list:
        pipeline = FacePipeline(engine, max_faces=2)
        try:
            for i in range(3):
                result = pipeline.process(frame(pairs, i))
            pipeline.subject = largest(result).track_id
            for i in range(3, 30):
                pipeline.process(frame(pairs, i))
            pipeline.reset(mirrored=flip)  # what the worker does when Mirror is toggled on a camera
            return [pipeline.process(Frame(np.ascontiguousarray(frame(pairs, i).image[:, ::-1]), i, i / 30))
                    for i in range(30, 45)]
        finally:
            pipeline.close()

    mirrored = run(flip=True)
    assert all(r.faces and r.subject == largest(r).track_id for r in mirrored)
    assert all(r.subject_away for r in run(flip=False))  # her look as it was: not known again


def test_f_steps_over_a_face_held_for_a_moment_and_keeps_the_order_through_it():
    """F's order (app.ui.probability_panel.next_face): left to right, then none; a held face (the mesh missed it on
    this frame) is not picked, and when it is the one followed, the next to its right still is."""
    from dataclasses import replace

    from app.types import FaceResult
    from app.ui.probability_panel import next_face

    def face(track: int, x: float, held: bool = False) -> FaceResult:
        return FaceResult(track_id=track, box=(x, 0, x + 50, 50), landmarks=None, probabilities=np.ones(7) / 7,
                          classes=tuple("abcdefg"), held=held)

    left, middle, right = face(3, 0), face(1, 100), face(2, 200)
    faces = [right, left, middle]
    assert [next_face(faces, c) for c in (None, 3, 1, 2, 9)] == [3, 1, 2, None, None]
    held = [right, left, replace(middle, held=True)]
    assert next_face(held, 3) == 2  # over the held face
    assert next_face(held, 1) == 2  # followed, held now: on to its right, not back to the largest
    assert next_face([replace(left, held=True)], None) is None


def test_the_window_keeps_a_click_until_the_worker_follows_it_and_then_takes_its_track():
    """app.ui.face_follow: frames analysed before a click reached the worker do not undo it (up to three); then
    the worker's track is the person's (a new one when found again, None while away: awaited). A face picked in one
    photo is let go on the next photo."""
    from app.types import FrameResult
    from app.ui.face_follow import CLICK_IN_FLIGHT_FRAMES, FaceFollow

    def shown(subject, image_name=""):
        return FrameResult(frame=Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0, image_name=image_name),
                           subject=subject)

    sent = []
    follow = FaceFollow(sent.append)
    follow.select(5)
    for _ in range(CLICK_IN_FLIGHT_FRAMES):
        follow.take(shown(None))
        assert follow.track == 5
    follow.take(shown(None))
    assert follow.track is None and follow.awaited and sent == [5]
    follow.take(shown(7))  # back in view, with a new track
    assert follow.track == 7 and not follow.awaited
    follow.select(None)
    assert not follow.following and sent[-1] is None
    follow.select(2, photo="a.jpg")
    follow.take(shown(2, "a.jpg"))
    assert follow.track == 2
    follow.take(shown(2, "b.jpg"))  # the same number in the next photo is somebody else
    assert sent[-1] is None and not follow.following
