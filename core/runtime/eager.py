"""The PyTorch eager backends: `eager-plain` (the model as written, the reference) and `eager`
(BatchNorm folded, channels-last, bf16 on capable CPUs, fp16 on CUDA)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from core.runtime.base import DTYPES, Backend, BuildOptions
from core.runtime.device import cpu_supports_bf16, cuda_math, device_scope
from core.runtime.folding import fold_for_inference


class PlainBackend(Backend):
    """The model as written, fp32, under no_grad: what "plain PyTorch" means in the benchmark."""

    name = "eager-plain"
    summary = "PyTorch eager fp32 exactly as written: the reference for speed and accuracy"

    def __init__(self, model: nn.Module, device: torch.device, precision: str = "fp32"):
        super().__init__(device, precision)
        self.requested = precision
        with device_scope(device):
            self.module = copy.deepcopy(model).eval().float().to(device)

    @classmethod
    def create(cls, model: nn.Module, device: torch.device, precision: str, options: BuildOptions) -> Backend:
        return cls(model, device, precision)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # As written: no cuDNN autotuning; TF32 as asked (fp32: PyTorch's default, on).
        with torch.no_grad(), device_scope(self.device), cuda_math(self.device, self.requested, False):
            return self.module(x.to(self.device, torch.float32, non_blocking=True))


class EagerBackend(Backend):
    """BN folded, channels-last, inference_mode; CPU bf16 via autocast, CUDA fp16/bf16 via weights.

    What each part bought on the 2-core AVX512-BF16 CPU (W32, 256×192, batch 8, interleaved runs on
    a busy machine, so ±10%): folding + channels-last ≈ 1.3–1.4× plain fp32, bf16 autocast on top
    ≈ 2.5–2.8× plain. bf16 weights instead of autocast: no faster. inference_mode over no_grad:
    a few percent. torch.jit.trace + freeze: about 10% more, but torch.jit is deprecated in this
    torch (the `compile` backend is its successor), so it is not used. On CUDA every call runs with
    cuDNN autotuning on (cuda_math), and the process-wide flags are restored after it.
    """

    name = "eager"
    summary = "PyTorch eager, tuned: BatchNorm folded, channels-last, bf16 (CPU) / fp16 (CUDA)"

    def __init__(self, model: nn.Module, device: torch.device, precision: str, input_size: tuple[int, int]):
        super().__init__(device, precision)
        self.requested = precision
        module = fold_for_inference(model, input_size)  # in fp64, before any fp16 cast
        with device_scope(device):
            module = module.float().to(device).to(memory_format=torch.channels_last)
        self.autocast = device.type == "cpu" and precision == "bf16"
        self.input_dtype = torch.float32
        if device.type == "cuda":
            self.input_dtype = DTYPES[precision]
            module = module.to(self.input_dtype)
        self.module = module

    @classmethod
    def precisions(cls, device: torch.device) -> tuple[str, ...]:
        if device.type == "cuda":
            bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
            return ("fp16", "fp32", "fp32-strict", *(("bf16",) if bf16 else ()))
        if cpu_supports_bf16():
            return ("bf16", "fp32", "fp32-strict")
        return ("fp32", "fp32-strict", "bf16")  # bf16 still runs (emulated by oneDNN): slower

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
        with torch.inference_mode(), device_scope(self.device), cuda_math(self.device, self.requested):
            return self.forward(self.prepare(x)).float()
