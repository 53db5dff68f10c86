"""Which parameters train, at which learning rate, at every iteration.

- Parameter groups: attention parameters (`attention.*`, gamma included) get `attention_lr_mult` and
  `attention_weight_decay`; the rest the solver's lr and weight decay. Fine-tuning a preset from a
  baseline needs this: gamma starts at 0, so the attention weights get no gradient until gamma moves,
  and at the backbone's fine-tuning lr it hardly does.
- Freezing: parameters matching `params.freeze` (fnmatch on names, minus `params.freeze_except`)
  have requires_grad off for the first `freeze_epochs` epochs, so they get no gradient, the
  optimiser skips them (their Adam moments stay empty) and they do not change at all. BatchNorm
  running statistics of frozen layers still follow the data (the layers stay in train mode).
- Learning rate: solver.lr is the rate used. With solver.auto_scale_lr (`--auto-scale-lr`, opt-in as
  in mmengine) it is scaled linearly (Goyal et al.) from the global batch it was tuned for,
  `base_batch`, to the real one (per-rank batch × ranks). Then mmpose's linear warm-up over the first
  `warmup_iters` iterations from `warmup_ratio` × lr, but never over more than `warmup_max_fraction`
  of the run (500 iterations are nothing in a COCO run and all of a short one), then ×lr_factor at
  each of `lr_steps` epochs. The rate is a pure function of (epoch, iteration), set on every step,
  so a resumed run continues the same curve with only its warm-up length to restore.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import torch

from core.errors import UserError
from trainer.config import TrainConfig

ATTENTION_PATTERN = "attention.*"


def is_attention(name: str) -> bool:
    return fnmatch.fnmatchcase(name, ATTENTION_PATTERN)


def frozen_names(config: TrainConfig, model: torch.nn.Module) -> list[str]:
    """Names of the parameters `params.freeze` holds still; a freeze pattern matching nothing is an
    error (an exception pattern may: `attention.*` in a recipe shared with the baseline)."""
    p = config.params
    names = [name for name, _ in model.named_parameters()]
    for pattern in p.freeze:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
            raise UserError(f"params.freeze pattern {pattern!r} matches no parameter (e.g. {names[0]!r})")

    def matches(name: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    return [n for n in names if matches(n, p.freeze) and not matches(n, p.freeze_except)]


def set_frozen(model: torch.nn.Module, names: list[str], frozen: bool) -> None:
    wanted = set(names)
    for name, parameter in model.named_parameters():
        if name in wanted:
            parameter.requires_grad_(not frozen)


def build_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The solver's optimiser with one group for the network and one for attention parameters."""
    s, p = config.solver, config.params
    named = list(model.named_parameters())
    groups = [
        {
            "name": "network",
            "params": [t for n, t in named if not is_attention(n)],
            "lr_mult": 1.0,
            "weight_decay": s.weight_decay,
        },
        {
            "name": "attention",
            "params": [t for n, t in named if is_attention(n)],
            "lr_mult": p.attention_lr_mult,
            "weight_decay": p.attention_weight_decay,
        },
    ]
    groups = [g for g in groups if g["params"]]
    if s.optimizer == "adam":
        return torch.optim.Adam(groups, lr=s.lr)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=s.lr)
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum)


@dataclass(frozen=True)
class LrSchedule:
    """lr(epoch, iteration) = lr (× global/base batch if asked) × warm-up ramp × lr_factor^(steps passed)."""

    base_lr: float  # solver.lr, scaled to the global batch when solver.auto_scale_lr is set
    warmup_iters: int  # solver.warmup_iters, capped at solver.warmup_max_fraction of the run
    warmup_ratio: float
    steps: tuple[int, ...]
    factor: float
    iters_per_epoch: int

    @classmethod
    def from_config(
        cls, config: TrainConfig, world_size: int, iters_per_epoch: int, warmup_iters: int | None = None
    ) -> LrSchedule:
        """`warmup_iters`: a resumed run's own (saved in its checkpoint), so that a run resumed with
        more epochs keeps the warm-up it had; None: solver.warmup_iters, capped for this run."""
        s = config.solver
        scale = s.batch_size * world_size / s.base_batch if s.auto_scale_lr else 1.0
        if warmup_iters is None:
            warmup_iters = min(s.warmup_iters, int(s.warmup_max_fraction * s.epochs * iters_per_epoch))
        return cls(s.lr * scale, warmup_iters, s.warmup_ratio, s.lr_steps, s.lr_factor, iters_per_epoch)

    def lr(self, epoch: int, iteration: int) -> float:
        """The network group's rate at `iteration` (0-based, within the epoch) of `epoch` (0-based)."""
        rate = self.base_lr * self.factor ** sum(epoch >= step for step in self.steps)
        done = epoch * self.iters_per_epoch + iteration
        if done < self.warmup_iters:  # mmcv's linear warm-up
            rate *= 1.0 - (1.0 - done / self.warmup_iters) * (1.0 - self.warmup_ratio)
        return rate

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, iteration: int) -> float:
        rate = self.lr(epoch, iteration)
        for group in optimizer.param_groups:
            group["lr"] = rate * group.get("lr_mult", 1.0)
        return rate

    def describe(self, config: TrainConfig, world_size: int) -> str:
        """The start line: the rate and where it comes from, the warm-up, the steps, the groups."""
        s, p = config.solver, config.params
        batch = (
            f"{s.batch_size * world_size} = {s.batch_size} × {world_size} rank{'s' if world_size > 1 else ''}"
        )
        if s.auto_scale_lr:
            text = f"lr {self.base_lr:.3g} (solver.lr {s.lr:.3g} for a global batch of {s.base_batch}, "
            text += f"scaled to {batch})"
        else:
            text = f"lr {self.base_lr:.3g} as given (global batch {batch}"
            if s.base_batch and s.base_batch != s.batch_size * world_size:
                scaled = s.lr * s.batch_size * world_size / s.base_batch
                text += (
                    f"; --auto-scale-lr would make it {scaled:.3g}, the recipe's lr being for {s.base_batch}"
                )
            text += ")"
        if self.warmup_iters:
            text += f"; linear warm-up over {self.warmup_iters} iterations from {self.warmup_ratio:g}×"
            if self.warmup_iters < s.warmup_iters:
                share = f"{s.warmup_max_fraction:.0%}"
                text += f" (solver.warmup_iters {s.warmup_iters}, capped at {share} of the run)"
        else:
            text += "; no warm-up"
        if self.steps:
            text += f"; ×{self.factor:g} at epochs {', '.join(map(str, self.steps))}"
        if p.attention_lr_mult != 1.0 or p.attention_weight_decay != s.weight_decay:
            text += (
                f"; attention parameters ×{p.attention_lr_mult:g} lr, "
                f"weight decay {p.attention_weight_decay:g}"
            )
        return text
