"""Track ids stay with a person across frames, survive short misses, and are not reused."""

import numpy as np

from app.face.track import FaceTracker
from app.types import Face


def face(x, y, s=100):
    return Face(box=(x, y, x + s, y + s), landmarks=np.zeros((478, 3), np.float32))


def test_ids_follow_moving_faces_and_survive_a_miss():
    tr = FaceTracker(max_missed=2)
    a, b = tr.update([face(0, 0), face(300, 0)])
    ids = (a.track_id, b.track_id)
    assert ids[0] != ids[1]
    # faces come back in the other order and moved a little
    b2, a2 = tr.update([face(310, 5), face(8, 4)])
    assert (a2.track_id, b2.track_id) == ids
    tr.update([face(12, 6)])  # b missed once
    (b3,) = tr.update([face(318, 8)])
    assert b3.track_id == ids[1]


def test_lost_track_ends_and_new_face_gets_new_id():
    tr = FaceTracker(max_missed=1)
    (a,) = tr.update([face(0, 0)])
    tr.update([])
    tr.update([])
    assert a.track_id in tr.ended
    (c,) = tr.update([face(0, 0)])
    assert c.track_id != a.track_id
