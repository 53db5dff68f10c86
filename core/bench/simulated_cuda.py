"""Two CUDA devices simulated on the CPU: for `gpu_check --dry-run` and the tests' `fake_cuda`.

Only torch is replaced, never our code: torch.cuda's queries and `torch.cuda.device` answer as on a
machine with two Hopper GPUs, and a TorchFunctionMode runs every tensor op that names a CUDA device
on the CPU instead, in every thread (torch function modes are per thread, and the pipeline's stages
run on threads of their own). It proves which device each step is told to use and that a whole
sequence runs and reports; it says nothing about CUDA numerics or speed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

DEVICE_COUNT = 2
DEVICE_NAME = "Simulated GPU (CPU dry run)"


@dataclass
class SimulatedCuda:
    """What the code under it did: the current device now, and every device it entered."""

    current: int = 0
    entered: list[int] = field(default_factory=list)


def _is_cuda(value) -> bool:
    if isinstance(value, torch.device):
        return value.type == "cuda"
    return isinstance(value, str) and value.startswith("cuda")


def _on_cpu(value):
    return torch.device("cpu") if _is_cuda(value) else value


class CudaOnCpu(TorchFunctionMode):
    """Runs tensor ops that name a CUDA device (`.to("cuda:1")`, `zeros(device=...)`) on the CPU."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.device:  # naming a device is fine; only placing data there is not
            return func(*args, **(kwargs or {}))
        kwargs = {key: _on_cpu(value) for key, value in (kwargs or {}).items()}
        if getattr(func, "__name__", "") == "pin_memory":  # page-locked memory needs a driver
            return args[0]
        return func(*(_on_cpu(arg) for arg in args), **kwargs)


class _Event:
    def record(self, stream=None) -> None:
        pass

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        pass


def simulate(
    setattr_: Callable[[object, str, object], None], state: SimulatedCuda | None = None
) -> SimulatedCuda:
    """Patch torch.cuda through `setattr_` (pytest's monkeypatch.setattr, or one that remembers what
    to undo) so it answers as two GPUs; ops still need `CudaOnCpu` active (see `threads_on_cpu`)."""
    state = state or SimulatedCuda()

    class Device:
        def __init__(self, device):
            self.index = device if isinstance(device, int) else torch.device(device).index or 0

        def __enter__(self):
            self.previous, state.current = state.current, self.index
            state.entered.append(self.index)

        def __exit__(self, *exc):
            state.current = self.previous

    cuda = torch.cuda
    setattr_(cuda, "is_available", lambda: True)
    setattr_(cuda, "device_count", lambda: DEVICE_COUNT)
    setattr_(cuda, "current_device", lambda: state.current)
    setattr_(cuda, "get_device_name", lambda device=None: DEVICE_NAME)
    setattr_(cuda, "get_device_capability", lambda device=None: (9, 0))  # Hopper: TF32 and bf16
    setattr_(cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    setattr_(cuda, "synchronize", lambda device=None: None)
    setattr_(cuda, "device", Device)
    setattr_(cuda, "Event", _Event)
    setattr_(cuda, "current_stream", lambda device=None: None)
    setattr_(cuda, "memory_allocated", lambda device=None: 0)
    setattr_(cuda, "max_memory_allocated", lambda device=None: 0)
    setattr_(cuda, "reset_peak_memory_stats", lambda device=None: None)
    setattr_(cuda, "empty_cache", lambda: None)
    setattr_(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # restored after
    return state


def threads_on_cpu(setattr_: Callable[[object, str, object], None]) -> None:
    """Every thread started from now on runs its target under `CudaOnCpu` too."""
    run = threading.Thread.run

    def run_on_cpu(self):
        with CudaOnCpu():
            run(self)

    setattr_(threading.Thread, "run", run_on_cpu)
