"""Execution providers chosen from what really loads, not from what is installed.

``onnxruntime-gpu`` lists TensorRT and CUDA in ``get_available_providers()`` whenever they were compiled in,
even on a machine without the CUDA libraries or a GPU; ONNX Runtime then drops them silently (or, for
TensorRT, raises) and runs on the CPU. So the only honest answer is ``session.get_providers()`` after the
session exists. ``provider='auto'`` walks TensorRT -> CUDA -> CPU and records a one-line note saying what was
skipped and why; an explicit request that does not really load is a :class:`~app.errors.ProviderError`.

ONNX Runtime's own logging of a provider library that fails to load is noise to a user (a red C++ error per
attempt), so the default logger is raised to FATAL only while GPU providers are being tried. That logger is
process-wide: a lock serialises those windows, and other sessions' errors are hidden only during them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from app.errors import ModelLoadError, ProviderError

PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
LABELS = {"tensorrt": "TensorRT", "cuda": "CUDA", "cpu": "CPU"}
PREFERENCE = ("tensorrt", "cuda", "cpu")
LOG_SEVERITY = 3  # ONNX Runtime: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
_QUIET_SEVERITY = 4

_logger_lock = threading.Lock()
ort.set_default_logger_severity(LOG_SEVERITY)


@dataclass(frozen=True)
class OpenedSession:
    """A live session and, when ``auto`` had to skip a faster provider, why (else None)."""

    session: ort.InferenceSession
    fallback_note: str | None


def short_name(provider: str) -> str:
    """``CUDAExecutionProvider`` -> ``cuda``; providers we do not prefer keep their lower-cased stem."""
    for key, name in PROVIDERS.items():
        if name == provider:
            return key
    return provider.removesuffix("ExecutionProvider").lower()


def default_cache_dir() -> Path:
    """Where TensorRT keeps built engines: ``$FERLIVE_CACHE`` or ``~/.cache/ferlive``, plus ``trt``."""
    root = os.environ.get("FERLIVE_CACHE") or Path.home() / ".cache" / "ferlive"
    return Path(root) / "trt"


def tensorrt_options(
    profile: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] | None = None,
    cache_dir: Path | None = None,
) -> dict[str, object]:
    """TensorRT settings: FP16, and engine + timing caches so only the first start pays the build (minutes).

    ``profile`` maps input name -> (min, opt, max) shapes. An explicit profile makes TensorRT build one engine
    for the whole batch range instead of rebuilding each time a larger batch (more faces) first appears.
    """
    cache = cache_dir or default_cache_dir()
    opts: dict[str, object] = {
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
    }
    if profile:
        for i, key in enumerate(("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")):
            opts[key] = ",".join(f"{name}:{'x'.join(map(str, shapes[i]))}" for name, shapes in profile.items())
    return opts


def open_session(
    path: Path, options: ort.SessionOptions, provider: str = "auto", trt_options: dict[str, object] | None = None
) -> OpenedSession:
    """Create a session on the best provider that really loads (``auto``) or on exactly ``provider``.

    Raises ProviderError for an unknown name, a provider missing from this build, or one that does not load;
    ModelLoadError when even the CPU cannot load the file (it is not a valid ONNX model).
    """
    available = ort.get_available_providers()
    if provider == "auto":
        wanted = [k for k in PREFERENCE if PROVIDERS[k] in available]
    elif provider in PROVIDERS:
        if PROVIDERS[provider] not in available:
            raise ProviderError(
                f"{LABELS[provider]} was requested but this onnxruntime build has no {PROVIDERS[provider]} "
                f"(it has {', '.join(available)})"
            )
        wanted = [provider]
    else:
        raise ProviderError(f"unknown provider '{provider}': choose auto, tensorrt, cuda or cpu")

    failures: dict[str, str] = {}
    for key in wanted:
        chain = [k for k in PREFERENCE[PREFERENCE.index(key) :] if PROVIDERS[k] in available]
        try:
            session = _create(path, options, chain, trt_options)
        except Exception as exc:  # ORT raises its own types (Fail, InvalidProtobuf, ...), not RuntimeError
            if key == "cpu":
                raise invalid_model_error(path, exc) from None
            failures[key] = _why_not_loaded(key, exc)
            continue
        loaded = short_name(session.get_providers()[0])
        skipped = chain[: chain.index(loaded)] if loaded in chain else chain
        for k in skipped:
            failures.setdefault(k, _why_not_loaded(k))
        if loaded == key or provider == "auto":
            return OpenedSession(session, _note(failures, loaded) if failures else None)
        raise ProviderError(
            f"{LABELS[key]} was requested but did not load ({failures[key]}); ONNX Runtime loaded "
            f"{LABELS.get(loaded, loaded)} instead. Choose provider 'auto' to fall back automatically."
        )
    # Only an explicit GPU request whose session creation raised gets here: is it the provider or the model?
    _ensure_loads_on_cpu(path, options)
    raise ProviderError(
        f"{LABELS[provider]} was requested but failed to start ({failures[provider]}); the model does load on "
        "CPU. Choose provider 'auto' to fall back automatically."
    )


def invalid_model_error(path: Path, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(f"{path} is not a valid ONNX model ({short_ort_error(exc)})")


def short_ort_error(exc: BaseException, limit: int = 160) -> str:
    """ORT's messages carry a status code, a source location and the full path; keep only the reason."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"^Load model from .*? failed:\s*", "", text)
    text = re.sub(r"^\S+\.(?:cc|cpp|h):\d+ .*?\)\s+", "", text)  # "/onnxruntime_src/...cc:729 void f(...) "
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _create(
    path: Path, options: ort.SessionOptions, chain: list[str], trt_options: dict[str, object] | None
) -> ort.InferenceSession:
    providers: list[str | tuple[str, dict[str, object]]] = [
        (PROVIDERS[k], trt_options) if k == "tensorrt" and trt_options else PROVIDERS[k] for k in chain
    ]
    if chain == ["cpu"]:
        return ort.InferenceSession(str(path), options, providers=providers)
    if "tensorrt" in chain and trt_options:
        Path(str(trt_options.get("trt_engine_cache_path", default_cache_dir()))).mkdir(parents=True, exist_ok=True)
    with _quiet_default_logger():
        # enable_fallback=0: we do the falling back (and say so) instead of ORT printing a banner to stdout.
        return ort.InferenceSession(str(path), options, providers=providers, enable_fallback=0)


