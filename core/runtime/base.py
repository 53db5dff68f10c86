"""What every backend shares: the `Backend` interface (with what the table in backends.py asks of
each class), the options a backend is built with, the precisions, the on-disk cache root, and the
digest that keys cached engines to the weights they were built from. A leaf: implementations import
it, and it imports none of them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError

CACHE_ROOT = Path(os.environ.get("POSE_CACHE_DIR", Path.home() / ".cache" / "attention-hrnet-pose"))
# What can be asked for. On CUDA plain "fp32" lets cuDNN (and TensorRT, ONNX Runtime) use TF32 tensor
# cores, PyTorch's default: 10-bit mantissas in the convolutions, ~1e-3 relative error. "fp32-strict"
# turns TF32 off for the backend's calls; on the CPU the two are the same.
PRECISIONS = ("fp32", "fp32-strict", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "fp32-strict": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class BuildOptions:
    """What `create_backend` passes to every backend class besides model, device and precision."""

    input_size: tuple[int, int] | None = None  # (w, h) of a crop; None: the model's config says
    max_batch: int = 32  # the largest batch an engine is built for (TensorRT)
    cache_dir: str | Path | None = None  # where compiled engines / exported files are kept


def uses_tf32(device: torch.device, precision: str) -> bool:
    """True where "fp32" on `device` actually computes in TF32: CUDA GPUs from Ampere (sm_80) on."""
    if device.type != "cuda" or precision != "fp32":
        return False
    try:
        return torch.cuda.get_device_capability(device)[0] >= 8
    except Exception:  # no driver to ask: say TF32, the default on every GPU sold since 2020
        return True


def computed_precision(device: torch.device, precision: str) -> str:
    """The label of what a backend computes in: "tf32" for fp32 where TF32 is on, "fp32" for
    fp32-strict, else the precision itself (what reports and parity columns print)."""
    if uses_tf32(device, precision):
        return "tf32"
    return "fp32" if precision == "fp32-strict" else precision


class Backend:
    """Runs the model: `backend(x)` with x N×3×H×W float32 -> float32 heatmaps N×J×h×w.

    The heatmaps are on `device` for the PyTorch backends and on the CPU for onnxruntime.
    `precision` is what it computes in (computed_precision: "tf32" where CUDA fp32 is TF32).

    A backend class is one row of the table in backends.py; what the table asks of it:
    `summary` (the help text), `precisions(device)` (best first: the `auto` choice),
    `unavailable_reason(device)` (cheap: builds nothing) and `create(...)`.
    """

    name = "base"
    summary = ""

    def __init__(self, device: torch.device, precision: str):
        self.device = device
        self.precision = computed_precision(device, precision)

    @classmethod
    def precisions(cls, device: torch.device) -> tuple[str, ...]:
        return ("fp32", "fp32-strict")

    @staticmethod
    def unavailable_reason(device: torch.device) -> str | None:
        return None

    @classmethod
    def create(cls, model: nn.Module, device: torch.device, precision: str, options: BuildOptions) -> Backend:
        """Build the backend (compiling or exporting what it needs); raises when it cannot run."""
        return cls(model, device, precision, model_input_size(model, options.input_size))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name} ({self.precision} on {self.device})"


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
