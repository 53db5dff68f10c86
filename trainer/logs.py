"""Rank-0 output of a training run: console lines, the CSV log and TensorBoard scalars."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from core.atomic import atomic_path
from trainer.distributed import DistContext

METRIC_COLUMNS = ("AP", "AP50", "AP75", "APM", "APL", "AR")
CSV_COLUMNS = ("epoch", "loss", "lr", "skipped", "seconds", *METRIC_COLUMNS)


def rank0_logger(context: DistContext) -> Callable[[str], None]:
    """print() for rank 0 only, written around any progress bar."""

    def log(message: str) -> None:
        if context.is_main:
            tqdm.write(message)

    return log


def open_tensorboard(enabled: bool, out_dir: Path, log: Callable[[str], None]):
    """A SummaryWriter under out_dir/tensorboard, or None (disabled, or tensorboard not installed)."""
    if not enabled:
        return None
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log("TensorBoard logging is off: the tensorboard package is not installed (pip install tensorboard)")
        return None
    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))


def write_csv_log(path: Path, history: list[dict[str, float]]) -> None:
    """Rewrite the whole log atomically, so a crash never leaves half a line."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
