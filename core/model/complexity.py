"""Parameters and FLOPs of a model, measured rather than quoted; `ModelSize` is the record of them
that heads the rows of `run.py bench` and `run.py table1`.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` on one 1×3×H×W input under
`torch.no_grad`: it counts 2 FLOPs per multiply-add of convolutions and matrix products and nothing
for element-wise work (BN, ReLU, sums, pooling, the attention gates' multiplies). HRNet's published
"7.1 GFLOPs" for W32 at 256×192 are multiply-adds, i.e. compare them with `count_flops(...) / 2`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from core.model.attention import format_positions, resolve_positions
from core.model.hrnet import DEFAULT_INPUT_SIZE


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def attention_parameters(model: nn.Module) -> int:
    """Parameters of the attention modules alone (0 for a model without them)."""
    attention = getattr(model, "attention", None)
    return count_parameters(attention) if isinstance(attention, nn.Module) else 0


def _flops(module: nn.Module, shape: tuple[int, ...]) -> int:
    """Count on the meta device: the module's own tensors are swapped for shape-only stand-ins
    (torch.func.functional_call), so nothing is computed, copied or moved, wherever the model lives.
    (Counting with real CPU tensors gives the same number but runs several times slower.)"""
    tensors = itertools.chain(module.named_parameters(), module.named_buffers())
    stand_ins = {name: torch.empty_like(t, device="meta") for name, t in tensors}
    was_training = module.training
    module.eval()  # BN in train mode would update its running statistics
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            functional_call(module, stand_ins, (torch.zeros(shape, device="meta"),))
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())


def count_flops(model: nn.Module, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE) -> int:
    """FLOPs of one forward pass of a 1×3×H×W input at (w, h) = input_size."""
    w, h = input_size
    return _flops(model, (1, 3, h, w))


def attention_flops(width: int, positions, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE) -> int:
    """FLOPs that attention modules at `positions` add to a model of this width, counted on each module
    alone at its feature-map size (branch b runs at 1/(4·2^(b-1)) of the input). Baseline FLOPs plus
    this equal the whole model's count, at a fraction of the cost (used by `info --all`)."""
    from core.model.attention import AttentionModule, position_channels

    w, h = input_size
    total = 0
    for position in positions:
        channels, stride = position_channels(width, position), 4 * 2 ** (position[1] - 1)
        with torch.device("meta"):
            module = AttentionModule(channels)
        total += _flops(module, (1, channels, h // stride, w // stride))
    return total


@dataclass
class ModelSize:
    """Which model a row is about and its measured size: the first columns of `run.py bench` rows
    (core.bench.models.BenchRow) and `run.py table1` rows (trainer.table.TableRow)."""

    width: int
    preset: str
    positions: str  # attention positions as written in the paper, "-" for none
    parameters: int
    params_m: float
    flops_g: float

    @classmethod
    def measure(cls, model: nn.Module, width: int, preset: str, input_size: tuple[int, int]) -> ModelSize:
        parameters = count_parameters(model)
        return cls(
            width=width,
            preset=preset,
            positions=format_positions(resolve_positions(preset)) or "-",
            parameters=parameters,
            params_m=round(parameters / 1e6, 3),
            flops_g=round(count_flops(model, input_size) / 1e9, 3),
        )
