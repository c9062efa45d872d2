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
from app.inference.lineup import declared_default, fallback_order, runs_on_gpu
from app.inference.providers import LABELS
from app.inference.registry import ModelRegistry
from app.ui.banner import Banner
from app.ui.model_controls import ModelControls
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
    """Drives ``ModelControls``; ``apply(engine)`` hands a loaded engine to the stream worker.

    The dropdown always shows what runs or is loading. At start-up a model that will not load (a corrupt default,
    a name that is not there) is followed by the next usable one (the default, then the most accurate that keeps
    up live) and the banner says so; ``settled`` fires once start-up has a model or has run out of them.
    """

    activated = Signal(str)  # name of the model now running
    settled = Signal()  # the start-up load is over (a model runs, or none could be loaded)

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
        self.loading_model: str | None = None
        self._active_provider = settings.provider
        self._requested_provider = settings.provider
        self._fallbacks: list[str] | None = None  # names still to try while starting up; None once settled
        self._failures: list[str] = []
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        controls.modelChosen.connect(self.select)
        controls.providerChosen.connect(self.set_provider)

    @property
    def starting(self) -> bool:
        return self._fallbacks is not None

    def refresh(self) -> None:
        """Re-read the models folder (new or fixed files show up) and keep the running or loading model shown."""
        provider = self.engine.provider if self.engine is not None else self.controls.current_provider()
        self.controls.set_entries(self.registry.entries(), on_gpu=runs_on_gpu(provider))
        self.controls.select_model(self.loading_model or self.active_model)

    def remembered(self) -> str | None:
        names = [e.name for e in self.registry.entries() if e.usable]
        return self.settings.model if self.settings.model in names else None

    def start(self, name: str | None) -> None:
        """The start-up load: ``name`` (None: the default), falling back through the usable models."""
        entries = self.registry.entries()
        declared = declared_default(entries)
        if name is None and declared is not None and not declared.usable:
            name = declared.name  # tried first, so the person learns why the default is not running
        default = self.registry.default()
        on_gpu = runs_on_gpu(self.controls.current_provider())
        order = fallback_order(entries, name, default.name if default else None, on_gpu)
        if not order:
            self.banner.show_message(
                f"No usable model in {self.registry.models_dir}: video runs without expression analysis.", "warning"
            )
            self.settled.emit()
            return
        self._fallbacks, self._failures = order[1:], []
        self.select(order[0])

    def select(self, name: str | None, initial: bool = False) -> None:
        """Load ``name`` (None: the registry's default) in the background; the current model runs meanwhile."""
        if initial:
            self.start(name)
            return
        entry = next((e for e in self.registry.entries() if e.name == name), None) if name else None
        if entry is not None and entry.error:
            if self.starting:
                self._on_failed(entry.error, entry.name)
                return
            still = f" Still using {self.active_model}." if self.active_model else ""
            self.banner.show_error(f"Model {entry.name} cannot be used: {entry.error}{still}")
            self.controls.select_model(self.loading_model or self.active_model)
            return
        default = self.registry.default()
        name = name or (default.name if default else None)
        if name is None:
            return
        self._requested_provider = self.controls.current_provider()
        self.loading_model = name
        self.controls.select_model(name)
        self.controls.show_running(f"{name} ({self._requested_provider})", loading=True)
        self.loader.load(name, self._requested_provider)

    def set_provider(self, key: str) -> None:
        """Reload the running model (or the default) on provider ``key``."""
        self.controls.select_provider(key)
        self.select(self.loading_model or self.active_model)

    def _on_loaded(self, engine: InferenceEngine, name: str) -> None:
        self.engine, self.active_model, self.loading_model = engine, name, None
        self._active_provider = self._requested_provider
        self._apply(engine)
        self.settings.model, self.settings.provider = name, self._active_provider
        self.refresh()
        self._show_engine()
        if self._failures:
            self.banner.show_error(f"{' '.join(self._failures)} Using {name} instead.")
        self.activated.emit(name)
        self._settle()

    def _on_failed(self, message: str, name: str) -> None:
        self.loading_model = None
        if self._fallbacks:  # starting up: say why and try the next model
            self._failures.append(f"Could not load model {name}: {message.rstrip('.')}.")
            self.select(self._fallbacks.pop(0))
            return
        still = f" Still using {self.active_model}." if self.active_model else ""
        if self.starting:
            still = " No model could be loaded: video runs without expression analysis."
        earlier = "".join(f"{failure} " for failure in self._failures)
        self.banner.show_error(f"{earlier}Could not load model {name or '(default)'}: {message}{still}")
        self.controls.select_model(self.active_model)
        self.controls.select_provider(self._active_provider)
        self._show_engine()
        self._settle()

    def _settle(self) -> None:
        if self._fallbacks is not None:
            self._fallbacks, self._failures = None, []
            self.settled.emit()

    def _show_engine(self) -> None:
        if self.engine is None:
            self.controls.show_running("no model")
            return
        label = LABELS.get(self.engine.provider, self.engine.provider)
        self.controls.show_running(f"{label} · {self.engine.card.name}", self.engine.fallback_note)
