"""Datasets in the shared archive format, the original FER2013 CSV, and image folders, as one in-memory form.

Archive format (``../shared/data/README.md``): ``images`` uint8 (N,H,W) or (N,H,W,3) RGB, ``labels`` (N,),
``classes`` (C,), optional ``split`` (N,), optional scalar ``face_crops``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.capture.base import IMAGE_EXTENSIONS
from app.labels import EXPRESSIONS, class_mapping


@dataclass
class LabelledImages:
    """Images (list or array; grey or RGB) with labels already mapped onto ``classes``."""

    images: list[np.ndarray] | np.ndarray
    labels: np.ndarray
    split: np.ndarray
    classes: tuple[str, ...]
    face_crops: bool
    name: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, split: str) -> LabelledImages:
        idx = np.where(self.split == split)[0]
        imgs = self.images[idx] if isinstance(self.images, np.ndarray) else [self.images[i] for i in idx]
        return LabelledImages(imgs, self.labels[idx], self.split[idx], self.classes, self.face_crops, self.name)


def default_data_dir() -> Path:
    """``FERLIVE_DATA`` or ``../shared/data`` beside the project."""
    env = os.environ.get("FERLIVE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _remap(labels: np.ndarray, source_classes, target_classes) -> tuple[np.ndarray, np.ndarray]:
    """Labels mapped onto the target classes, and a keep-mask for the ones that have a counterpart."""
    mapping = class_mapping([str(c) for c in source_classes], target_classes)
    keep = np.array([int(v) in mapping for v in labels], dtype=bool)
    mapped = np.array([mapping.get(int(v), -1) for v in labels], dtype=np.int64)
    return mapped, keep


def load_archive(path: str | Path, classes: tuple[str, ...] = EXPRESSIONS) -> LabelledImages:
    """Load an ``.npz`` archive; classes without a counterpart (e.g. CK+ contempt) are dropped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset archive {path} not found")
    with np.load(path, allow_pickle=False) as d:
        for key in ("images", "labels", "classes"):
            if key not in d.files:
                raise ValueError(f"{path} is not a ferlive archive: it has no '{key}' array")
        labels, keep = _remap(d["labels"], d["classes"], classes)
        split = d["split"].astype(str) if "split" in d.files else np.full(len(labels), "all")
        face_crops = bool(d["face_crops"]) if "face_crops" in d.files else False
        images = d["images"][keep]
    return LabelledImages(images, labels[keep], split[keep], tuple(classes), face_crops, path.stem)


def load_fer2013_csv(path: str | Path) -> LabelledImages:
    """The original Kaggle CSV: ``emotion,pixels,Usage`` with 48x48 space-separated pixels."""
    images, labels, split = [], [], []
    usage_names = {"Training": "train", "PublicTest": "publictest", "PrivateTest": "privatetest"}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            images.append(np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48))
            labels.append(int(row["emotion"]))
            split.append(usage_names.get(row.get("Usage", ""), "train"))
    return LabelledImages(np.stack(images), np.array(labels), np.array(split), EXPRESSIONS, True, Path(path).stem)


def load_image_folder(root: str | Path, classes: tuple[str, ...] = EXPRESSIONS, face_crops: bool = False
                      ) -> LabelledImages:
    """``root/<split>/<class>/*.jpg`` (RAF-DB, AffectNet, FER+ exports); class folder names are mapped by synonym."""
    root = Path(root)
    images, labels, split = [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            mapping = class_mapping([class_dir.name], classes)
            if not mapping:
                continue
            for f in sorted(class_dir.iterdir()):
                if f.suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if img is None:
                    continue
                images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
                labels.append(mapping[0])
                split.append(split_dir.name)
    if not images:
        raise ValueError(f"no labelled images under {root} (expected root/<split>/<class>/*.jpg)")
    return LabelledImages(images, np.array(labels), np.array(split), tuple(classes), face_crops, root.name)


def load_dataset(path: str | Path, classes: tuple[str, ...] = EXPRESSIONS, face_crops: bool | None = None
                 ) -> LabelledImages:
    """Pick the loader by what ``path`` is: .npz archive, .csv, or an image folder. ``face_crops`` overrides what
    the data declares (an image folder cannot declare it: AffectNet's 96 px faces are crops, a folder of photos
    is not)."""
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path, classes, face_crops=bool(face_crops))
    data = load_fer2013_csv(path) if path.suffix == ".csv" else load_archive(path, classes)
    if face_crops is not None:
        data.face_crops = face_crops
    return data
