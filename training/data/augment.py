"""Batch augmentation on tensors that keeps the image and its landmarks consistent.

A horizontal flip mirrors the image, maps x -> 1 - x, and swaps each landmark with its mirror partner (left eye
<-> right eye ...), so the landmark stream sees a real face layout. Affine jitter moves both alike.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from app.face.align import canonical_shape


@lru_cache(maxsize=1)
def mirror_permutation() -> np.ndarray:
    """Index of each landmark's mirror partner, from the canonical shape mirrored about x = 0.5."""
    pts = canonical_shape()[:, :2].astype(np.float64)
    centre_x = pts[:, 0].mean()
    mirrored = pts.copy()
    mirrored[:, 0] = 2 * centre_x - mirrored[:, 0]
    d = np.linalg.norm(mirrored[:, None] - pts[None], axis=2)
    return np.argmin(d, axis=1)


def mirror_landmarks(landmarks: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """(B,478,3) unit-square landmarks of the mirrored face: x -> 1 - x, each point swapped with its partner."""
    mirrored = landmarks[:, perm]
    return torch.cat([1.0 - mirrored[..., :1], mirrored[..., 1:]], dim=-1)


def augment_batch(images: torch.Tensor, landmarks: torch.Tensor, flip_p: float = 0.5, max_rotate: float = 10.0,
                  scale: tuple[float, float] = (0.9, 1.1), max_shift: float = 0.08, erase_p: float = 0.25,
                  jitter: float = 0.2, gamma: float = 0.0, light: float = 0.0, blur_p: float = 0.0,
                  noise: float = 0.0, pose: float = 0.0, talk_p: float = 0.0, talk_drop: float = 0.06,
                  jpeg_p: float = 0.0, jpeg_quality: float = 20.0, exposure_p: float = 0.0,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """images (B,C,S,S) float in 0..1, landmarks (B,478,3) unit-square coords; returns augmented copies.

    ``pose`` (degrees, off at 0) turns the face out of the image plane by up to that much in yaw and in pitch, as a
    webcam sees a face from above (a laptop, a phone) or from the side: ``out_of_plane``.

    The camera terms (all off at 0) imitate what a webcam does to a face that FER2013's studio-like crops lack:
    ``gamma`` exposure curves (log-uniform in 1/(1+g)..1+g), ``light`` a linear shading ramp across the face from a
    random direction (side light, up to +-light), ``blur_p`` defocus/motion softness or sharpening, ``noise`` sensor
    noise (Gaussian, sigma up to ``noise``), ``jpeg_p`` the share of faces compressed as a JPEG or a video
    frame is (quality uniform in ``jpeg_quality``..95: ``compress``), and ``exposure_p`` the share shown dim or
    washed out (``exposure``).

    ``talk_p`` (off at 0) parts the lips of that share of the faces, whatever their label, by up to ``talk_drop``
    of the crop: a talking face, whose open mouth is not the surprise or fear it resembles (``open_mouth``)."""
    b = images.shape[0]
    g = generator
    dev = images.device
    if talk_p > 0:  # on the aligned, upright face, before any flip or turn
        images, landmarks = open_mouth(images, landmarks, talk_p, talk_drop, g)
    flip = torch.rand(b, generator=g, device=dev) < flip_p
    # no ``if flip.any()``: a data-dependent branch makes the CPU wait for the GPU every step
    perm = torch.as_tensor(mirror_permutation(), device=dev)
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    landmarks = torch.where(flip[:, None, None], mirror_landmarks(landmarks, perm), landmarks)
    # random similarity about the centre, in normalised coordinates (-1..1); the same map moves the landmarks
    ang = (torch.rand(b, generator=g, device=dev) * 2 - 1) * math.radians(max_rotate)
    sc = torch.empty(b, device=dev).uniform_(*scale, generator=g)
    shift = (torch.rand(b, 2, generator=g, device=dev) * 2 - 1) * max_shift * 2
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # output point p_out satisfies p_in = A p_out + t  =>  p_out = A^-1 (p_in - t)
    t = theta[:, :, 2]
    xy = landmarks[..., :2] * 2 - 1
    # A is a scaled rotation [[c, -s], [s, c]]: its inverse is [[c, s], [-s, c]] / (c^2 + s^2), no solver
    # (torch.linalg.solve checks for singular matrices, which waits for the GPU)
    d = xy - t[:, None]
    det = (cos * cos + sin * sin)[:, None]
    xy = torch.stack([(cos[:, None] * d[..., 0] + sin[:, None] * d[..., 1]) / det,
                      (-sin[:, None] * d[..., 0] + cos[:, None] * d[..., 1]) / det], dim=-1)
    landmarks = torch.cat([(xy + 1) / 2, landmarks[..., 2:] * sc[:, None, None]], dim=-1)
    if pose > 0:
        images, landmarks = out_of_plane(images, landmarks, pose, g)
    # brightness / contrast jitter
    if jitter > 0:
        c = 1 + (torch.rand(b, 1, 1, 1, generator=g, device=dev) * 2 - 1) * jitter
        br = (torch.rand(b, 1, 1, 1, generator=g, device=dev) * 2 - 1) * jitter * 0.5
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = ((images - mean) * c + mean + br).clamp(0, 1)
    if exposure_p > 0:  # before the sensor noise: a dim face keeps the camera's noise, not less
        images = exposure(images, exposure_p, g)
    if gamma > 0 or light > 0 or blur_p > 0 or noise > 0:
        images = camera_conditions(images, gamma, light, blur_p, noise, g)
    if jpeg_p > 0:  # last of the camera terms: a camera compresses what its sensor saw
        images = compress(images, jpeg_p, jpeg_quality, g)
    # random erasing of one rectangle
    if erase_p > 0:
        s = images.shape[-1]
        erase = torch.rand(b, generator=g, device=dev) < erase_p
        hw = (torch.rand(b, 2, generator=g, device=dev) * 0.3 + 0.1) * s
        xy0 = torch.rand(b, 2, generator=g, device=dev) * (s - hw)
        ar = torch.arange(s, device=dev)
        mx = (ar[None] >= xy0[:, :1]) & (ar[None] < xy0[:, :1] + hw[:, :1])
        my = (ar[None] >= xy0[:, 1:]) & (ar[None] < xy0[:, 1:] + hw[:, 1:])
        mask = (my[:, :, None] & mx[:, None, :]) & erase[:, None, None]
        noise = torch.rand(images.shape, generator=g, device=dev)
        images = torch.where(mask[:, None], noise, images)
    return images, landmarks


FACE_DISTANCE = 4.0  # camera distance in half crop widths: a webcam's mild perspective on a face at arm's length


def plane_rotation_homography(yaw: torch.Tensor, pitch: torch.Tensor, distance: float = FACE_DISTANCE
                              ) -> torch.Tensor:
    """(B,3,3) maps crop coordinates (-1..1, y down) of a flat face to where they appear once the face turns by
    ``yaw`` (about the vertical axis) and ``pitch`` (about the horizontal one; positive: the chin moves away and the
    brow towards the camera, as when a face looks down at a phone), seen in perspective from ``distance``."""
    cy, sy, cp, sp = torch.cos(yaw), torch.sin(yaw), torch.cos(pitch), torch.sin(pitch)
    zero, one = torch.zeros_like(yaw), torch.ones_like(yaw)
    # R = R_pitch (about x) @ R_yaw (about y); only its first two columns act on a point of the plane z = 0
    r = torch.stack([torch.stack([cy, zero, sy], -1),
                     torch.stack([sp * sy, cp, -sp * cy], -1),
                     torch.stack([-cp * sy, sp, cp * cy], -1)], -2)
    return torch.stack([torch.stack([r[:, 0, 0], r[:, 0, 1], zero], -1),
                        torch.stack([r[:, 1, 0], r[:, 1, 1], zero], -1),
                        torch.stack([r[:, 2, 0] / distance, r[:, 2, 1] / distance, one], -1)], -2)


def _apply_homography(h: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """(B,3,3) applied to (B,N,2) points."""
    p = torch.cat([xy, torch.ones_like(xy[..., :1])], -1) @ h.transpose(1, 2)
    return p[..., :2] / p[..., 2:]


def out_of_plane(images: torch.Tensor, landmarks: torch.Tensor, max_degrees: float, g: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The face turned out of the image plane by a uniform yaw and pitch within +-``max_degrees``, image and
    landmarks alike (a planar approximation: the foreshortening and perspective of a turned face, not its
    self-occlusion)."""
    b, dev = images.shape[0], images.device
    yaw = (torch.rand(b, generator=g, device=dev) * 2 - 1) * math.radians(max_degrees)
    pitch = (torch.rand(b, generator=g, device=dev) * 2 - 1) * math.radians(max_degrees)
    return turn_face(images, landmarks, yaw, pitch)


def turn_face(images: torch.Tensor, landmarks: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,C,S,S) images and (B,478,3) unit-square landmarks with each face turned by its ``yaw`` and ``pitch``
    (radians)."""
    b, _, s, _ = images.shape
    dev = images.device
    h = plane_rotation_homography(yaw, pitch)
    # each output pixel samples the input where the inverse map sends it
    ax = (torch.arange(s, device=dev, dtype=images.dtype) + 0.5) / s * 2 - 1
    gy, gx = torch.meshgrid(ax, ax, indexing="ij")
    out = torch.stack([gx, gy], -1).reshape(1, -1, 2).expand(b, -1, -1)
    # inv_ex: no singularity check, which would make the CPU wait for the GPU (|angles| < 90 degrees: invertible)
    grid = _apply_homography(torch.linalg.inv_ex(h).inverse, out).reshape(b, s, s, 2)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    xy = _apply_homography(h, landmarks[..., :2] * 2 - 1)
    return images, torch.cat([(xy + 1) / 2, landmarks[..., 2:]], dim=-1)


UPPER_LIP_INNER, LOWER_LIP_INNER, MOUTH_LEFT, MOUTH_RIGHT, CHIN = 13, 14, 61, 291, 152  # MediaPipe face mesh
CHIN_FADE = 0.1  # below the chin the drop fades out over this much of the crop (the neck stays)


def open_mouth(images: torch.Tensor, landmarks: torch.Tensor, p: float, max_drop: float,
               g: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mid-speech faces from still ones: for a share ``p`` of the (B,C,S,S) upright faces, everything below the
    line where the lips meet moves down by up to ``max_drop`` (unit square), most at the mouth's centre and none
    beyond its corners (half an ellipse), fading out below the chin; the parting shows as a dark mouth. The
    landmarks move with the image. Why: datasets hold posed photographs, where an open mouth mostly means surprise
    or fear, while a webcam mostly sees people talking."""
    b, _, s, _ = images.shape
    dev = images.device
    if not 0 <= max_drop < CHIN_FADE:
        raise ValueError(f"talk_drop must lie in [0, {CHIN_FADE}), got {max_drop}")
    drop = torch.rand(b, generator=g, device=dev) * max_drop * (torch.rand(b, generator=g, device=dev) < p)
    left, right = landmarks[:, MOUTH_LEFT, 0], landmarks[:, MOUTH_RIGHT, 0]
    centre, half = (left + right) / 2, ((right - left).abs() / 2).clamp_min(1e-3)
    lips = (landmarks[:, UPPER_LIP_INNER, 1] + landmarks[:, LOWER_LIP_INNER, 1]) / 2
    chin = landmarks[:, CHIN, 1]

    def opening(x: torch.Tensor) -> torch.Tensor:
        """How far the jaw drops at x ((B, N), unit square): half an ellipse over the mouth's width."""
        return drop[:, None] * (1 - ((x - centre[:, None]) / half[:, None]).clamp(-1, 1) ** 2).sqrt()

    def forward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Where the point (x, y) goes: down by the opening from the lips to the chin, less and less below it."""
        fade = 1 - ((y - chin[:, None]) / CHIN_FADE).clamp(0, 1)
        return y + opening(x) * (y >= lips[:, None]) * fade

    axis = (torch.arange(s, device=dev, dtype=images.dtype) + 0.5) / s
    gx, gy = axis[None, None, :].expand(b, s, s), axis[None, :, None].expand(b, s, s)
    a = opening(gx.reshape(b, -1)).reshape(b, s, s)
    top, bottom = lips[:, None, None], chin[:, None, None]
    # the inverse of ``forward`` for each output pixel (linear in each stretch): where it was before the drop
    src = torch.where(gy < bottom + a, gy - a, bottom + (gy - bottom - a) / (1 - a / CHIN_FADE))
    src = torch.where((gy < top + a) | (gy >= bottom + CHIN_FADE), gy, src)
    out = F.grid_sample(images, torch.stack([gx, src], dim=-1) * 2 - 1, mode="bilinear", padding_mode="border",
                        align_corners=False)
    mouth = (gy >= top) & (gy < top + a)  # the parting: a dark mouth
    dark = torch.rand(b, 1, 1, 1, generator=g, device=dev) * 0.2 + 0.05
    out = torch.where(mouth[:, None], dark.expand_as(out), out)
    moved = forward(landmarks[..., 0], landmarks[..., 1])
    return out, torch.stack([landmarks[..., 0], moved, landmarks[..., 2]], dim=-1)


EXPOSURE_MIN_GAIN = 0.25  # the dimmest face: a quarter of its contrast left


def exposure(images: torch.Tensor, p: float, g: torch.Generator | None = None) -> torch.Tensor:
    """A share ``p`` of the faces (B,C,S,S in 0..1) as an underexposed or washed-out camera shows them: the levels
    scaled by a gain log-uniform in ``EXPOSURE_MIN_GAIN``..1 and lifted by a uniform share of what the gain frees,
    from a dim room (no lift) to haze, glare or a backlit auto-exposure (the face pushed up to the bright end). The
    training faces' contrast spans about 2.5 times from their 5th to 95th percentile; a webcam in a dim lab gives
    a quarter of a typical face's."""
    b = images.shape[0]
    dev = images.device
    pick = torch.rand(b, 1, 1, 1, generator=g, device=dev) < p
    gain = torch.exp(torch.rand(b, 1, 1, 1, generator=g, device=dev) * math.log(EXPOSURE_MIN_GAIN))
    lift = torch.rand(b, 1, 1, 1, generator=g, device=dev) * (1 - gain)
    return torch.where(pick, images * gain + lift, images)


def camera_conditions(images: torch.Tensor, gamma: float, light: float, blur_p: float, noise: float,
                      g: torch.Generator | None) -> torch.Tensor:
    """Exposure, side light, softness/sharpening and sensor noise on (B,C,S,S) images in 0..1."""
    b, _, s, _ = images.shape
    dev = images.device
    if gamma > 0:
        lo, hi = math.log(1 / (1 + gamma)), math.log(1 + gamma)
        gam = torch.exp(torch.rand(b, 1, 1, 1, generator=g, device=dev) * (hi - lo) + lo)
        images = images.clamp_min(1e-4) ** gam
    if light > 0:
        ang = torch.rand(b, generator=g, device=dev) * (2 * math.pi)
        ramp = torch.linspace(-1, 1, s, device=dev)
        ramp_x, ramp_y = ramp[None, None, :], ramp[None, :, None]
        field = torch.cos(ang)[:, None, None] * ramp_x + torch.sin(ang)[:, None, None] * ramp_y
        amount = torch.rand(b, 1, 1, generator=g, device=dev) * light
        images = images * (1 + amount * field)[:, None]
    if blur_p > 0:
        kernel = torch.tensor([1.0, 2.0, 1.0], device=dev)
        kernel = (kernel[:, None] * kernel[None, :] / 16).expand(images.shape[1], 1, 3, 3)
        soft = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=images.shape[1])
        # per face: blurred (softer lens, motion), sharpened (webcam sharpening halo) or unchanged
        pick = torch.rand(b, 1, 1, 1, generator=g, device=dev)
        sharp = images + (images - soft)
        images = torch.where(pick < blur_p / 2, soft, torch.where(pick < blur_p, sharp, images))
    if noise > 0:
        sigma = torch.rand(b, 1, 1, 1, generator=g, device=dev) * noise
        images = images + torch.randn(images.shape, generator=g, device=dev) * sigma
    return images.clamp(0, 1)


# the IJG (libjpeg) luminance quantisation table at quality 50, row by row
JPEG_LUMA_TABLE = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                   14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                   49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)


@lru_cache(maxsize=4)
def _dct_matrix(device: str) -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix (rows: frequencies)."""
    n = torch.arange(8, dtype=torch.float32)
    d = torch.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d.to(device)


def jpeg_tables(quality: torch.Tensor) -> torch.Tensor:
    """(B,8,8) quantisation tables for per-face JPEG qualities 1..100, scaled as libjpeg scales them."""
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    base = torch.tensor(JPEG_LUMA_TABLE, dtype=torch.float32, device=quality.device).view(1, 8, 8)
    return torch.floor((base * scale.view(-1, 1, 1) + 50) / 100).clamp(1, 255)


def jpeg_round_trip(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """(B,C,S,S) images in 0..1 through JPEG's lossy step at per-image ``quality`` (B,): 8x8 block DCT, quantisation
    with libjpeg's luminance table, and back (each channel alike, no chroma subsampling)."""
    b, c, h, w = images.shape
    x = F.pad(images, (0, (-w) % 8, 0, (-h) % 8), mode="replicate") * 255 - 128
    hh, ww = x.shape[-2] // 8, x.shape[-1] // 8
    blocks = x.view(b, c, hh, 8, ww, 8).permute(0, 1, 2, 4, 3, 5)  # (B,C,hh,ww,8,8)
    d = _dct_matrix(str(images.device))
    table = jpeg_tables(quality).view(b, 1, 1, 1, 8, 8)
    out = d.T @ (torch.round(d @ blocks @ d.T / table) * table) @ d
    return ((out.permute(0, 1, 2, 4, 3, 5).reshape(b, c, hh * 8, ww * 8) + 128) / 255)[..., :h, :w].clamp(0, 1)


def compress(images: torch.Tensor, p: float, min_quality: float, g: torch.Generator | None = None) -> torch.Tensor:
    """A share ``p`` of the images JPEG-compressed (``jpeg_round_trip``) at a quality uniform in ``min_quality``..95.
    Webcams send MJPEG or H.264 and photos are JPEGs: blocking and ringing that FER2013's crops, made from one
    JPEG, show only mildly."""
    b, dev = images.shape[0], images.device
    quality = torch.rand(b, generator=g, device=dev) * (95 - min_quality) + min_quality
    pick = torch.rand(b, 1, 1, 1, generator=g, device=dev) < p
    return torch.where(pick, jpeg_round_trip(images, quality), images)
