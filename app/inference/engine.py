"""ONNX Runtime session for one expression model, checked against its card before it is trusted.

The ONNX I/O contract (what ``training/export.py`` writes and what this engine feeds):

* input ``image``: float32 ``(N, C, S, S)``, already normalised as ``(x / 255 - mean) / std`` per channel, with
  channels in the card's colour order (``C`` = 1 for ``gray``, 3 for ``rgb``/``bgr``; ``S`` = ``card.input.size``).
* input ``landmarks`` (optional): float32 ``(N, 478, 3)``, the aligned landmarks
  ``app.face.align.align_face(...).landmarks`` (unit-square crop coordinates). Present exactly when
  ``card.input.landmarks == 'mediapipe478'``; no other inputs are allowed.
* output ``probabilities``: float32 ``(N, len(card.classes))``, softmax already applied in the graph, class
  order = ``card.classes``.
* the batch axis ``N`` is dynamic on every input and output.

A model whose graph disagrees with its card (input names, channels, size, class count) is refused with a
:class:`~app.errors.ModelLoadError` naming the file and the disagreement: a wrong card would otherwise give
plausible-looking but wrong labels, which is worse than no model.

Thread safety: ONNX Runtime sessions allow concurrent ``run()`` calls, so :meth:`InferenceEngine.predict` may
be called from several threads; only ``last_ms`` is shared (last writer wins). Build engines off the GUI thread:
construction loads the model, may build a TensorRT engine (minutes on first use), and runs a warm-up.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from app.errors import InferenceCancelled, ModelLoadError
from app.inference.card import METADATA_KEY, ModelCard
from app.inference.providers import LOG_SEVERITY, open_session, short_name, tensorrt_options

IMAGE_INPUT = "image"
LANDMARKS_INPUT = "landmarks"
OUTPUT = "probabilities"
NUM_LANDMARKS = 478
TRT_MAX_BATCH = 32  # TensorRT engines are built for batches 1..32; larger batches are split
_FLOAT = "tensor(float)"


class InferenceEngine:
    """One model on the best execution provider that really loads; ``predict`` classifies all faces at once."""

    def __init__(
        self,
        onnx_path: str | Path,
        card: ModelCard | None = None,
        provider: str = "auto",
        threads: int | None = None,
        warmup_runs: int = 3,
    ):
        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise ModelLoadError(f"model file {self.path} not found")
        card_path = self.path.with_suffix(".json")
        if card is None and card_path.is_file():
            card = ModelCard.from_json(card_path)
        trt = tensorrt_options(_trt_profile(card)) if card is not None else tensorrt_options()
        opened = open_session(self.path, session_options(threads), provider, trt)
        self.session: ort.InferenceSession = opened.session
        self.fallback_note: str | None = opened.fallback_note
        self.card: ModelCard = card if card is not None else _card_from_metadata(self.session, self.path)
        check_graph(self.session, self.card, self.path)
        self.providers: list[str] = self.session.get_providers()
        self.provider: str = short_name(self.providers[0])  # 'tensorrt' | 'cuda' | 'cpu' | other EP's stem
        self.max_batch: int | None = TRT_MAX_BATCH if self.provider == "tensorrt" else None
        self.last_ms: float = 0.0
        self.warmup_ms: float = 0.0
        self._runs: set[ort.RunOptions] = set()  # runs in flight, so cancel() can stop them
        self._runs_lock = threading.Lock()
        self._cancels = 0  # cancel() calls so far: predict() stops between chunks when it changes
        self.warmup(warmup_runs)

    @property
    def classes(self) -> list[str]:
        return self.card.classes

    def __repr__(self) -> str:
        return f"InferenceEngine({self.card.name!r}, provider={self.provider!r})"

    # ------------------------------------------------------------------------------------------------ running
    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """Aligned uint8 crops -> the ``image`` tensor.

        ``crops`` is ``(N, S, S, 3)`` BGR or ``(N, S, S)`` grey, as ``align_face(..., gray=card.input.color ==
        'gray')`` makes them. Colour is converted to the card's order, crops of another size are resized, and
        the result is normalised, NCHW, float32 and contiguous.
        """
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[..., None]
        if crops.ndim != 4 or crops.shape[-1] not in (1, 3):
            raise ValueError(f"crops must be (N, S, S, 3) BGR or (N, S, S) grey, got shape {crops.shape}")
        spec = self.card.input
        crops = _convert_color(crops, spec.color)
        if crops.shape[1:3] != (spec.size, spec.size):
            crops = _resize(crops, spec.size)
        scale = 1.0 / (255.0 * np.asarray(spec.std, np.float32))
        offset = np.asarray(spec.mean, np.float32) / np.asarray(spec.std, np.float32)
        x = crops.astype(np.float32) * scale - offset
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def predict(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities ``(N, len(classes))`` for all faces of a frame in one batched call.

        ``landmarks`` (N, 478, 3) are required when the card uses landmarks and ignored otherwise. N = 0 returns
        an empty array without touching ONNX Runtime.
        """
        n = len(crops)
        if n == 0:
            return np.zeros((0, len(self.card.classes)), np.float32)
        lms = self._landmarks(landmarks, n)
        start = time.perf_counter()
        images = self.preprocess(crops)
        step = self.max_batch or n
        generation = self._cancels  # a cancel() during this call also stops the chunks not yet started
        parts = []
        for i in range(0, n, step):
            if self._cancels != generation:
                raise self._cancelled()
            parts.append(self._run(images[i : i + step], None if lms is None else lms[i : i + step]))
        probs = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return probs

    def warmup(self, runs: int = 3) -> None:
        """Run blank batches of 1 (``runs`` times) and 2 so the first real frame is not the slow one.

        It also checks what only a run can show: the real output shape and that rows are probabilities.
        """
        shape = (self.card.input.size, self.card.input.size) + (() if self.card.channels == 1 else (3,))
        for i, n in enumerate([1] * max(runs, 1) + [2]):
            crops = np.full((n, *shape), 128, np.uint8)
            lms = np.full((n, NUM_LANDMARKS, 3), 0.5, np.float32) if self.card.uses_landmarks else None
            start = time.perf_counter()
            probs = self._run(self.preprocess(crops), lms)
            if i == 0:
                self.warmup_ms = (time.perf_counter() - start) * 1000.0
            self._check_output(probs, n)

    def cancel(self) -> None:
        """Stop the runs in flight (any thread): each raises ``InferenceCancelled`` within a node or two.

        Switching away from a slow model must not wait for its frame in flight (the ensemble takes over a second
        per frame on a busy CPU); later runs are unaffected.
        """
        with self._runs_lock:
            self._cancels += 1
            for options in self._runs:
                options.terminate = True

    def _run(self, images: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
        feed = {IMAGE_INPUT: images}
        if landmarks is not None:
            feed[LANDMARKS_INPUT] = landmarks
        options = ort.RunOptions()
        with self._runs_lock:
            self._runs.add(options)
        try:
            probs = self.session.run([OUTPUT], feed, options)[0]
        except Exception:
            if options.terminate:
                raise self._cancelled() from None
            raise
        finally:
            with self._runs_lock:
                self._runs.discard(options)
        if options.terminate:  # cancelled as its last node ran: finished, but no longer wanted
            raise self._cancelled()
        return probs

    def _cancelled(self) -> InferenceCancelled:
        return InferenceCancelled(f"{self.card.name}: run cancelled")

    def _landmarks(self, landmarks: np.ndarray | None, n: int) -> np.ndarray | None:
        if not self.card.uses_landmarks:
            return None
        if landmarks is None:
            raise ValueError(f"model {self.card.name} needs the aligned landmarks (N, 478, 3) of every face")
        lms = np.ascontiguousarray(landmarks, dtype=np.float32)
        if lms.shape != (n, NUM_LANDMARKS, 3):
            raise ValueError(f"landmarks must be ({n}, {NUM_LANDMARKS}, 3) for {n} crops, got {lms.shape}")
        return lms

    def _check_output(self, probs: np.ndarray, n: int) -> None:
        want = (n, len(self.card.classes))
        if probs.shape != want:
            raise ModelLoadError(
                f"{self.path}: output '{OUTPUT}' has shape {probs.shape} for a batch of {n}, the card "
                f"({len(self.card.classes)} classes) expects {want}"
            )
        sums = probs.sum(axis=1)
        if not np.all(np.isfinite(probs)) or np.any(np.abs(sums - 1.0) > 1e-2):
            raise ModelLoadError(
                f"{self.path}: output '{OUTPUT}' rows are not probabilities (row sums {np.round(sums, 3)}); "
                "the graph must end in a softmax"
            )


# ------------------------------------------------------------------------------------------------------ set-up
def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Full graph optimisation, quiet logs, and a bounded thread pool.

    By default ONNX Runtime takes every core; capture and the face mesh run beside it, so the default here is
    ``min(4, cpu_count)``.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = LOG_SEVERITY
    options.intra_op_num_threads = threads if threads is not None else min(4, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    return options


def check_graph(session: ort.InferenceSession, card: ModelCard, path: Path) -> None:
    """Refuse a graph whose inputs/outputs disagree with the card (static dimensions only; batch is free)."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}

    def fail(message: str) -> ModelLoadError:
        return ModelLoadError(f"{path}: graph and card disagree: {message}")

    if IMAGE_INPUT not in inputs:
        raise fail(f"the graph has no '{IMAGE_INPUT}' input (inputs: {', '.join(inputs)})")
    if card.uses_landmarks and LANDMARKS_INPUT not in inputs:
        raise fail(
            f"the card says input.landmarks='{card.input.landmarks}' but the graph has no '{LANDMARKS_INPUT}' input"
        )
    if not card.uses_landmarks and LANDMARKS_INPUT in inputs:
        raise fail(f"the graph has a '{LANDMARKS_INPUT}' input but the card says input.landmarks='none'")
    extra = set(inputs) - {IMAGE_INPUT, LANDMARKS_INPUT}
    if extra:
        raise fail(f"the graph has inputs the app cannot feed: {', '.join(sorted(extra))}")
    image = inputs[IMAGE_INPUT]
    _check_tensor(
        fail,
        image,
        IMAGE_INPUT,
        [None, card.channels, card.input.size, card.input.size],
        [
            "batch",
            f"channels (card colour '{card.input.color}')",
            "height (card input.size)",
            "width (card input.size)",
        ],
    )
    if LANDMARKS_INPUT in inputs:
        _check_tensor(
            fail, inputs[LANDMARKS_INPUT], LANDMARKS_INPUT, [None, NUM_LANDMARKS, 3], ["batch", "points", "coordinates"]
        )
    if OUTPUT not in outputs:
        raise fail(f"the graph has no '{OUTPUT}' output (outputs: {', '.join(outputs)})")
    _check_tensor(
        fail, outputs[OUTPUT], OUTPUT, [None, len(card.classes)], ["batch", f"classes (card lists {len(card.classes)})"]
    )


def _check_tensor(fail, arg: ort.NodeArg, name: str, want: list[int | None], meaning: list[str]) -> None:
    if arg.type != _FLOAT:
        raise fail(f"'{name}' is {arg.type}, expected float32")
    shape = list(arg.shape)
    if len(shape) != len(want):
        raise fail(f"'{name}' has {len(shape)} dimensions {shape}, expected {len(want)}")
    for dim, expected, what in zip(shape, want, meaning):
        if expected is not None and isinstance(dim, int) and dim != expected:
            raise fail(f"'{name}' {what}: graph has {dim}, card expects {expected}")


def _card_from_metadata(session: ort.InferenceSession, path: Path) -> ModelCard:
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if text is None:
        raise ModelLoadError(
            f"{path}: no model card: {path.with_suffix('.json').name} is missing and the ONNX metadata has no "
            f"'{METADATA_KEY}' entry"
        )
    return ModelCard.from_json_text(text, f"{path} (metadata '{METADATA_KEY}')")


def _trt_profile(card: ModelCard) -> dict[str, tuple[tuple[int, ...], ...]]:
    s, c = card.input.size, card.channels
    profile = {IMAGE_INPUT: tuple((b, c, s, s) for b in (1, 1, TRT_MAX_BATCH))}
    if card.uses_landmarks:
        profile[LANDMARKS_INPUT] = tuple((b, NUM_LANDMARKS, 3) for b in (1, 1, TRT_MAX_BATCH))
    return profile


def _convert_color(crops: np.ndarray, color: str) -> np.ndarray:
    """BGR/grey crops -> the card's colour order (grey from BGR uses OpenCV's weights, as training does)."""
    if color == "gray":
        if crops.shape[-1] == 1:
            return crops
        return np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops])[..., None]
    if crops.shape[-1] == 1:
        crops = np.repeat(crops, 3, axis=-1)
    return crops[..., ::-1] if color == "rgb" else crops


def _resize(crops: np.ndarray, size: int) -> np.ndarray:
    interp = cv2.INTER_AREA if crops.shape[1] > size else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(c, (size, size), interpolation=interp) for c in crops])
    return out.reshape(len(crops), size, size, crops.shape[-1])
