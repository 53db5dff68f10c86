"""A stand-in for a machine with two CUDA devices, on the CPU: tests the device orchestration of the
GPU code paths (which device each step is told to use, under which current device it runs) where no
GPU exists. Only torch is replaced, never our code: torch.cuda's queries and `torch.cuda.device`
answer as on a 2-GPU machine, and a TorchFunctionMode runs every tensor op that names a CUDA device
on the CPU instead. It says nothing about CUDA numerics; core.bench.gpu_check does that on a real GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from torch.overrides import TorchFunctionMode


@dataclass
class FakeCuda:
    """What the code under test did: the current device now, and every device it entered."""

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


@pytest.fixture
def fake_cuda(monkeypatch):
    """Two fake CUDA devices for one test; yields the FakeCuda record."""
    state = FakeCuda()

    class Device:
        def __init__(self, device):
            self.index = device if isinstance(device, int) else torch.device(device).index or 0

        def __enter__(self):
            self.previous, state.current = state.current, self.index
            state.entered.append(self.index)

        def __exit__(self, *exc):
            state.current = self.previous

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: state.current)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))  # Hopper
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "device", Device)
    monkeypatch.setattr(torch.cuda, "Event", _Event)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: None)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # restored after
    with CudaOnCpu():
        yield state
