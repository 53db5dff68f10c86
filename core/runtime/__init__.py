"""Inference backends: the ways of running the pose model, chosen by name or by `auto`.

A backend is a callable `backend(x) -> heatmaps` taking normalised N×3×H×W float32 crops (any device)
and returning float32 N×J×H/4×W/4 heatmaps. It reports the device it runs on and the precision it
actually computes in, so callers (the estimator, the benchmark) never assume one.

- `eager-plain`: the model as written, fp32, no tricks: the reference every speed-up is measured
  against, and the model the parity tests compare with.
- `eager`: BatchNorm folded into the preceding convolutions (fold_batchnorm), channels-last, under
  inference_mode; on the CPU bf16 autocast where the CPU has native bf16 (AVX512-BF16 / AMX / Arm
  BF16), on CUDA fp16 weights with cudnn.benchmark.
- `compile`: torch.compile (inductor) of the `eager` model, batch dimension dynamic.
- `onnxruntime`: the exported ONNX model in ONNX Runtime (onnxruntime.py).
- `tensorrt`: a torch-tensorrt engine, fp16, cached on disk (tensorrt.py; GPU only).

On CUDA, person batches reach a backend padded to a few sizes (buckets.py: 1, 2, 4, 8, 16, 32), warmed
up at start, so no backend meets a new batch size mid-run. Every backend allocates and runs under
`device_scope(device)`, so cuda:1 (or a torchrun rank's cuda:LOCAL_RANK) never touches cuda:0.

`auto` picks tensorrt when CUDA and torch_tensorrt are usable, else eager on CUDA, else eager on the
CPU. A candidate that cannot run logs one line saying why and `auto` moves on; a backend asked for by
name that cannot run is a UserError.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError, one_line
from core.runtime import compile as compile_backend
from core.runtime import onnxruntime, tensorrt
from core.runtime.base import CACHE_ROOT, PRECISIONS, Backend, model_input_size, weights_digest
from core.runtime.buckets import batch_buckets, bucket_for, pad_batch, run_bucketed, warm_up
from core.runtime.device import cpu_name, cpu_supports_bf16, device_scope, resolve_device
from core.runtime.eager import EagerBackend, PlainBackend

__all__ = [
    "ALIASES",
    "BACKENDS",
    "CACHE_ROOT",
    "PRECISIONS",
    "Backend",
    "auto_candidates",
    "available_backends",
    "backend_name",
    "batch_buckets",
    "bucket_for",
    "cpu_name",
    "cpu_supports_bf16",
    "create_backend",
    "device_scope",
    "model_input_size",
    "pad_batch",
    "precision_name",
    "resolve_device",
    "resolve_precision",
    "run_bucketed",
    "supported_precisions",
    "unavailable_reason",
    "warm_up",
    "weights_digest",
]

log = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {
    "eager": "PyTorch eager, tuned: BatchNorm folded, channels-last, bf16 (CPU) / fp16 (CUDA)",
    "eager-plain": "PyTorch eager fp32 exactly as written: the reference for speed and accuracy",
    "compile": "torch.compile (inductor) of the tuned eager model",
    "onnxruntime": "ONNX Runtime on the exported ONNX model",
    "tensorrt": "torch-tensorrt engine (dynamo), fp16, dynamic batch, cached on disk; NVIDIA GPUs only",
}
ALIASES = {"onnx": "onnxruntime", "ort": "onnxruntime", "trt": "tensorrt", "plain": "eager-plain"}


def backend_name(name: str) -> str:
    """Canonical backend name ('auto' stays 'auto'); UserError for an unknown one."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key != "auto" and key not in BACKENDS:
        raise UserError(f"unknown backend {name!r}; choose from auto, {', '.join(BACKENDS)}")
    return key


def supported_precisions(name: str, device: torch.device) -> tuple[str, ...]:
    """Precisions a backend can compute in on a device, best (the `auto` choice) first."""
    name = backend_name(name)
    if name in ("eager-plain", "onnxruntime"):
        return ("fp32",)
    if name == "tensorrt":
        return ("fp16", "fp32")
    if device.type == "cuda":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ("fp16", "fp32", "bf16") if bf16 else ("fp16", "fp32")
    return ("bf16", "fp32") if cpu_supports_bf16() else ("fp32", "bf16")


