"""The bundle file: prepared data packed small for a machine that has neither the dataset nor MediaPipe.

Images are lossless WebP by default (1.3x smaller than zlib), or lossy WebP at a given quality when two datasets must
fit one transfer (quality 90: half the bytes, a mean error of 1.5 grey levels, below a webcam's sensor noise); the
478x3 landmarks, which move together, are kept
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


LOSSLESS = 101  # OpenCV's WebP quality above 100 means lossless


def pack(prep: PreparedData, out: Path, components: int = 96, quality: int = LOSSLESS, dataset: str = "",
         votes: np.ndarray | None = None) -> dict:
    """Write ``prep`` as a bundle; returns a report (bytes, landmark error in unit-square coordinates).

    ``dataset`` is the source's name, which cached teacher files and validation reports refer to; ``votes`` are
    per-row crowd-vote distributions (FERPlus), which otherwise live only in the source archive."""
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
        "image_quality": "lossless" if quality > 100 else quality,
    }
    blobs = [encode_image(im, quality) for im in prep.images]
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
        dataset=dataset or out.name.removesuffix(BUNDLE_SUFFIX),
        **({} if votes is None else {"vote_targets": votes.astype(np.float32)}),
    )
    report["bytes"] = out.stat().st_size
    return report


def encode_image(image: np.ndarray, quality: int = LOSSLESS) -> np.ndarray:
    if not 1 <= quality <= LOSSLESS:
        raise ValueError(f"WebP quality must be 1 to 100, or {LOSSLESS} for lossless (got {quality})")
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
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


def bundle_dataset(path: str | Path) -> str:
    """The name of the dataset a bundle was packed from (older bundles: the file name without its suffix)."""
    with np.load(path) as d:
        return str(d["dataset"]) if "dataset" in d.files else Path(path).name.removesuffix(BUNDLE_SUFFIX)


def bundle_votes(path: str | Path) -> np.ndarray | None:
    """The crowd-vote distributions packed with a bundle, or None."""
    with np.load(path) as d:
        return d["vote_targets"] if "vote_targets" in d.files else None


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
