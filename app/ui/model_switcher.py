"""Choosing the model and execution provider: background loads, hot swap, and keeping the old model on failure.

The running model is only replaced once its successor has loaded and warmed up, so video never stops; a failed
load (corrupt file, card/graph mismatch, a provider that will not start) leaves the previous model and provider
running and says why in the banner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.analyze import load_engine
from app.inference.engine import InferenceEngine
from app.inference.providers import LABELS
from app.inference.registry import ModelRegistry
from app.ui.banner import Banner
from app.ui.controls import ModelControls
from app.ui.settings import AppSettings
from app.ui.workers import describe_error


class ModelLoader(QObject):
    """Builds ``InferenceEngine``s off the GUI thread; only the newest request's outcome is delivered.

    Creating an ONNX Runtime session (TensorRT especially) takes from a fraction of a second to minutes, so it must
    not freeze the window; a person who picks two models in a row gets the second one.
    """

    loaded = Signal(object, str)  # engine, requested model name
    failed = Signal(str, str)  # sentence, requested model name

    def __init__(self, registry: ModelRegistry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self._request = 0
        self._threads: list[threading.Thread] = []

    @property
    def busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def load(self, name: str | None, provider: str) -> None:
        self._request += 1
        request = self._request
        thread = threading.Thread(target=self._run, args=(name, provider, request), name="model-loader", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, name: str | None, provider: str, request: int) -> None:
        try:
            engine = load_engine(name, provider, registry=self.registry)
        except Exception as exc:
            message = describe_error(exc, f"loading model {name}")
            if request == self._request:
                self.failed.emit(message, name or "")
            return
        if request == self._request:
            self.loaded.emit(engine, name or engine.card.name)

    def wait(self, timeout: float = 10.0) -> None:
        """Join loads in progress (window closing): a signal into a deleted window would crash."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class ModelSwitcher(QObject):
    """Drives ``ModelControls``; ``apply(engine)`` hands a loaded engine to the stream worker."""

    activated = Signal(str)  # name of the model now running

    def __init__(
        self,
        registry: ModelRegistry,
        controls: ModelControls,
        banner: Banner,
        settings: AppSettings,
        apply: Callable[[InferenceEngine], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.registry, self.controls, self.banner, self.settings = registry, controls, banner, settings
        self._apply = apply
        self.loader = ModelLoader(registry, self)
        self.engine: InferenceEngine | None = None
        self.active_model: str | None = None
        self._active_provider = settings.provider
        self._requested_provider = settings.provider
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        controls.modelChosen.connect(self.select)
        controls.providerChosen.connect(self.set_provider)

    def refresh(self) -> None:
        """Re-read the models folder (new or fixed files show up) and keep the active model selected."""
        self.controls.set_entries(self.registry.entries())
        self.controls.select_model(self.active_model)

    def remembered(self) -> str | None:
        names = [e.name for e in self.registry.entries() if e.usable]
        return self.settings.model if self.settings.model in names else None

    def select(self, name: str | None, initial: bool = False) -> None:
        """Load ``name`` (None: the registry's default) in the background; the current model runs meanwhile."""
        entry = next((e for e in self.registry.entries() if e.name == name), None) if name else None
        if entry is not None and entry.error:
            self.banner.show_error(f"Model {entry.name} cannot be used: {entry.error}")
            self.controls.select_model(self.active_model)
            return
        if name is None and self.registry.default() is None:
            if initial:
                self.banner.show_message(
                    f"No usable model in {self.registry.models_dir}: video runs without expression analysis.",
                    "warning",
                )
            return
        self._requested_provider = self.controls.current_provider()
        self.controls.show_running(self._requested_provider, loading=True)
        self.loader.load(name, self._requested_provider)

    def set_provider(self, key: str) -> None:
        """Reload the running model (or the default) on provider ``key``."""
        self.controls.select_provider(key)
        self.select(self.active_model)

    def _on_loaded(self, engine: InferenceEngine, name: str) -> None:
        self.engine, self.active_model = engine, name
        self._active_provider = self._requested_provider
        self._apply(engine)
        self.settings.model, self.settings.provider = name, self._active_provider
        self.controls.select_model(name)
        self._show_engine()
        self.activated.emit(name)

    def _on_failed(self, message: str, name: str) -> None:
        still = f" Still using {self.active_model}." if self.active_model else ""
        self.banner.show_error(f"Could not load model {name or '(default)'}: {message}{still}")
        self.controls.select_model(self.active_model)
        self.controls.select_provider(self._active_provider)
        self._show_engine()

    def _show_engine(self) -> None:
        if self.engine is None:
            self.controls.show_running("no model")
            return
        label = LABELS.get(self.engine.provider, self.engine.provider)
        self.controls.show_running(f"{label} · {self.engine.card.name}", self.engine.fallback_note)
