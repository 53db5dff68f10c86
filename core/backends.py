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
- `onnxruntime`: the exported ONNX model in ONNX Runtime (core/onnx_backend.py).
- `tensorrt`: a torch-tensorrt engine, fp16, cached on disk (core/trt_backend.py; GPU only).

`auto` picks tensorrt when CUDA and torch_tensorrt are usable, else eager on CUDA, else eager on the
CPU. A candidate that cannot run logs one line saying why and `auto` moves on; a backend asked for by
name that cannot run is a UserError.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import importlib.util
import logging
import os
import platform
import shutil
import sysconfig
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError
from core.folding import fold_batchnorm

log = logging.getLogger("core.backends")

PRECISIONS = ("fp32", "bf16", "fp16")
BACKENDS: dict[str, str] = {
    "eager": "PyTorch eager, tuned: BatchNorm folded, channels-last, bf16 (CPU) / fp16 (CUDA)",
    "eager-plain": "PyTorch eager fp32 exactly as written: the reference for speed and accuracy",
    "compile": "torch.compile (inductor) of the tuned eager model",
    "onnxruntime": "ONNX Runtime on the exported ONNX model",
    "tensorrt": "torch-tensorrt engine (dynamo), fp16, dynamic batch, cached on disk; NVIDIA GPUs only",
}
ALIASES = {"onnx": "onnxruntime", "ort": "onnxruntime", "trt": "tensorrt", "plain": "eager-plain"}
CACHE_ROOT = Path(os.environ.get("POSE_CACHE_DIR", Path.home() / ".cache" / "attention-hrnet-pose"))


# ---------------------------------------------------------------------------------------------------
# Names, devices, precisions
# ---------------------------------------------------------------------------------------------------


def backend_name(name: str) -> str:
    """Canonical backend name ('auto' stays 'auto'); UserError for an unknown one."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key != "auto" and key not in BACKENDS:
        raise UserError(f"unknown backend {name!r}; choose from auto, {', '.join(BACKENDS)}")
    return key


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
    elif resolved.type != "cpu":
        raise UserError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return resolved


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


def weights_digest(model: nn.Module) -> str:
    """sha256 over every state-dict entry's name, dtype, shape and bytes: identifies trained weights."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_input_size(model: nn.Module, input_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(w, h) the model takes: the explicit size, else the model's config."""
    if input_size is not None:
        return int(input_size[0]), int(input_size[1])
    config = getattr(model, "config", None)
    if config is None:
        raise UserError("input size unknown: pass input_size=(w, h) for a model without a config")
    return tuple(config.input_size)


# ---------------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------------


class Backend:
    """Runs the model: `backend(x)` with x N×3×H×W float32 -> float32 heatmaps N×J×h×w.

    The heatmaps are on `device` for the PyTorch backends and on the CPU for onnxruntime.
    """

    name = "base"

    def __init__(self, device: torch.device, precision: str):
        self.device = device
        self.precision = precision

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name} ({self.precision} on {self.device})"


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class PlainBackend(Backend):
    """The model as written, fp32, under no_grad: what "plain PyTorch" means in the benchmark."""

    name = "eager-plain"

    def __init__(self, model: nn.Module, device: torch.device, precision: str = "fp32"):
        super().__init__(device, precision)
        self.module = copy.deepcopy(model).eval().float().to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(x.to(self.device, torch.float32, non_blocking=True))


class EagerBackend(Backend):
    """BN folded, channels-last, inference_mode; CPU bf16 via autocast, CUDA fp16/bf16 via weights.

    What each part bought on the 2-core AVX512-BF16 CPU (W32, 256×192, batch 8, interleaved runs on
    a busy machine, so ±10%): folding + channels-last ≈ 1.3–1.4× plain fp32, bf16 autocast on top
    ≈ 2.5–2.8× plain. bf16 weights instead of autocast: no faster. inference_mode over no_grad:
    a few percent. torch.jit.trace + freeze: about 10% more, but torch.jit is deprecated in this
    torch (the `compile` backend is its successor), so it is not used.
    """

    name = "eager"

    def __init__(self, model: nn.Module, device: torch.device, precision: str, input_size: tuple[int, int]):
        super().__init__(device, precision)
        w, h = input_size
        generator = torch.Generator().manual_seed(0)
        example = torch.randn(1, 3, h, w, generator=generator)
        module = fold_batchnorm(model, example.to(_param_device(model)))
        module = module.float().to(device).to(memory_format=torch.channels_last)
        self.autocast = device.type == "cpu" and precision == "bf16"
        self.input_dtype = torch.float32
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            self.input_dtype = DTYPES[precision]
            module = module.to(self.input_dtype)
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The module on a prepared input; `compile` wraps this."""
        if self.autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.module(x)
        return self.module(x)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, self.input_dtype, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.forward(self.prepare(x)).float()


def _param_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


class CompileBackend(EagerBackend):
    """torch.compile (inductor) of the eager model, with inductor's `freezing` (weights become
    constants: folded, and pre-packed for oneDNN on the CPU). Compiled at creation, so a failure
    surfaces there and timing excludes it; the batch dimension is dynamic (batch 1 compiles once more).
    """

    name = "compile"

    def __init__(self, model: nn.Module, device: torch.device, precision: str, input_size: tuple[int, int]):
        super().__init__(model, device, precision, input_size)
        self.compiled = torch.compile(self.forward, dynamic=None, options={"freezing": True})
        w, h = input_size
        example = self.prepare(torch.zeros(2, 3, h, w))
        torch._dynamo.mark_dynamic(example, 0)  # one kernel for every batch size >= 2
        if device.type == "cpu":  # torch warns about a missing CUDA toolkit for every CPU kernel build
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        with torch.inference_mode():
            self.compiled(example)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.compiled(self.prepare(x)).float()


# ---------------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------------


def unavailable_reason(name: str, device: torch.device) -> str | None:
    """Why a backend cannot run on a device here, or None when it can (cheap: builds nothing)."""
    name = backend_name(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available"
    if name == "compile":
        if device.type == "cpu":
            from torch._inductor.cpp_builder import get_cpp_compiler

            try:
                compiler = get_cpp_compiler()
            except Exception as error:  # torch raises RuntimeError or its own error types here
                return f"no C++ compiler for inductor ({error})"
            if shutil.which(compiler) is None:
                return f"inductor needs a C++ compiler and {compiler!r} is not installed"
            if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
                return "inductor needs the Python headers (Python.h; e.g. the python3-dev package)"
        elif importlib.util.find_spec("triton") is None:
            return "inductor needs triton on CUDA and it is not installed"
    if name == "onnxruntime":
        from core.onnx_backend import unavailable_reason as onnx_reason

        return onnx_reason(device)
    if name == "tensorrt":
        from core.trt_backend import unavailable_reason as trt_reason

        return trt_reason(device)
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
        return CompileBackend(model, device, precision, input_size)
    if name == "onnxruntime":
        from core.onnx_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model, device, input_size, cache_dir=options.get("cache_dir"))
    from core.trt_backend import TensorRTBackend

    return TensorRTBackend(
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


def one_line(error: BaseException) -> str:
    """'Type: first line of the message' (or just 'Type'): an exception fit for a one-line error."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
