"""Where training runs and how fast it can: the device, mixed precision where the hardware has it, and the
hardware's name for the model card."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

import torch


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, cfg: dict):
    """bf16/fp16 autocast where the hardware does it natively. On a CPU without bf16 instructions (AVX2 only)
    PyTorch emulates bf16 and a step is about 15x slower than in float32, so there ``amp`` is ignored."""
    enabled = bool(cfg["amp"]) and (device.type != "cpu" or cpu_has_native_bf16())
    dtype = torch.bfloat16 if device.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16 (Linux /proc/cpuinfo flags); anything else counts as emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("amx_bf16", "avx512_bf16"))


def hardware_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as fh:
            name = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), name)
    threads = torch.get_num_threads()
    return f"CPU {name}, {os.cpu_count()} logical cores, {threads} torch thread{'s' if threads != 1 else ''}"
