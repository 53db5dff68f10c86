"""Process-group setup for training on one process or many (torchrun), on one machine or several.

One GPU or the CPU:
    python run.py train --config assets/configs/w32_256x192.toml --coco-ann ... --images ...

N GPUs of one machine (one process per GPU; batch_size is per GPU, so the global batch is N×):
    torchrun --nproc-per-node N run.py train --config assets/configs/w32_256x192.toml ...

Several machines: start the same command on every node with torchrun's rendezvous options, e.g.
on each of 2 nodes with 4 GPUs, HOST being a machine all nodes reach (usually node 0):
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
        --rdzv-id pose-w32 run.py train --config assets/configs/w32_256x192.toml ...
(or the static form: --nnodes 2 --node-rank R --master-addr HOST --master-port 29500).
torchrun sets RANK, LOCAL_RANK, WORLD_SIZE and MASTER_ADDR/PORT; this module reads them. NCCL is
used on GPUs, gloo on the CPU (CPU-only DDP works, e.g. for tests). Only rank 0 logs, draws
progress bars and writes checkpoints; every rank loads `--resume` checkpoints itself.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from core.runtime import resolve_device as check_device


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' picks this process's GPU when CUDA is usable, else the CPU (checked as the app checks
    devices); a bare 'cuda' becomes GPU `local_rank`, one per torchrun process."""
    device = check_device(name)
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


def setup(device_name: str = "auto", timeout_minutes: float = 60.0) -> DistContext:
    """Join the process group torchrun describes (if any) and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # Evaluation runs between epochs on every rank; a generous timeout covers a slow one.
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(minutes=timeout_minutes),
            device_id=device if device.type == "cuda" else None,
        )
    return DistContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistContext) -> None:
    if context.enabled:
        dist.barrier()


def all_reduce_mean(value: float, context: DistContext) -> float:
    """The mean of a scalar over all ranks (the same number on each)."""
    return all_reduce_sum(value, context) / context.world_size


def all_reduce_sum(value: int | float, context: DistContext) -> float:
    """The sum of a scalar over all ranks (the same number on each)."""
    if not context.enabled:
        return float(value)
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device(context))
    dist.all_reduce(tensor)
    return float(tensor.item())


def gather_objects(obj: Any, context: DistContext) -> list[Any]:
    """Every rank's object, in rank order, on every rank (picklable objects, e.g. numpy arrays)."""
    if not context.enabled:
        return [obj]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, context: DistContext) -> Any:
    """Rank 0's object on every rank."""
    if not context.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _collective_device(context: DistContext) -> torch.device:
    return context.device if dist.get_backend() == "nccl" else torch.device("cpu")
