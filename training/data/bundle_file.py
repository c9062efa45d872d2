"""The bundle file: prepared data packed small for a machine that has neither the dataset nor MediaPipe.

Images stay lossless (WebP lossless, 1.3x smaller than zlib); the 478x3 landmarks, which move together, are kept
as their leading principal components (the reconstruction error is measured and stored, so a bundle says how far
its landmarks are from the originals). ``training.data.prepare.load_or_prepare`` reads a bundle through
``unpack``; the command that writes one is ``python -m training.data.bundle``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from training.data.prepared import PreparedData

BUNDLE_SUFFIX = ".bundle.npz"


def pack(prep: PreparedData, out: Path, components: int = 96) -> dict:
    """Write ``prep`` as a bundle; returns a report (bytes, landmark error in unit-square coordinates)."""
    flat = prep.landmarks.reshape(len(prep.labels), -1).astype(np.float32)
    use = prep.usable
    mean = flat[use].mean(0)
    _, _, vt = np.linalg.svd(flat[use][:: max(1, use.sum() // 8000)] - mean, full_matrices=False)
    basis = vt[:components].astype(np.float32)
    coeffs = ((flat - mean) @ basis.T).astype(np.float16)
    recon = coeffs.astype(np.float32) @ basis + mean
    err = np.abs(recon - flat)[use]
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "images": int(len(prep.labels)),
        "components": components,
        "landmark_max_error": float(err.max()),
        "landmark_mean_error": float(err.mean()),
    }
    blobs = [encode_image(im) for im in prep.images]
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(
        out,
        image_bytes=np.concatenate(blobs),
        image_offsets=offsets,
        gray=prep.images.ndim == 3,
        lm_mean=mean,
        lm_basis=basis,
        lm_coeffs=coeffs,
        labels=prep.labels,
        split=prep.split,
        detected=prep.detected,
        usable=prep.usable,
        classes=np.array(prep.classes),
        report=json.dumps(report),
    )
    report["bytes"] = out.stat().st_size
    return report


def encode_image(image: np.ndarray) -> np.ndarray:
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100 means lossless
    if not ok:
        raise RuntimeError("OpenCV could not encode WebP")
    return buf.ravel()


def decode_images(blob: np.ndarray, offsets: np.ndarray, gray: bool) -> np.ndarray:
    out = []
    for a, b in zip(offsets[:-1], offsets[1:]):
        im = cv2.imdecode(blob[a:b], cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
        out.append(im if gray else cv2.cvtColor(im, cv2.COLOR_BGR2RGB))
    return np.stack(out)


def is_bundle(path: str | Path) -> bool:
    return str(path).endswith(BUNDLE_SUFFIX)


def unpack(path: str | Path) -> PreparedData:
    with np.load(path) as d:
        lm = d["lm_coeffs"].astype(np.float32) @ d["lm_basis"] + d["lm_mean"]
        n = len(d["labels"])
        images = decode_images(d["image_bytes"], d["image_offsets"], bool(d["gray"]))
        return PreparedData(
            images,
            lm.reshape(n, 478, 3).astype(np.float16),
            d["labels"],
            d["split"],
            d["detected"],
            d["usable"],
            tuple(str(c) for c in d["classes"]),
        )
