"""What every backend shares: the `Backend` interface, the on-disk cache root, and the digest that
keys cached engines to the weights they were built from. A leaf: implementations import it, and it
imports none of them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError

CACHE_ROOT = Path(os.environ.get("POSE_CACHE_DIR", Path.home() / ".cache" / "attention-hrnet-pose"))
PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


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
