"""Faces too small for the face mesh's own detector: found with MediaPipe's full-range detector, meshed in a crop.

The face mesh finds faces with MediaPipe's short-range detector, made for a face near a phone's camera: it sees
the frame at 128x128, so a face narrower than about 15% of the frame (a person two metres from a 720p webcam, most
faces in a film frame or a photograph of a room) is never found. Here the full-range detector (192x192, faces up to
about five metres) looks for the faces the mesh did not find; each one is cut out with a margin, enlarged, and
meshed on its own, and its landmarks are mapped back into the frame. On a video the detector runs every
``DETECT_EVERY`` frames; in between, each small face is meshed again in a crop around its last landmarks (as the
mesh tracks its own faces), so a small face keeps its landmarks on every frame at one crop's cost.

Cost, with up to four faces on 300 frames of the shared clips (one face each, big enough for the mesh) on a 2-core
AMD EPYC: the mesh alone 6.2-6.3 ms per frame, with this finder 7.1-8.2 ms on average and 12-14 ms on the frames
where the detector runs (95th percentile). Found, on a plain 1920x1080 frame (12 AffectNet faces each): faces 5%
of the width wide 8, 8% 10, 13% 11 (the mesh alone: 0, 0, 2); on 640x480, where the same shares are fewer
pixels, 1, 6 and 9 (the mesh alone: 0, 0, 1). Next to a large face, the detector can miss a small one.

On a still (a photo, ``video_mode=False``) at least 1152 px long, the detector also searches overlapping tiles
(``photo_tiles``): of 40 AffectNet faces 220 px wide, eight to a 1920x1080 photo, it finds 38 against 33 on the
whole photo alone, for about 40 ms more per photo.
"""

from __future__ import annotations

import math

import cv2
import mediapipe as mp
import numpy as np

CROP_SIDE = 256  # the enlarged crop the mesh sees: a face well inside the short-range detector's reach
DETECT_MARGIN = 2.2  # crop side / detection box side: room for the forehead and chin the detector's box leaves out
TRACK_MARGIN = 1.7  # crop side / landmark extent when following a face from its last landmarks
DETECT_EVERY = 6  # video frames between full-range detections (0.2 s at 30 fps)
MIN_DETECTION_CONFIDENCE = 0.5
TILE_SIDE = 768  # large photos are also searched in tiles of at least this side (``photo_tiles``)
MAX_TILES_ALONG = 3  # tiles grow with the photo beyond three of TILE_SIDE along its long side
TILE_OVERLAP = 0.25  # share of a tile its neighbour also covers, so a face on a seam is whole in one of them


def crop_square(image: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, float, float, float]:
    """The square of ``side`` pixels centred at (cx, cy), edges replicated where it leaves the image, resized to
    ``CROP_SIDE``; returns (crop, x0, y0, scale) with frame = crop / scale + (x0, y0)."""
    x0, y0 = cx - side / 2, cy - side / 2
    scale = CROP_SIDE / side
    matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, matrix, (CROP_SIDE, CROP_SIDE), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return crop, x0, y0, scale


def photo_tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles (x0, y0, x1, y1) that cover a photo whose long side is at least 1.5 ``TILE_SIDE``.

    The full-range detector sees the frame at 192 px, so in a 1920x1080 group photo a face 10% of the width wide is
    19 px to it, and many such faces are missed; on a tile it is two or three times larger. A still is analysed once,
    so the extra detector runs (6 tiles on 1920x1080, at most 12 on any photo; about 40 ms in all) are affordable
    there, and not on every video frame.
    """
    long = max(width, height)
    if long < 1.5 * TILE_SIDE:
        return []
    side = max(TILE_SIDE, math.ceil(long / MAX_TILES_ALONG))
    side_w, side_h = min(side, width), min(side, height)
    return [(x, y, x + side_w, y + side_h) for y in _tile_starts(height, side_h) for x in _tile_starts(width, side_w)]


def _tile_starts(size: int, side: int) -> list[int]:
    """Evenly spaced starts of tiles of ``side`` along ``size``, neighbours overlapping by ``TILE_OVERLAP`` or more."""
    if size <= side:
        return [0]
    n = math.ceil((size - side) / (side * (1 - TILE_OVERLAP))) + 1
    return [round(i * (size - side) / (n - 1)) for i in range(n)]


def inside_any(cx: float, cy: float, boxes: list[tuple[float, float, float, float]]) -> bool:
    return any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in boxes)


class SmallFaceFinder:
    """Landmarks (N,478,3 in frame pixels) of faces the full-frame mesh missed; see the module docstring."""

    def __init__(self, video_mode: bool, min_confidence: float = MIN_DETECTION_CONFIDENCE) -> None:
        self.video_mode = video_mode
        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                                   min_detection_confidence=min_confidence)
        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                                     min_detection_confidence=0.3)
        self._followed: list[np.ndarray] = []  # last landmarks of each small face (video mode)
        self._frames_since_detection = DETECT_EVERY  # detect on the first frame

    def find(self, rgb: np.ndarray, known: list[tuple[float, float, float, float]], limit: int) -> list[np.ndarray]:
        """Up to ``limit`` faces whose centres lie outside the ``known`` boxes (x0, y0, x1, y1), as landmarks."""
        found: list[np.ndarray] = []
        boxes = list(known)

        def take(points: np.ndarray | None) -> None:
            if points is None or len(found) >= limit:
                return
            lo, hi = points[:, :2].min(0), points[:, :2].max(0)
            centre = (lo + hi) / 2
            if not inside_any(centre[0], centre[1], boxes):
                found.append(points)
                boxes.append((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])))

        for last in self._followed if self.video_mode else []:
            lo, hi = last[:, :2].min(0), last[:, :2].max(0)
            take(self._mesh_at(rgb, *((lo + hi) / 2), float((hi - lo).max()) * TRACK_MARGIN))
        self._frames_since_detection += 1
        if len(found) < limit and (not self.video_mode or self._frames_since_detection >= DETECT_EVERY):
            self._frames_since_detection = 0
            for cx, cy, side in self._detections(rgb):
                if not inside_any(cx, cy, boxes):
                    take(self._mesh_at(rgb, cx, cy, side * DETECT_MARGIN))
        self._followed = found if self.video_mode else []
        return found

    def _detections(self, rgb: np.ndarray):
        """(centre x, centre y, box side) in frame pixels of each face the full-range detector finds: over the
        whole frame, and on a still also over overlapping tiles (``photo_tiles``), where a face is larger to it."""
        h, w = rgb.shape[:2]
        regions = [(0, 0, w, h)] + ([] if self.video_mode else photo_tiles(w, h))
        for x0, y0, x1, y1 in regions:
            tile = rgb if (x0, y0, x1, y1) == (0, 0, w, h) else np.ascontiguousarray(rgb[y0:y1, x0:x1])
            tw, th = x1 - x0, y1 - y0
            for det in self._detector.process(tile).detections or []:
                b = det.location_data.relative_bounding_box
                yield (x0 + (b.xmin + b.width / 2) * tw, y0 + (b.ymin + b.height / 2) * th,
                       max(b.width * tw, b.height * th))

    def _mesh_at(self, rgb: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray | None:
        if side < 8:
            return None
        crop, x0, y0, scale = crop_square(rgb, cx, cy, side)
        result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        pts = np.array([(p.x * CROP_SIDE, p.y * CROP_SIDE, p.z * CROP_SIDE) for p in
                        result.multi_face_landmarks[0].landmark], np.float32) / scale
        pts[:, 0] += x0
        pts[:, 1] += y0
        return pts

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()
