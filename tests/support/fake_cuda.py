"""A stand-in for a machine with two CUDA devices, on the CPU: tests the device orchestration of the
GPU code paths (which device each step is told to use, under which current device it runs) where no
GPU exists. The simulation itself is core.bench.simulated_cuda (also behind `gpu_check --dry-run`);
this is its pytest fixture, undone after each test.
"""

from __future__ import annotations

import pytest

from core.bench.simulated_cuda import CudaOnCpu, simulate


@pytest.fixture
def fake_cuda(monkeypatch):
    """Two fake CUDA devices for one test; yields the SimulatedCuda record."""
    state = simulate(monkeypatch.setattr)
    with CudaOnCpu():
        yield state
