"""Where measured numbers come from: the machine, the versions and what `--backend auto` picks there,
printed above every benchmark table and stored in its JSON rows (`run.py bench`, `run.py table1`)."""

from __future__ import annotations

import contextlib
import datetime
import platform

import torch

from core.runtime.auto import auto_candidates
from core.runtime.device import cpu_isa, cpu_name


def machine_info(device: torch.device) -> dict:
    """Where the numbers come from: printed above the table and stored in every JSON row."""
    info = {
        "machine": f"{platform.system()} {platform.machine()}",
        "cpu": f"{cpu_name()} ({cpu_isa()})",
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "auto": " ".join(auto_candidates(device)[1:]),  # why `--backend auto` picks what it picks here
        "device": str(device),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": None,
        "tensorrt": None,
        "torch_tensorrt": None,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with contextlib.suppress(Exception):
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    if device.type == "cuda":
        with contextlib.suppress(Exception):  # never import torch_tensorrt without CUDA
            from core.runtime.tensorrt import TrtEnvironment

            environment = TrtEnvironment.current(device)
            info["tensorrt"], info["torch_tensorrt"] = (
                environment.tensorrt_version,
                environment.torch_tensorrt_version,
            )
    return info
