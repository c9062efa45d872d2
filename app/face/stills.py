"""Faces in still images, found the way the training data's faces were found.

Training prepares every dataset image with these functions (``training.data.prepare``), and the app's photo path
(``ferlive analyze`` on a photo or a folder) uses them too, so a face crop from a dataset gives the app exactly the
aligned face it gave training:

- a small image (a 48 px FER2013 crop, a 96 px AffectNet crop) is enlarged to about ``DETECT_SIDE`` pixels and
  padded by edge replication before MediaPipe sees it, because the detector misses faces that fill a tiny image;
- where no face is found in a face crop, the whole image is the face (``whole_image_face``; aligned by
  ``app.face.align.crop_as_face``). A small, near-square image is taken for a face crop (``looks_like_face_crop``):
  nobody photographs a scene at 48 or 96 px, while every face dataset ships its crops at that size;
- a larger photo is searched turned as well, so a face on its side or upside down is found and read upright
  (``upright_faces``); a face crop is upright by construction and is searched as it is.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.face.align import canonical_shape
from app.face.mouth import LEFT_EYE_OUTER, RIGHT_EYE_OUTER
from app.types import Face

DETECT_SIDE = 192  # MediaPipe's detector finds small crops reliably once they are about this big
PAD_FRACTION = 1 / 3  # replicated border, as a share of DETECT_SIDE: room around a face that fills its crop
CROP_MAX_ASPECT = 1.5  # dataset crops are square (FER2013, CK+, AffectNet, RAF-DB) or nearly so (SFEW's 143x181)


def enlarge_for_detection(bgr: np.ndarray) -> tuple[np.ndarray, float, int]:
    """A BGR image whose short side is under ``DETECT_SIDE``, enlarged to it and padded; returns (big, scale, pad)
    with big-image pixel = image pixel * scale + pad. Larger images come back unchanged (scale 1, pad 0)."""
    scale = max(1.0, DETECT_SIDE / min(bgr.shape[:2]))
    if scale == 1.0:
        return bgr, 1.0, 0
    big = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    pad = int(round(DETECT_SIDE * PAD_FRACTION))
    return cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE), scale, pad


def looks_like_face_crop(bgr: np.ndarray) -> bool:
    """Whether an image is the size and shape of a dataset's face crop: under ``DETECT_SIDE`` on its short side
    and at most ``CROP_MAX_ASPECT`` times as long as it is wide (or the other way round)."""
    short, long = sorted(bgr.shape[:2])
    return short < DETECT_SIDE and long <= CROP_MAX_ASPECT * short


# a photo turned by a quarter or a half, as OpenCV's rotation codes; None: as it is
TURNS = (cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180)


def face_turn(face: Face) -> int | None:
    """The turn that stands ``face`` upright: None when its eye line is within 45 degrees of level."""
    (ax, ay), (bx, by) = face.landmarks[[RIGHT_EYE_OUTER, LEFT_EYE_OUTER], :2]  # image-left one first, upright
    roll = np.degrees(np.arctan2(by - ay, bx - ax))  # 0 upright, +90 lying with its top to the right
    if abs(roll) <= 45:
        return None
    if abs(roll) >= 135:
        return cv2.ROTATE_180
    return cv2.ROTATE_90_COUNTERCLOCKWISE if roll > 0 else cv2.ROTATE_90_CLOCKWISE


def _unturn(points: np.ndarray, turn: int, width: int, height: int) -> np.ndarray:
    """Landmarks found in the picture turned by ``turn`` in that of the unturned ``width`` x ``height`` picture.

    Pixel (x, y) of the unturned picture is pixel (y, width - 1 - x) of the one turned counter-clockwise, and so on;
    the alignment reads landmarks as pixel positions, so mapping them this way gives the face the very crop it gets
    from the upright photo."""
    x, y = points[:, 0], points[:, 1]
    if turn == cv2.ROTATE_90_COUNTERCLOCKWISE:  # (x, y) went to (y, width - 1 - x)
        x, y = width - 1 - y, x
    elif turn == cv2.ROTATE_90_CLOCKWISE:  # (x, y) went to (height - 1 - y, x)
        x, y = y, height - 1 - x
    else:
        x, y = width - 1 - x, height - 1 - y
    return np.column_stack([x, y, points[:, 2]]).astype(np.float32)


def _faces_turned(mesh, image: np.ndarray, turn: int | None) -> list[Face]:
    """The mesh's faces in ``image`` turned by ``turn``, in ``image``'s own pixels."""
    from app.face.mesh import face_from_landmarks

    if turn is None:
        return mesh.process(image)
    h, w = image.shape[:2]
    return [face_from_landmarks(_unturn(f.landmarks, turn, w, h), w, h, f.score)
            for f in mesh.process(cv2.rotate(image, turn))]


def upright_faces(mesh, image: np.ndarray) -> list[Face]:
    """The mesh's faces in a photo, found with the photo turned so the largest face stands upright.

    A photo saved without its EXIF orientation, a person lying down or a phone held sideways gives faces that
    the mesh misses (upside down) or finds with looser landmarks (on their side, where the largest face read
    happy at 0.74 against 0.92 upright in a frame of woman_phone_night). Where no face is found, the photo is
    searched again a quarter turn either way and a half turn; where the largest face found lies on its side or
    upside down, it is searched again turned to stand it upright, keeping the first answer if that finds fewer
    faces. An upside-down face can also be covered with an upright mesh (eyes on the mouth), which the landmarks
    cannot tell; the face detector's score can (``upside_down``).
    """
    faces, used = mesh.process(image), None
    for turn in TURNS if not faces else ():
        faces, used = _faces_turned(mesh, image, turn), turn
        if faces:
            break
    if not faces:
        return []
    needed = face_turn(max(faces, key=lambda f: f.area))  # its landmarks are in the unturned photo's pixels
    if needed is None and used is None and upside_down(mesh, image):
        needed = cv2.ROTATE_180
    if needed != used:
        again = _faces_turned(mesh, image, needed)
        faces = again if len(again) >= len(faces) else faces  # a group's upright faces are not lost for one
    return faces


UPSIDE_DOWN_MARGIN = 0.15  # how much better the detector must like the half-turned photo to call it upside down


def upside_down(mesh, image: np.ndarray) -> bool:
    """Whether the face detector finds the photo's best face clearly more face-like turned by half (the upright
    faces of the shared clips score 0.92-0.96 as they are and 0.60-0.62 turned; ``FaceMesh.face_score``)."""
    return mesh.face_score(cv2.rotate(image, cv2.ROTATE_180)) > mesh.face_score(image) + UPSIDE_DOWN_MARGIN


def faces_in_still(mesh, bgr: np.ndarray) -> list[Face]:
    """The faces ``mesh`` (a still-mode ``FaceMesh``) finds in ``bgr``, in its own pixels: in a photo, found with
    the photo turned upright (``upright_faces``); in a face crop, as it is."""
    from app.face.mesh import face_from_landmarks  # mesh imports MediaPipe; this module stays light

    big, scale, pad = enlarge_for_detection(bgr)
    # a dataset's face crop is upright by construction, and is found exactly as training found it
    faces = mesh.process(big) if looks_like_face_crop(bgr) else upright_faces(mesh, big)
    if scale == 1.0:
        return faces
    h, w = bgr.shape[:2]
    out = []
    for face in faces:
        points = face.landmarks.copy()
        points[:, :2] -= pad
        points /= scale
        out.append(face_from_landmarks(points, w, h, face.score))
    return out


def whole_image_face(bgr: np.ndarray) -> Face:
    """The whole image as one face (for an image known to be a face crop), with the canonical landmark shape
    stretched over it; ``Face.whole_image`` tells the pipeline to align it with ``crop_as_face``."""
    h, w = bgr.shape[:2]
    points = canonical_shape() * np.array([w, h, w], np.float32)
    return Face(box=(0.0, 0.0, float(w), float(h)), landmarks=points, whole_image=True)
