"""The class-name table shared by the app and training (FER2013 order)."""

from __future__ import annotations

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Names other datasets use for the same expressions (RAF-DB, AffectNet, CK+, FER+ exports).
SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "calm": "neutral",
}


def canonical_name(name: str) -> str | None:
    """Map a dataset's class name onto ours; None when the class has no counterpart (e.g. contempt)."""
    key = name.strip().lower()
    key = SYNONYMS.get(key, key)
    return key if key in EXPRESSIONS else None


def class_mapping(source_classes: list[str] | tuple[str, ...], target_classes=EXPRESSIONS) -> dict[int, int]:
    """Index map from a dataset's classes to ``target_classes``; unmatched source classes are left out."""
    mapping: dict[int, int] = {}
    for i, name in enumerate(source_classes):
        canon = canonical_name(str(name))
        if canon is not None and canon in target_classes:
            mapping[i] = list(target_classes).index(canon)
    return mapping
