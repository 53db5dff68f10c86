"""The backends by name: one table, name -> class. Adding a backend is one module with a `Backend`
subclass (base.py says what it provides) and one row here; help texts, precision choices and
availability all come from the class.

`create_backend` builds one by name, or by `auto` (auto.py decides the order on this machine): a
candidate that cannot run says why in one line and `auto` moves on; a backend asked for by name
that cannot run is a UserError.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError, one_line
from core.runtime.auto import auto_candidates, explain_choice
from core.runtime.base import PRECISIONS, Backend, BuildOptions
from core.runtime.compile import CompileBackend
from core.runtime.device import resolve_device
from core.runtime.eager import EagerBackend, PlainBackend
from core.runtime.onnxruntime import OnnxRuntimeBackend
from core.runtime.tensorrt import TensorRTBackend

log = logging.getLogger("core.runtime")

BACKENDS: dict[str, type[Backend]] = {
    "eager": EagerBackend,
    "eager-plain": PlainBackend,
    "compile": CompileBackend,
    "onnxruntime": OnnxRuntimeBackend,
    "tensorrt": TensorRTBackend,
}
ALIASES = {"onnx": "onnxruntime", "ort": "onnxruntime", "trt": "tensorrt", "plain": "eager-plain"}


def backend_help() -> str:
    """The --backend help text: every row of the table with its summary."""
    rows = "; ".join(f"{name}: {cls.summary}" for name, cls in BACKENDS.items())
    return f"auto (the fastest that runs here, see docs/performance.md) | {rows}"


def precision_help() -> str:
    """The --precision help text."""
    return (
        f"auto | {' | '.join(PRECISIONS)} (auto: the backend's fastest; on CUDA fp32 computes in TF32, "
        "fp32-strict turns TF32 off)"
    )


def backend_name(name: str) -> str:
    """Canonical backend name ('auto' stays 'auto'); UserError for an unknown one."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key != "auto" and key not in BACKENDS:
        raise UserError(f"unknown backend {name!r}; choose from auto, {', '.join(BACKENDS)}")
    return key


def supported_precisions(name: str, device: torch.device) -> tuple[str, ...]:
    """Precisions a backend can compute in on a device, best (the `auto` choice) first."""
    return BACKENDS[backend_name(name)].precisions(device)


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
    return BACKENDS[name].unavailable_reason(device)


def available_backends(device: str | torch.device = "auto") -> list[str]:
    """Names of the backends that can run on `device` on this machine."""
    resolved = resolve_device(device)
    return [name for name in BACKENDS if unavailable_reason(name, resolved) is None]


def build_backend(
    name: str, model: nn.Module, device: torch.device, precision: str, options: dict
) -> Backend:
    """The table's class for `name`, built: no checks (create_backend makes them)."""
    built = BuildOptions(options.get("input_size"), options.get("max_batch", 32), options.get("cache_dir"))
    return BACKENDS[name].create(model, device, precision, built)


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
    """The backend `name` for `model` on `device`; `auto` tries auto.auto_candidates in order.

    `max_batch` bounds the batch sizes an engine is built for (TensorRT); `cache_dir` overrides where
    compiled engines / exported ONNX files are kept.
    """
    name = backend_name(name)
    resolved = resolve_device(device)
    options = {"max_batch": max_batch, "input_size": input_size, "cache_dir": cache_dir}
    if name != "auto":
        precision_used = resolve_precision(name, resolved, precision)
        reason = unavailable_reason(name, resolved)
        if reason:
            raise UserError(f"backend {name} cannot run on {resolved}: {reason}")
        try:
            return build_backend(name, model, resolved, precision_used, options)
        except UserError:
            raise
        except Exception as error:
            raise UserError(f"backend {name} failed to start on {resolved}: {one_line(error)}") from error

    candidates, why = auto_candidates(resolved, model, precision)
    for index, candidate in enumerate(candidates):
        last = index == len(candidates) - 1
        try:
            precision_used = resolve_precision(candidate, resolved, precision)
            reason = unavailable_reason(candidate, resolved)
            if reason is None:
                backend = build_backend(candidate, model, resolved, precision_used, options)
                explain_choice(backend, why)
                return backend
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
