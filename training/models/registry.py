"""Architectures by name (timm style): ``--arch`` is a lookup, never an if/elif chain.

The families import this module to register themselves; it imports none of them (``training.models``, the
package, imports every family, so the table is full whichever module a caller imports first).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}
_CONFIGS: dict[tuple[str, str], dict] = {}


def register_model(arch: str, configs: dict[str, dict]):
    """Decorator: register a model class under ``arch`` with its named size configs."""

    def wrap(cls):
        _FACTORIES[arch] = cls
        for size, cfg in configs.items():
            _CONFIGS[(arch, size)] = cfg
        return cls

    return wrap


def model_config(arch: str, size: str, **overrides) -> dict:
    if (arch, size) not in _CONFIGS:
        known = sorted(f"{a}/{s}" for a, s in _CONFIGS)
        raise KeyError(f"unknown model {arch}/{size}; known: {', '.join(known)}")
    return {**_CONFIGS[(arch, size)], **overrides}


def create_model(arch: str, size: str = "small", **overrides) -> nn.Module:
    """Build ``arch`` at ``size``; keyword overrides change single config entries (e.g. num_classes)."""
    cfg = model_config(arch, size, **overrides)
    return _FACTORIES[arch](**cfg)


def list_models() -> list[tuple[str, str]]:
    return sorted(_CONFIGS)