def _ensure_loads_on_cpu(path: Path, options: ort.SessionOptions) -> None:
    try:
        _create(path, options, ["cpu"], None)
    except Exception as exc:  # see open_session
        raise invalid_model_error(path, exc) from None


@contextlib.contextmanager
def _quiet_default_logger() -> Iterator[None]:
    with _logger_lock:
        ort.set_default_logger_severity(_QUIET_SEVERITY)
        try:
            yield
        finally:
            ort.set_default_logger_severity(LOG_SEVERITY)


def _note(failures: dict[str, str], loaded: str) -> str:
    parts = [f"{LABELS[k]} unavailable ({reason})" for k, reason in failures.items()]
    return "; ".join(parts) + f"; running on {LABELS.get(loaded, loaded)}"


def _why_not_loaded(key: str, exc: BaseException | None = None) -> str:
    """A short reason a GPU provider did not load: the missing library when the loader can name it."""
    library = _provider_library(key)
    if library is not None and library.exists():
        try:
            ctypes.CDLL(str(library))
        except OSError as err:
            return _short_loader_error(str(err))
    elif library is not None:
        return f"{library.name} is not installed"
    if exc is not None:
        return short_ort_error(exc, limit=100)
    return "no usable GPU or driver"


def _provider_library(key: str) -> Path | None:
    capi = Path(ort.__file__).parent / "capi"
    if sys.platform.startswith("linux"):
        return capi / f"libonnxruntime_providers_{key}.so"
    if sys.platform == "win32":
        return capi / f"onnxruntime_providers_{key}.dll"
    return None


def _short_loader_error(message: str) -> str:
    missing = re.search(r"([^\s:/\\]+\.(?:so[.\d]*|dll|dylib)): cannot open shared object file", message)
    if missing:
        return f"{missing.group(1)} missing"
    if "Could not find module" in message:
        return "a CUDA/cuDNN DLL it needs is missing"
    return " ".join(message.split())[:100]
