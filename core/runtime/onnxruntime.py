"""The `onnxruntime` backend: the exported ONNX model (core.model.onnx_export) run by ONNX Runtime.

The model is exported once per weights/config/input size and kept in the cache
(`~/.cache/attention-hrnet-pose/onnx`, or `cache_dir`), so a second start skips the export.
ONNX Runtime folds BatchNorm and fuses Conv+ReLU itself (graph optimisation level "all").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.errors import UserError, one_line
from core.runtime.base import CACHE_ROOT, Backend, BuildOptions, model_input_size, weights_digest


def unavailable_reason(device: torch.device) -> str | None:
    try:
        import onnxruntime
    except Exception as error:  # ImportError, or a broken native library
        return f"onnxruntime cannot be imported ({one_line(error)})"
    if device.type == "cuda" and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
    return None


def onnx_cache_path(
    model: nn.Module, input_size: tuple[int, int], cache_dir: str | Path | None = None
) -> Path:
    """Where the exported model lives: keyed by weights, config, input size and torch version."""
    config = getattr(model, "config", None)
    text = "|".join(
        [
            weights_digest(model),
            repr(config.to_dict() if config else None),
            str(input_size),
            torch.__version__,
        ]
    )
    key = hashlib.sha256(text.encode()).hexdigest()[:24]
    root = Path(cache_dir) if cache_dir is not None else CACHE_ROOT / "onnx"
    return root / f"pose-{input_size[0]}x{input_size[1]}-{key}.onnx"


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime session over the exported model; fp32, threads follow torch.get_num_threads()."""

    name = "onnxruntime"
    summary = "ONNX Runtime on the exported ONNX model"
    unavailable_reason = staticmethod(unavailable_reason)

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        input_size: tuple[int, int],
        cache_dir: str | Path | None = None,
        precision: str = "fp32",
    ):
        super().__init__(device, precision)
        import onnxruntime as ort

        from core.model.onnx_export import export_onnx

        if tuple(model.config.input_size) != tuple(input_size):
            raise UserError(f"onnxruntime runs the model at its own input size {model.config.input_size}")
        path = onnx_cache_path(model, input_size, cache_dir)
        if not path.is_file():
            export_onnx(model, path)  # checked against PyTorch before it is written
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":  # its convolutions use TF32 unless told not to, like cuDNN's
            cuda = {"device_id": device.index or 0, "use_tf32": int(precision != "fp32-strict")}
            providers.insert(0, ("CUDAExecutionProvider", cuda))
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:
            raise UserError(f"onnxruntime could not load {path}: {one_line(error)}") from error
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def create(cls, model: nn.Module, device: torch.device, precision: str, options: BuildOptions) -> Backend:
        return cls(model, device, model_input_size(model, options.input_size), options.cache_dir, precision)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])
