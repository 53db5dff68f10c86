"""The PyTorch eager backends: `eager-plain` (the model as written, the reference) and `eager`
(BatchNorm folded, channels-last, bf16 on capable CPUs, fp16 on CUDA)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from core.runtime.base import DTYPES, Backend
from core.runtime.device import device_scope
from core.runtime.folding import fold_for_inference


class PlainBackend(Backend):
    """The model as written, fp32, under no_grad: what "plain PyTorch" means in the benchmark."""

    name = "eager-plain"

    def __init__(self, model: nn.Module, device: torch.device, precision: str = "fp32"):
        super().__init__(device, precision)
        with device_scope(device):
            self.module = copy.deepcopy(model).eval().float().to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), device_scope(self.device):
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
        module = fold_for_inference(model, input_size)  # in fp64, before any fp16 cast
        with device_scope(device):
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
        with torch.inference_mode(), device_scope(self.device):
            return self.forward(self.prepare(x)).float()
