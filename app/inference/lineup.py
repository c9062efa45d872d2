"""Which models keep up with live video here, and the order to fall back in when a model will not load.

A model's measured CPU cost (``metrics.cpu_ms_per_face`` on its card) against one frame's budget decides whether
it keeps up with live video on a CPU. On a GPU provider every shipped model does, so nothing is marked there.
No Qt here: the model menu and the start-up fallback both ask these questions.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.errors import ModelLoadError
from app.inference.card import ModelCard
from app.inference.registry import ModelEntry

LIVE_FPS = 15.0  # the slowest rate that still reads as live video
FACE_MESH_MS = 10.0  # MediaPipe face mesh per frame on a CPU (README benchmark: 5-9 ms), paid before any model
GPU_PROVIDERS = ("cuda", "tensorrt")


def frame_budget_ms(fps: float = LIVE_FPS) -> float:
    """Milliseconds a model may spend on one face per frame at ``fps`` once the face mesh has run."""
    return 1000.0 / fps - FACE_MESH_MS


def too_slow_for_live(card: ModelCard, on_gpu: bool, fps: float = LIVE_FPS) -> bool:
    """True when the card's measured CPU cost per face exceeds the frame budget and the model runs on the CPU."""
    ms = card.cpu_ms_per_face
    return not on_gpu and ms is not None and ms > frame_budget_ms(fps)


def runs_on_gpu(provider: str | None) -> bool:
    """``provider`` is what really runs (``engine.provider``) or, before anything loaded, what was asked for; an
    "auto" request counts as CPU until a GPU session really exists (onnxruntime-gpu lists CUDA without a GPU)."""
    return provider in GPU_PROVIDERS


def fallback_order(
    entries: Sequence[ModelEntry], requested: str | None, default: str | None, on_gpu: bool = False
) -> list[str]:
    """Usable model names to try in turn: ``requested``, the default, then the models that keep up with live video
    (most accurate first), then the rest (most accurate first). Unknown or unusable names are left out, except
    ``requested``, which is tried so its failure can be reported."""
    usable = [e for e in entries if e.usable]

    def accuracy(e: ModelEntry) -> float:
        return e.card.accuracy if e.card.accuracy is not None else -1.0

    live = sorted((e for e in usable if not too_slow_for_live(e.card, on_gpu)), key=accuracy, reverse=True)
    slow = sorted((e for e in usable if too_slow_for_live(e.card, on_gpu)), key=accuracy, reverse=True)
    order: list[str] = []
    for name in [requested, default, *(e.name for e in live), *(e.name for e in slow)]:
        if name and name not in order:
            order.append(name)
    return order


def declared_default(entries: Sequence[ModelEntry]) -> ModelEntry | None:
    """The entry whose card says ``default: true``, usable or not: when the default's file is damaged the registry
    lists it without its card, and the person must still be told that the default could not be used."""
    for entry in entries:
        card = entry.card
        if card is None:
            try:
                card = ModelCard.from_json(entry.onnx_path.with_suffix(".json"))
            except ModelLoadError:
                continue
        if card.default:
            return entry
    return None