def precision_name(precision: str) -> str:
    """Canonical precision name ('auto' stays 'auto'); UserError for an unknown one."""
    text = str(precision).strip().lower()
    if text != "auto" and text not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose from auto, {', '.join(PRECISIONS)}")
    return text


def resolve_precision(name: str, device: torch.device, precision: str = "auto") -> str:
    """'auto' -> the backend's best precision on the device; an unsupported one is a UserError."""
    choices = supported_precisions(name, device)
    text = precision_name(precision)
    if text == "auto":
        return choices[0]
    if text not in choices:
        supported = ", ".join(choices)
        raise UserError(
            f"backend {backend_name(name)} cannot run {text} on {device.type}; it supports {supported}"
        )
    return text


def unavailable_reason(name: str, device: torch.device) -> str | None:
    """Why a backend cannot run on a device here, or None when it can (cheap: builds nothing)."""
    name = backend_name(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available"
    if name == "compile":
        return compile_backend.unavailable_reason(device)
    if name == "onnxruntime":
        return onnxruntime.unavailable_reason(device)
    if name == "tensorrt":
        return tensorrt.unavailable_reason(device)
    return None


def available_backends(device: str | torch.device = "auto") -> list[str]:
    """Names of the backends that can run on `device` on this machine."""
    resolved = resolve_device(device)
    return [name for name in BACKENDS if unavailable_reason(name, resolved) is None]


def _build(name: str, model: nn.Module, device: torch.device, precision: str, **options) -> Backend:
    if name == "eager-plain":
        return PlainBackend(model, device, precision)
    input_size = model_input_size(model, options.get("input_size"))
    if name == "eager":
        return EagerBackend(model, device, precision, input_size)
    if name == "compile":
        return compile_backend.CompileBackend(model, device, precision, input_size)
    if name == "onnxruntime":
        return onnxruntime.OnnxRuntimeBackend(model, device, input_size, cache_dir=options.get("cache_dir"))
    return tensorrt.TensorRTBackend(
        model,
        device,
        precision,
        input_size,
        max_batch=options.get("max_batch", 32),
        cache_dir=options.get("cache_dir"),
    )


def auto_candidates(device: torch.device) -> list[str]:
    return ["tensorrt", "eager"] if device.type == "cuda" else ["eager"]


def create_backend(
    model: nn.Module,
    name: str = "auto",
    device: str | torch.device = "auto",
    precision: str = "auto",
    *,
    max_batch: int = 32,
    input_size: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
) -> Backend:
    """The backend `name` for `model` on `device`; see the module docstring for `auto`.

    `max_batch` bounds the batch sizes an engine is built for (TensorRT); `cache_dir` overrides where
    compiled engines / exported ONNX files are kept.
    """
    name = backend_name(name)
    device_text = str(device).strip().lower()
    resolved = resolve_device(device)
    options = {"max_batch": max_batch, "input_size": input_size, "cache_dir": cache_dir}
    if name != "auto":
        precision_used = resolve_precision(name, resolved, precision)
        reason = unavailable_reason(name, resolved)
        if reason:
            raise UserError(f"backend {name} cannot run on {resolved}: {reason}")
        try:
            return _build(name, model, resolved, precision_used, **options)
        except UserError:
            raise
        except Exception as error:
            raise UserError(f"backend {name} failed to start on {resolved}: {one_line(error)}") from error

    candidates = auto_candidates(resolved)
    if device_text == "auto" and resolved.type == "cpu":
        log.warning("backend auto: tensorrt skipped (CUDA is not available); using eager on the CPU")
    for index, candidate in enumerate(candidates):
        last = index == len(candidates) - 1
        try:
            precision_used = resolve_precision(candidate, resolved, precision)
            reason = unavailable_reason(candidate, resolved)
            if reason is None:
                return _build(candidate, model, resolved, precision_used, **options)
        except Exception as error:
            if last and isinstance(error, UserError):
                raise
            if last:
                message = f"backend auto: {candidate} failed on {resolved}: {one_line(error)}"
                raise UserError(message) from error
            reason = one_line(error)
        if not last:
            log.warning(
                "backend auto: %s cannot run (%s); trying %s", candidate, reason, candidates[index + 1]
            )
    raise UserError(f"backend auto: nothing can run on {resolved}")  # eager always can; defensive
