"""The `compile` backend: torch.compile (inductor) of the tuned eager model."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import sysconfig
from pathlib import Path

import torch
from torch import nn

from core.runtime.device import cuda_math, device_scope
from core.runtime.eager import EagerBackend


def unavailable_reason(device: torch.device) -> str | None:
    """Why inductor cannot compile here (no C++ compiler / Python headers, or no triton on CUDA)."""
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
    return None


class CompileBackend(EagerBackend):
    """torch.compile (inductor) of the eager model, with inductor's `freezing` (weights become
    constants: folded, and pre-packed for oneDNN on the CPU). Compiled at creation, so a failure
    surfaces there and timing excludes it. The batch dimension is dynamic from 2 up; dynamo
    specialises sizes 0 and 1, so batch 1 is a graph of its own and is compiled here too: otherwise
    the first frame with one person would recompile mid-run.
    """

    name = "compile"
    summary = "torch.compile (inductor) of the tuned eager model"
    unavailable_reason = staticmethod(unavailable_reason)

    def __init__(self, model: nn.Module, device: torch.device, precision: str, input_size: tuple[int, int]):
        super().__init__(model, device, precision, input_size)
        self.compiled = torch.compile(self.forward, dynamic=None, options={"freezing": True})
        w, h = input_size
        if device.type == "cpu":  # torch warns about a missing CUDA toolkit for every CPU kernel build
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        with torch.inference_mode(), device_scope(device), cuda_math(device, precision):
            for batch in WARM_BATCHES:
                example = self.prepare(torch.zeros(batch, 3, h, w))
                if batch > 1:
                    torch._dynamo.mark_dynamic(example, 0)  # one graph for every batch size >= 2
                self.compiled(example)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), device_scope(self.device), cuda_math(self.device, self.requested):
            return self.compiled(self.prepare(x)).float()


# Batch sizes compiled at creation: 2 (marked dynamic: every size >= 2) and 1 (specialised by dynamo).
WARM_BATCHES = (2, 1)
