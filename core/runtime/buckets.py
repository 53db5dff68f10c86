"""Batch-size buckets: person batches padded to a few sizes (1, 2, 4, 8, 16, 32, ...) before the model.

The number of people changes every frame. Every new batch size costs something on every backend:
cuDNN (benchmark mode) times every convolution again, a torch.compile graph may recompile, a TensorRT
profile is tuned for one size, oneDNN builds new primitives on the CPU. Padding a batch of n crops
with zero crops up to the next bucket keeps the set of shapes small and known, so all of them can be
warmed up at start; the price is the padded crops' compute (at most 2× for n just above a bucket).
Crops are independent in eval mode, so the padding never changes the real crops' heatmaps.
`python -m core.bench.buckets` measures the trade on the machine at hand.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def batch_buckets(max_batch: int) -> tuple[int, ...]:
    """Powers of two below `max_batch`, then `max_batch` itself: (1, 2, 4, 8, 16, 32) for 32."""
    max_batch = max(1, int(max_batch))
    sizes, size = [], 1
    while size < max_batch:
        sizes.append(size)
        size *= 2
    return (*sizes, max_batch)


def bucket_for(count: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket holding `count` crops (`count` itself above the largest bucket)."""
    return next((size for size in buckets if size >= count), count)


def pad_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """`x` with zero rows appended up to `size` rows (the same tensor when it already has them)."""
    missing = size - x.shape[0]
    if missing <= 0:
        return x
    return torch.cat([x, x.new_zeros((missing, *x.shape[1:]))])


def run_bucketed(
    run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, buckets: tuple[int, ...]
) -> torch.Tensor:
    """`run(x)` with x padded to its bucket; the output rows of the padding are dropped."""
    count = x.shape[0]
    return run(pad_batch(x, bucket_for(count, buckets)))[:count]


def warm_up(
    run: Callable[[torch.Tensor], torch.Tensor],
    input_size: tuple[int, int],
    buckets: tuple[int, ...],
    device: torch.device | str = "cpu",
) -> None:
    """One call per bucket on zero crops, largest first (the largest allocation happens once, first)."""
    w, h = input_size
    for size in sorted(buckets, reverse=True):
        out = run(torch.zeros(size, 3, h, w, device=device))
        if out.device.type == "cuda":
            torch.cuda.synchronize(out.device)
