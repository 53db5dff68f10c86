"""Which torch device to run on, and what the CPU can do fast: questions every backend asks first."""

from __future__ import annotations

import contextlib
import functools
import platform
from pathlib import Path

import torch

from core.errors import UserError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda when available else cpu; an unavailable CUDA device is a UserError."""
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(text)
    except (RuntimeError, ValueError):
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {device!r} requested but CUDA is not available on this machine")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UserError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        if resolved.index is None:  # pin it: "cuda" means the current device *now*, not at each call
            resolved = torch.device("cuda", torch.cuda.current_device())
    elif resolved.type != "cpu":
        raise UserError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return resolved


def device_scope(device: torch.device | str) -> contextlib.AbstractContextManager:
    """`torch.cuda.device(device)` for a CUDA device, else nothing.

    Whatever allocates without naming a device (torch_tensorrt's example inputs and its save, pinned
    buffers, CUDA events, cuDNN handles) uses the *current* device, which is cuda:0 in every process
    unless set; run under this scope, they land on `device` (cuda:1, or torchrun's LOCAL_RANK).
    """
    device = torch.device(device)
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.device(device)


@functools.cache
def cpu_supports_bf16() -> bool:
    """Native bf16 arithmetic (x86 AVX512-BF16 or AMX, Arm BF16): only then is bf16 faster than fp32.

    oneDNN also *emulates* bf16 on plain AVX512, which is slower than fp32, so torch's own
    `_is_mkldnn_bf16_supported()` is not the question; the CPU's flags are.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.system() == "Darwin" and platform.machine() == "arm64"  # Apple M2+ have BF16
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
