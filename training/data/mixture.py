"""Several datasets as one training set: FER2013's grey crops beside AffectNet's in-the-wild colour faces.

Each dataset is prepared through the app's own face pipeline at the model's input (cached per dataset), its
``train`` split joins the training set, and its own validation split (``publictest`` for FER2013, ``valid`` for
AffectNet) is kept apart, so a run reports accuracy per dataset and selects on their mean rather than on the
dataset with more faces. Where an archive carries FERPlus crowd votes, the hard label is blended with the
annotators' distribution (soft labels): FER2013's single labels are noisy, and a face ten people split between
sad and neutral should not be taught as 100% sad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.labels import class_mapping
from training.data.bundle_file import bundle_dataset, bundle_votes, is_bundle
from training.data.prepare import PreparedData, load_or_prepare

VAL_SPLITS = ("publictest", "valid", "val", "test")
FERPLUS_TO_OURS = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                   "sadness": "sad", "surprise": "surprise", "neutral": "neutral"}


@dataclass
class ValidationSet:
    """One dataset's held-out faces, scored on their own."""

    name: str
    split: str
    images: np.ndarray
    landmarks: np.ndarray
    labels: np.ndarray


@dataclass
class TrainingMixture:
    """The joined training faces with hard labels, target distributions and the dataset each came from."""

    images: np.ndarray
    landmarks: np.ndarray
    labels: np.ndarray
    targets: np.ndarray  # (N, C) float32 rows summing to 1
    origin: np.ndarray  # (N,) index into ``names``
    rows: np.ndarray  # (N,) each face's row in its dataset's prepared cache
    names: list[str]
    classes: tuple[str, ...]
    validation: list[ValidationSet]

    def counts_by_dataset(self) -> dict[str, list[int]]:
        n = len(self.classes)
        return {name: np.bincount(self.labels[self.origin == i], minlength=n).tolist()
                for i, name in enumerate(self.names)}

    def blend_teacher(self, dataset: str, probs: np.ndarray, weight: float) -> int:
        """Targets of ``dataset``'s faces become ``(1 - weight) * targets + weight * teacher`` where the teacher
        (probabilities per prepared row) covers the face; returns how many faces it covered."""
        if dataset not in self.names:
            raise ValueError(f"the teacher file is for {dataset!r}; this run trains on {', '.join(self.names)}")
        sel = np.where(self.origin == self.names.index(dataset))[0]
        if self.rows[sel].max(initial=-1) >= len(probs):
            raise ValueError(f"the teacher file for {dataset!r} has {len(probs)} rows, fewer than its prepared cache")
        teacher = probs[self.rows[sel]]
        has = ~np.isnan(teacher).any(1)
        self.targets[sel[has]] = (1 - weight) * self.targets[sel[has]] + weight * teacher[has]
        return int(has.sum())


def dataset_name(source: Path) -> str:
    """What teacher files and validation reports call a source: a bundle's packed name, else the file stem."""
    return bundle_dataset(source) if is_bundle(source) else source.stem


def ferplus_vote_targets(archive: Path, classes: tuple[str, ...]) -> np.ndarray | None:
    """(N, C) vote distributions in the archive's order (rows of NaN where the image has no usable votes), or None
    when the archive has no ``ferplus_votes``. Contempt, unknown and not-a-face votes are dropped."""
    if is_bundle(archive):
        return bundle_votes(archive)
    if archive.suffix != ".npz":
        return None
    with np.load(archive, allow_pickle=False) as d:
        if "ferplus_votes" not in d.files:
            return None
        votes = d["ferplus_votes"].astype(np.float32)
        columns = [str(c) for c in d["ferplus_vote_columns"]]
        _, keep = _kept_rows(d["labels"], d["classes"], classes)
    out = np.zeros((len(votes), len(classes)), np.float32)
    for col, name in enumerate(columns):
        if name in FERPLUS_TO_OURS:
            out[:, classes.index(FERPLUS_TO_OURS[name])] = np.maximum(votes[:, col], 0)
    total = out.sum(1, keepdims=True)
    out = np.where(total > 0, out / np.maximum(total, 1), np.nan).astype(np.float32)
    return out[keep]


def _kept_rows(labels: np.ndarray, source_classes, target_classes) -> tuple[dict, np.ndarray]:
    mapping = class_mapping([str(c) for c in source_classes], target_classes)
    return mapping, np.array([int(v) in mapping for v in labels], dtype=bool)


def soft_targets(labels: np.ndarray, votes: np.ndarray | None, n_classes: int, weight: float) -> np.ndarray:
    """One-hot labels blended with vote distributions: ``(1 - weight) * onehot + weight * votes`` where votes exist."""
    onehot = np.eye(n_classes, dtype=np.float32)[labels]
    if votes is None or weight <= 0:
        return onehot
    has = ~np.isnan(votes).any(1)
    out = onehot.copy()
    out[has] = (1 - weight) * onehot[has] + weight * votes[has]
    return out


def validation_split(prep: PreparedData, preferred: str | None = None) -> str:
    present = set(prep.split.tolist())
    for name in ((preferred,) if preferred else ()) + VAL_SPLITS:
        if name in present:
            return name
    raise ValueError(f"no validation split among {sorted(present)} (looked for {', '.join(VAL_SPLITS)})")


def load_mixture(sources: list[str | Path], size: int, gray: bool, train_split: str = "train",
                 val_split: str | None = None, vote_weight: float = 0.0) -> TrainingMixture:
    """Prepare each source at the model's input and join their training splits (unusable faces dropped)."""
    parts, validation, names, classes = [], [], [], None
    for i, source in enumerate(sources):
        source = Path(source)
        prep = load_or_prepare(source, size, gray)
        if classes is not None and tuple(prep.classes) != classes:
            raise ValueError(f"{source} has classes {prep.classes}, the first dataset has {classes}")
        classes = tuple(prep.classes)
        votes = ferplus_vote_targets(source, classes) if vote_weight > 0 else None
        idx = np.where((prep.split == train_split) & prep.usable)[0]
        if len(idx) == 0:
            raise ValueError(f"{source} has no usable faces in split {train_split!r}")
        targets = soft_targets(prep.labels[idx], None if votes is None else votes[idx], len(classes), vote_weight)
        parts.append((prep.images[idx], prep.landmarks[idx], prep.labels[idx], targets, np.full(len(idx), i), idx))
        vsplit = validation_split(prep, val_split)
        v = prep.subset(vsplit)  # faces the pipeline could not use are left out of checkpoint selection
        name = dataset_name(source)  # a bundle's is read from the file: once
        validation.append(ValidationSet(name, vsplit, v.images[v.usable], v.landmarks[v.usable], v.labels[v.usable]))
        names.append(name)
    images, landmarks, labels, targets, origin, rows = (np.concatenate(arrays) for arrays in zip(*parts))
    return TrainingMixture(images, landmarks, labels.astype(np.int64), targets, origin, rows, names, classes,
                           validation)
