"""Which torch device to run on, and what the CPU can do fast: questions every backend asks first."""

from __future__ import annotations

import contextlib
import functools
import os
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


@contextlib.contextmanager
def cuda_math(device: torch.device, precision: str, benchmark: bool = True):
    """cuDNN autotuning and TF32 as `precision` says, for the calls inside; the process-wide flags
    (torch.backends.cudnn.benchmark / allow_tf32, torch.backends.cuda.matmul.allow_tf32) are put
    back after, so a backend never changes them for the rest of the program. "fp32" means TF32
    convolutions (PyTorch's default, labelled "tf32"), "fp32-strict" IEEE fp32 everywhere."""
    if device.type != "cuda":
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    cudnn.benchmark = benchmark
    if precision == "fp32":
        cudnn.allow_tf32 = True
    elif precision == "fp32-strict":
        cudnn.allow_tf32 = matmul.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = saved


# oneDNN's ISA caps (ONEDNN_MAX_CPU_ISA) below which it has no native bf16 kernels: a cap emulates
# an older CPU (docs/performance.md measures an AVX2-only CPU this way), and `auto` must follow it.
ONEDNN_CAPS_WITHOUT_BF16 = {
    "SSE41",
    "AVX",
    "AVX2",
    "AVX2_VNNI",
    "AVX2_VNNI_2",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
}


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return flags


def onednn_isa_cap() -> str | None:
    """ONEDNN_MAX_CPU_ISA (or its old name DNNL_MAX_CPU_ISA) when set, upper case."""
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return value.strip().upper() if value else None


@functools.cache
def cpu_supports_bf16() -> bool:
    """Native bf16 arithmetic (x86 AVX512-BF16 or AMX, Arm BF16): only then is bf16 faster than fp32.

    oneDNN also *emulates* bf16 on plain AVX512, which is slower than fp32, so torch's own
    `_is_mkldnn_bf16_supported()` is not the question; the CPU's flags are, and oneDNN's ISA cap.
    """
    if onednn_isa_cap() in ONEDNN_CAPS_WITHOUT_BF16:
        return False
    if not Path("/proc/cpuinfo").is_file():
        return platform.system() == "Darwin" and platform.machine() == "arm64"  # Apple M2+ have BF16
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16", "bf16"})


def cpu_isa() -> str:
    """The flags that decide the CPU backend, in words (for the `auto` line and benchmark headers),
    with any emulation cap (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY) named."""
    flags = cpu_flags()
    present = [
        name for name in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if name in flags
    ]
    if "bf16" in flags:
        present.append("bf16")
    text = " ".join(present) or platform.machine()
    caps = [
        f"{name}={os.environ[name]}"
        for name in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
        if os.environ.get(name)
    ]
    return f"{text}; capped by {', '.join(caps)}" if caps else text


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
