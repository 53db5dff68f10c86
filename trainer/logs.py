"""Rank-0 output of a training run: console lines, progress lines for log files, the CSV log and
TensorBoard scalars."""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from core.atomic import atomic_path
from trainer.distributed import DistContext
from trainer.evaluate import METRIC_NAMES

METRIC_COLUMNS = METRIC_NAMES  # all ten of pycocotools' numbers
CSV_COLUMNS = ("epoch", "loss", "lr", "skipped", "seconds", "val_seconds", *METRIC_COLUMNS)


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


def write_epoch(context: DistContext, out_dir: Path, history: list[dict[str, float]], writer) -> None:
    """After each epoch (and the optional start row), on rank 0: log.csv rewritten whole and the last
    row's scalars, all ten COCO numbers and every attention module's gamma included, in TensorBoard."""
    if not context.is_main:
        return
    write_csv_log(out_dir / "log.csv", history)
    if writer is not None:
        row = history[-1]
        for key in ("loss", "lr", "seconds", "val_seconds", *METRIC_COLUMNS):
            if key in row:
                writer.add_scalar(f"epoch/{key}", row[key], int(row["epoch"]))
        for key in (k for k in row if k.startswith("gamma_")):  # each attention module's gamma
            writer.add_scalar(f"gamma/{key.removeprefix('gamma_')}", row[key], int(row["epoch"]))
        writer.flush()


@dataclass
class ProgressLines:
    """Every `every` iterations, one line a log file can hold: mean data-wait and step time, samples/s,
    ETA of the epoch and of the run (training only), lr, loss and peak GPU memory. The caller passes
    the window's loss once it has it, so the loop never waits for the GPU between log points."""

    epoch: int  # 0-based
    epochs: int
    iterations: int  # in this epoch
    global_batch: int
    device: torch.device
    window_start: float = field(default_factory=time.perf_counter)
    data_seconds: float = 0.0
    steps: int = 0

    def add_data_wait(self, seconds: float) -> None:
        self.data_seconds += seconds
        self.steps += 1

    def line(self, iteration: int, lr: float, loss: float) -> str:
        """The line after `iteration` (1-based) iterations; starts the next window."""
        now = time.perf_counter()
        steps = max(self.steps, 1)
        step = (now - self.window_start) / steps
        left = self.iterations - iteration
        run_left = left + (self.epochs - self.epoch - 1) * self.iterations
        text = (
            f"epoch {self.epoch + 1}/{self.epochs} iter {iteration}/{self.iterations} | "
            f"data {self.data_seconds / steps:.3f} s | step {step:.3f} s | "
            f"{self.global_batch / step:.1f} samples/s | eta {_clock(left * step)} "
            f"(run {_clock(run_left * step)}) | lr {lr:.3g} | loss {loss:.4g}"
        )
        if self.device.type == "cuda":
            text += f" | mem {torch.cuda.max_memory_allocated(self.device) / 2**30:.2f} GiB"
        self.window_start, self.data_seconds, self.steps = now, 0.0, 0
        return text


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))
