"""Run the app's face pipeline once over a dataset and cache aligned crops + landmarks.

python -m training.data.prepare ../shared/data/fer2013.npz --size 48 --color gray

Small crops (FER2013's 48x48) are upscaled and padded before MediaPipe sees them (``app.face.stills``, which the
app's photo path shares). Where no face is found in an image that is already a face crop, the whole crop is used
with the canonical landmark shape (``crop_as_face``), and counted. Photos with no face found are marked undetected
(evaluation counts them as misclassified).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from app.face.align import TEMPLATE_VERSION, AlignedFace, align_face, crop_as_face
from app.face.stills import enlarge_for_detection, faces_in_still
from training.data.archive import LabelledImages, load_dataset
from training.data.bundle_file import is_bundle, unpack
from training.data.prepared import PreparedData


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A dataset image (grey, or RGB as archives hold it) in the app's BGR."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def upscale_crop(image: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Dataset image -> BGR, enlarged and padded for detection as the app does it; returns (big, scale, pad)."""
    return enlarge_for_detection(as_bgr(image))


def align_dataset_image(mesh, image: np.ndarray, size: int, gray: bool, face_crops: bool
                        ) -> tuple[AlignedFace | None, bool]:
    """The app's still pipeline on one dataset image: (aligned face or None, whether MediaPipe found it)."""
    bgr = as_bgr(image)
    faces = faces_in_still(mesh, bgr)
    if faces:
        face = max(faces, key=lambda f: f.area)
        return align_face(bgr, face.landmarks, size, gray=gray), True
    if face_crops:
        return crop_as_face(bgr, size, gray=gray), False
    return None, False


_worker_mesh = None


def _init_worker() -> None:
    global _worker_mesh
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from app.face.mesh import FaceMesh

    _worker_mesh = FaceMesh(max_faces=1, video_mode=False, min_confidence=0.3)


def _work(args):
    image, size, gray, face_crops = args
    aligned, detected = align_dataset_image(_worker_mesh, image, size, gray, face_crops)
    if aligned is None:
        return None, None, False
    return aligned.image, aligned.landmarks.astype(np.float16), detected


def prepare(data: LabelledImages, size: int, gray: bool, workers: int = 2, desc: str = "prepare") -> PreparedData:
    """Align every image with progress; returns arrays ready for training."""
    n = len(data)
    shape = (n, size, size) if gray else (n, size, size, 3)
    images = np.zeros(shape, np.uint8)
    landmarks = np.zeros((n, 478, 3), np.float16)
    detected = np.zeros(n, bool)
    usable = np.zeros(n, bool)
    jobs = ((data.images[i], size, gray, data.face_crops) for i in range(n))
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        for i, (img, lm, det) in enumerate(tqdm(pool.imap(_work, jobs, chunksize=64), total=n, desc=desc)):
            if img is not None:
                images[i], landmarks[i], usable[i] = img, lm, True
            detected[i] = det
    return PreparedData(images, landmarks, data.labels, data.split, detected, usable, data.classes)


def content_fingerprint(source: Path, chunk: int = 1 << 20) -> str:
    """Size plus a hash of the first and last MiB: survives a copy or a touched mtime, changes with the data."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file())
        listing = "|".join(f"{p.relative_to(source)}:{p.stat().st_size}" for p in files)
        return hashlib.sha1(listing.encode()).hexdigest()
    size = source.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with open(source, "rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(chunk, size - chunk))
            h.update(fh.read(chunk))
    return h.hexdigest()


def cache_path(source: Path, size: int, gray: bool, cache_dir: Path) -> Path:
    key = f"{content_fingerprint(source)}|{size}|{gray}|{TEMPLATE_VERSION}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return cache_dir / f"{source.stem}_{size}{'g' if gray else 'c'}_{digest}.npz"


def default_cache_dir() -> Path:
    return Path(os.environ.get("FERLIVE_CACHE", Path(__file__).resolve().parents[2] / "cache"))


def load_or_prepare(source: str | Path, size: int, gray: bool, cache_dir: Path | None = None,
                    workers: int = 2) -> PreparedData:
    """Cached prepared data for ``source``; prepares (and reports coverage) on first use."""
    source = Path(source)
    if is_bundle(source):  # already prepared elsewhere (e.g. carried to a GPU machine)
        prep = unpack(source)
        if prep.images.shape[1] != size or (prep.images.ndim == 3) != gray:
            raise ValueError(f"{source} holds {prep.images.shape[1:]} images; this model wants {size} px "
                             f"{'gray' if gray else 'colour'}")
        return prep
    cache_dir = cache_dir or default_cache_dir()
    path = cache_path(source, size, gray, cache_dir)
    if path.exists():
        with np.load(path) as d:
            return PreparedData(d["images"], d["landmarks"], d["labels"], d["split"], d["detected"], d["usable"],
                                tuple(str(c) for c in d["classes"]))
    data = load_dataset(source)
    prep = prepare(data, size, gray, workers, desc=f"prepare {source.name}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=prep.images, landmarks=prep.landmarks, labels=prep.labels, split=prep.split,
             detected=prep.detected, usable=prep.usable, classes=np.array(prep.classes))
    tmp.replace(path)
    print(json.dumps(coverage_report(prep, data.face_crops)))
    return prep


def coverage_report(prep: PreparedData, face_crops: bool) -> dict:
    n = len(prep.labels)
    found = int(prep.detected.sum())
    return {
        "images": n,
        "faces_found": found,
        "found_fraction": round(found / max(n, 1), 4),
        "fallback_whole_crop": int((prep.usable & ~prep.detected).sum()) if face_crops else 0,
        "unusable": int((~prep.usable).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="Cache aligned crops and landmarks for a dataset.")
    ap.add_argument("source")
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--color", choices=["gray", "rgb"], default="gray")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args()
    prep = load_or_prepare(args.source, args.size, args.color == "gray", args.cache_dir, args.workers)
    print(json.dumps(coverage_report(prep, True)))


if __name__ == "__main__":
    main()
