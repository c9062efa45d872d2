"""A camera-like video made of dataset faces, for measuring labels over time where a dataset has only stills.

Each face is held for ``hold`` frames, upscaled into a camera-sized frame over a blurred copy of itself (no hard
edge for the face mesh to lock onto), with a little jitter in position and scale and sensor noise on every frame,
so the model sees a slightly different image each time, as it does from a real camera. One face follows the next
at the same place, so the tracker keeps one track and the change of face is what the smoother must follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from app.types import Frame


@dataclass(frozen=True)
class StreamLayout:
    """Frame size, rate and how much each face moves; the defaults are a 640x480, 30 fps webcam."""

    width: int = 640
    height: int = 480
    fps: float = 30.0
    hold: int = 12  # frames per face
    face_fraction: float = 0.5  # face height as a fraction of the frame height, on average
    jitter_px: float = 3.0  # per-frame position jitter (standard deviation)
    jitter_scale: float = 0.02  # per-frame scale jitter (standard deviation, relative)
    noise: float = 2.0  # sensor noise (standard deviation, grey levels)
    context: float = 1 / 3  # replicated border around each crop (a share of its side), as the still path pads it


def _to_bgr(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def _feather(size: tuple[int, int], border: int) -> np.ndarray:
    """An alpha mask (H, W, 1) that is 1 inside and fades to 0 over ``border`` pixels at the edges."""
    h, w = size
    ramp_y = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / max(border, 1), 0, 1)
    ramp_x = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / max(border, 1), 0, 1)
    return np.outer(ramp_y, ramp_x)[..., None].astype(np.float32)


def compose(face: np.ndarray, layout: StreamLayout, centre: tuple[float, float], side: float,
            rng: np.random.Generator, background: np.ndarray | None = None) -> np.ndarray:
    """One BGR frame: ``face`` (grey or RGB dataset image) ``side`` pixels high around ``centre``, jittered."""
    bgr = _to_bgr(face)
    if background is None:
        background = blurred_background(bgr, layout)
    side = max(16, int(round(side * (1 + rng.normal(0, layout.jitter_scale)))))
    fh, fw = bgr.shape[:2]
    width = max(16, int(round(side * fw / fh)))
    big = cv2.resize(bgr, (width, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    cx = centre[0] + rng.normal(0, layout.jitter_px)
    cy = centre[1] + rng.normal(0, layout.jitter_px)
    x0, y0 = int(round(cx - width / 2)), int(round(cy - side / 2))
    out = background.astype(np.float32)  # a copy: the caller's background is reused for the next frame
    # the part of the face inside the frame
    fx0, fy0 = max(0, -x0), max(0, -y0)
    fx1, fy1 = min(width, layout.width - x0), min(side, layout.height - y0)
    if fx1 > fx0 and fy1 > fy0:
        alpha = _feather((side, width), max(2, side // 12))[fy0:fy1, fx0:fx1]
        region = out[y0 + fy0 : y0 + fy1, x0 + fx0 : x0 + fx1]
        region[:] = alpha * big[fy0:fy1, fx0:fx1] + (1 - alpha) * region
    if layout.noise > 0:
        out += rng.normal(0, layout.noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def blurred_background(bgr: np.ndarray, layout: StreamLayout) -> np.ndarray:
    """The face stretched over the frame and blurred beyond recognition: a plain scene of matching colours."""
    stretched = cv2.resize(bgr, (layout.width, layout.height), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(stretched, (0, 0), sigmaX=layout.width / 16)


def stream_frames(images, layout: StreamLayout, seed: int = 0) -> Iterator[Frame]:
    """Frames for ``images`` in order, ``layout.hold`` each; frame ``i`` has index ``i`` and time ``i / fps``.

    Each face gets its own place and size (within a small range, as a person shifts in a chair); every frame
    jitters around them."""
    rng = np.random.default_rng(seed)
    index = 0
    for image in images:
        if layout.context > 0:  # a tight crop cut at brow and chin continues outwards, not into a dark fade
            pad = int(round(min(image.shape[:2]) * layout.context))
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        bgr = _to_bgr(image)
        background = blurred_background(bgr, layout)
        side = layout.height * layout.face_fraction * rng.uniform(0.85, 1.15) * (1 + 2 * layout.context)
        centre = (layout.width / 2 + rng.uniform(-30, 30), layout.height / 2 + rng.uniform(-20, 20))
        for _ in range(layout.hold):
            yield Frame(compose(image, layout, centre, side, rng, background), index, index / layout.fps, "stream")
            index += 1
