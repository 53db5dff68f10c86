"""What `--backend auto` picks on this machine, and the one line that says why.

On CUDA: `tensorrt` when torch-tensorrt imports, else `eager` (fp16).

On the CPU the fastest backend depends on one thing, native bf16 arithmetic (AVX512-BF16, AMX or
Arm BF16; device.cpu_supports_bf16), measured W32 baseline, batch 8, against `eager-plain` in one
run on each kind of CPU (docs/performance.md has the tables and commands):
- with native bf16: `eager` bf16 (≈3× eager-plain; onnxruntime fp32 ≈1.5×);
- without (AVX2-only laptops and VMs; AVX512 without BF16): `onnxruntime` fp32 (≈1.5× eager-plain,
  where `eager`, folded fp32 channels-last, gives ≈1.25×), else `eager` fp32 when onnxruntime
  cannot be imported.
A precision asked for explicitly narrows the candidates (onnxruntime computes fp32 only).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from core.runtime.base import Backend
from core.runtime.device import cpu_isa, cpu_supports_bf16

log = logging.getLogger("core.runtime")


def auto_candidates(
    device: torch.device, model: nn.Module | None = None, precision: str = "auto"
) -> tuple[list[str], str]:
    """(backends to try in order, why this order) for `auto` on `device`."""
    if device.type == "cuda":
        return ["tensorrt", "eager"], "CUDA: TensorRT first, else eager fp16"
    log.debug("backend auto: tensorrt skipped (it needs CUDA)")  # no news on a CPU: not a warning
    isa = cpu_isa()
    if cpu_supports_bf16():
        return ["eager", "onnxruntime"], f"this CPU has native bf16 ({isa}): eager bf16 is the fastest"
    if precision in ("auto", "fp32", "fp32-strict"):
        why = f"no native bf16 on this CPU ({isa}): onnxruntime fp32 is faster than eager fp32"
        return ["onnxruntime", "eager"], why
    return ["eager"], f"precision {precision} runs in eager only"


def explain_choice(backend: Backend, why: str) -> None:
    """The one line saying which backend `auto` chose and why (INFO: `--verbose` shows it); the
    text stays on the backend as `auto_reason` for reports."""
    backend.auto_reason = why
    log.info("backend auto: %s %s on %s (%s)", backend.name, backend.precision, backend.device, why)
