"""The training loop: one process, or one per GPU under torchrun (see trainer.distributed).

Each epoch: HRNet-augmented crops → model → JointsMSELoss → Adam step (fp16 autocast with a
GradScaler on CUDA), the learning rate set per iteration by trainer.schedule (linear scaling with
the global batch, warm-up, steps; attention parameters in their own group; frozen parameters held
still for the first epochs). Every `eval.every` epochs (and after the last, and before the first if
asked) the validation split is scored with pycocotools, each rank predicting its share of crops.
The loss stays on the device between progress lines: no host sync per step for logging.
Rank 0 writes `latest.pt` every epoch (our checkpoint format with epoch and history in its meta and
the optimiser, scheduler, scaler and RNG states beside it, see trainer.weights), `best.pt` (weights
and history) when AP improves, a CSV log and TensorBoard scalars. `resume` restores all of it, and
because each sample's augmentation and each epoch's shuffle depend only on (seed, epoch, index),
the resumed run repeats the uninterrupted one.

Several machines need no shared filesystem: rank 0 alone reads `--resume` and `--init` files and
the others receive the checkpoint by broadcast (initial weights through DDP's own broadcast of rank
0's parameters); only rank 0 writes. Every node needs the dataset itself.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from core.errors import UserError
from core.model import ModelConfig, PoseHRNet, build_model
from trainer import distributed, logs, schedule, weights
from trainer.config import TrainConfig, check_resume, resume_settings
from trainer.dataset import CocoKeypoints, collate, evaluation_dataset, ground_truth_samples, load_coco
from trainer.evaluate import (
    coco_summary,
    evaluate_predictions,
    format_metrics,
    predict_sharded,
    prediction_loader,
    shard_indices,
)
from trainer.loss import JointsMSELoss


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch (epoch 0: start)
    best_ap: float = -1.0
    out_dir: Path = Path()
    model: PoseHRNet | None = None  # the trained model (this rank's copy, on its device)


@dataclass
class ValidationSet:
    coco: Any
    dataset: CocoKeypoints
    loader: Any = None  # this rank's shard, built once so its workers persist


def train(config: TrainConfig, resume: str | Path | None = None) -> TrainResult:
    """Run (or continue) training as `config` says; returns the per-epoch history."""
    context = distributed.setup(config.run.device)
    try:
        return _train(config, resume, context)
    finally:
        distributed.cleanup()


@dataclass
class _Run:
    """What one training run holds from its first epoch to its last."""

    config: TrainConfig
    context: distributed.DistContext
    log: Callable[[str], None]
    model: PoseHRNet
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    train_set: CocoKeypoints
    sampler: DistributedSampler
    loader: DataLoader
    lr_schedule: schedule.LrSchedule
    val: ValidationSet | None
    writer: Any  # TensorBoard's SummaryWriter, or None
    frozen: list[str]  # parameters held still for the first params.freeze_epochs epochs
    result: TrainResult
    start_epoch: int
    wrapped: torch.nn.Module | None = None  # the model as trained (DDP's wrapper under torchrun)
    criterion: JointsMSELoss = field(default_factory=lambda: JointsMSELoss(use_target_weight=True))

    @property
    def out_dir(self) -> Path:
        return self.result.out_dir


def _train(config: TrainConfig, resume: str | Path | None, context: distributed.DistContext) -> TrainResult:
    run = _start(config, resume, context)
    if run.val is not None and config.eval.before_training and run.start_epoch == 0:
        run.result.history.append({"epoch": 0, **_validate_logged(run, 0)})
        logs.write_epoch(context, run.out_dir, run.result.history, run.writer)
    for epoch in range(run.start_epoch, config.solver.epochs):
        _unfreeze_when_due(run, epoch)
        row = _train_epoch(run, epoch)
        last = epoch + 1 == config.solver.epochs
        if run.val is not None and config.eval.every and ((epoch + 1) % config.eval.every == 0 or last):
            row.update(_validate_logged(run, epoch + 1))
        run.result.history.append(row)
        improved = "AP" in row and row["AP"] > run.result.best_ap
        if improved:
            run.result.best_ap = row["AP"]
        _save_checkpoints(run, epoch + 1, improved, last)
        logs.write_epoch(context, run.out_dir, run.result.history, run.writer)
        run.log(_epoch_line(run, row))
        distributed.barrier(context)
    if run.writer is not None:
        run.writer.close()
    run.result.model = run.model
    return run.result


def _start(config: TrainConfig, resume: str | Path | None, context: distributed.DistContext) -> _Run:
    """Everything before the first epoch: model, data, optimiser, a checkpoint's state, schedule, logs."""
    log = logs.rank0_logger(context)
    _seed_everything(config.run.seed)
    if context.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    checkpoint = weights.read_on_rank0(resume, context) if resume else None
    if checkpoint is not None:
        saved = checkpoint["meta"].get("train_config", {})
        check_resume(config, saved, resume)
        for line in resume_settings(config, saved):
            log(line)
    model = _build_model(config, checkpoint, context, log)
    frozen = schedule.frozen_names(config, model) if config.params.freeze_epochs else []
    train_set, val = _training_set(config, model), _validation_set(config, model, context)
    log(
        f"training on {len(train_set)} people from {config.data.train_ann}"
        + (f"; validating on {len(val.dataset)} crops" if val else "; no validation split")
    )
    model = _on_device(config, model, context)
    optimizer = schedule.build_optimizer(config, model)
    scaler = torch.amp.GradScaler("cuda", enabled=config.solver.amp and context.device.type == "cuda")
    result = TrainResult(out_dir=Path(config.run.out_dir))
    start_epoch, warmup_iters = _restore(checkpoint, optimizer, scaler, result) if checkpoint else (0, None)
    if checkpoint is not None:
        log(f"resumed from {resume} after epoch {start_epoch}")
    sampler, loader = _training_loader(config, train_set, context)
    iterations = min(config.run.max_iters_per_epoch or len(loader), len(loader))
    lr_schedule = schedule.LrSchedule.from_config(config, context.world_size, iterations, warmup_iters)
    log(lr_schedule.describe(config, context.world_size))
    writer = logs.open_tensorboard(config.run.tensorboard and context.is_main, result.out_dir, log)
    if context.is_main:
        result.out_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(
        config=config,
        context=context,
        log=log,
        model=model,
        optimizer=optimizer,
        scaler=scaler,
        train_set=train_set,
        sampler=sampler,
        loader=loader,
        lr_schedule=lr_schedule,
        val=val,
        writer=writer,
        frozen=frozen,
        result=result,
        start_epoch=start_epoch,
    )
    if start_epoch < config.params.freeze_epochs and frozen:
        schedule.set_frozen(model, frozen, True)
        log(f"{len(frozen)} parameter tensors frozen until epoch {config.params.freeze_epochs} ends")
    run.wrapped = _wrap(model, context)
    return run


def _on_device(config: TrainConfig, model: PoseHRNet, context: distributed.DistContext) -> PoseHRNet:
    """The model on this rank's device (channels-last on CUDA when asked), SyncBatchNorm under DDP."""
    if config.solver.sync_bn and context.enabled:
        if context.device.type != "cuda":
            raise UserError("solver.sync_bn needs CUDA GPUs (NCCL); gloo on the CPU cannot synchronise BN")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(context.device)
    if config.solver.channels_last and context.device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def _restore(checkpoint: dict, optimizer, scaler, result: TrainResult) -> tuple[int, int | None]:
    """A `--resume` checkpoint's optimiser, scaler, RNG and history; (epochs done, its warm-up length,
    or None when it predates the saved warm-up: then its uncapped solver.warmup_iters applied)."""
    meta, state = checkpoint["meta"], checkpoint["training"]
    optimizer.load_state_dict(state["optimizer"])
    if scaler.is_enabled() and state["scaler"]:  # empty when saved by a run without fp16
        scaler.load_state_dict(state["scaler"])
    weights.set_rng_state(state["rng"])
    result.history = [dict(row) for row in meta.get("history", [])]
    result.best_ap = float(meta.get("best_ap", -1.0))
    saved_solver = meta.get("train_config", {}).get("solver", {})
    warmup = state["scheduler"].get("warmup_iters", saved_solver.get("warmup_iters"))
    return int(meta["epoch"]), warmup


def _training_loader(
    config: TrainConfig, train_set: CocoKeypoints, context: distributed.DistContext
) -> tuple[DistributedSampler, DataLoader]:
    sampler = DistributedSampler(
        train_set,
        num_replicas=context.world_size,
        rank=context.rank,
        shuffle=True,
        seed=config.run.seed,
        drop_last=False,
    )
    loader = DataLoader(
        train_set,
        batch_size=config.solver.batch_size,
        sampler=sampler,
        num_workers=config.data.workers,
        collate_fn=collate,
        worker_init_fn=_worker_init,
        pin_memory=config.data.pin_memory and context.device.type == "cuda",
        persistent_workers=config.data.workers > 0,
    )
    return sampler, loader


def _unfreeze_when_due(run: _Run, epoch: int) -> None:
    """At epoch params.freeze_epochs the frozen parameters start to train as well."""
    due = run.config.params.freeze_epochs
    if run.frozen and run.start_epoch < due == epoch:
        schedule.set_frozen(run.model, run.frozen, False)
        run.wrapped = _wrap(run.model, run.context)  # DDP hooks only the parameters trainable when built
        run.log(f"epoch {epoch + 1}: {len(run.frozen)} frozen parameter tensors train from now on")


def _train_epoch(run: _Run, epoch: int) -> dict[str, float]:
    """One epoch of training; its row of the history (loss, lr at its start, time, each gamma)."""
    started = time.perf_counter()
    run.sampler.set_epoch(epoch)
    run.train_set.set_epoch(epoch)
    lr = run.lr_schedule.lr(epoch, 0)
    loss, skipped = _train_one_epoch(run, epoch)
    if skipped:
        run.log(f"epoch {epoch + 1}: skipped {int(skipped)} samples whose image could not be read")
    return {
        "epoch": epoch + 1,
        "loss": loss,
        "lr": lr,
        "skipped": skipped,
        "seconds": time.perf_counter() - started,
        **{f"gamma_{key}": float(module.gamma.detach()) for key, module in run.model.attention.items()},
    }


def _save_checkpoints(run: _Run, epochs_done: int, improved: bool, last: bool) -> None:
    """Rank 0: `latest.pt` every run.save_every epochs and after the last (everything `--resume`
    needs), `best.pt` when AP improved (weights and history: the file to deploy or evaluate)."""
    if not run.context.is_main:
        return
    config, result = run.config, run.result
    meta = {
        "epoch": epochs_done,
        "best_ap": result.best_ap,
        "history": result.history,
        "train_config": config.to_dict(),
    }
    if epochs_done % config.run.save_every == 0 or last:
        state = {
            "optimizer": run.optimizer.state_dict(),
            # The lr is a function of the epoch (schedule.py); the warm-up's length is kept so that a
            # run resumed with more epochs does not lengthen it.
            "scheduler": {"epoch": epochs_done, "warmup_iters": run.lr_schedule.warmup_iters},
            "scaler": run.scaler.state_dict(),
            "rng": weights.rng_state(),
        }
        weights.save_training_checkpoint(run.model, result.out_dir / "latest.pt", meta, state)
    if improved:
        weights.save_training_checkpoint(run.model, result.out_dir / "best.pt", meta)


def _epoch_line(run: _Run, row: dict[str, float]) -> str:
    validation = f", validation {row['val_seconds']:.1f} s, AP {row['AP']:.4f}" if "AP" in row else ""
    gammas = "".join(f", {k.replace('_', ' ')} {v:+.4f}" for k, v in row.items() if k.startswith("gamma_"))
    return (
        f"epoch {row['epoch']}/{run.config.solver.epochs}: loss {row['loss']:.6g}, lr {row['lr']:.3g}, "
        f"train {row['seconds']:.1f} s{validation}{gammas}"
    )


def _wrap(model: PoseHRNet, context: distributed.DistContext) -> torch.nn.Module:
    if not context.enabled:
        return model
    device = context.device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _train_one_epoch(run: _Run, epoch: int) -> tuple[float, float]:
    """Mean loss over the epoch's batches (averaged over ranks) and the number of unreadable images."""
    config, context, device = run.config, run.context, run.context.device
    run.wrapped.train()
    total = run.lr_schedule.iters_per_epoch
    bar = tqdm(
        total=total,
        desc=f"epoch {epoch + 1}",
        disable=not (context.is_main and config.run.progress),
        leave=False,
        dynamic_ncols=True,
    )
    meter = logs.ProgressLines(
        epoch, config.solver.epochs, total, config.solver.batch_size * context.world_size, device
    )
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    window = torch.zeros((), device=device, dtype=torch.float64)
    batches, window_batches, skipped = 0, 0, 0
    waited = time.perf_counter()
    for step, batch in enumerate(run.loader):
        if step >= total:
            break
        meter.add_data_wait(time.perf_counter() - waited)
        skipped += batch["skipped"]
        if "image" not in batch:
            if not context.enabled:
                bar.update()
                waited = time.perf_counter()
                continue
            batch = _empty_batch(config, run.wrapped)  # every DDP rank must take part in each step
        loss, lr = _train_step(run, batch, epoch, step)
        window += loss.detach()
        batches, window_batches = batches + 1, window_batches + 1
        bar.update()
        if (step + 1) % config.run.log_every == 0 or step + 1 == total:  # the one host sync of a window
            value = float(window) / max(window_batches, 1)
            _check_finite(value, epoch)
            if context.is_main:
                bar.set_postfix(loss=f"{value:.3e}")
                run.log(meter.line(step + 1, lr, value))
                if run.writer is not None:
                    run.writer.add_scalar("train/loss", value, epoch * total + step)
                    run.writer.add_scalar("train/lr", lr, epoch * total + step)
            loss_sum += window
            window.zero_()
            window_batches = 0
        waited = time.perf_counter()
    bar.close()
    loss_sum += window
    mean = float(loss_sum) / max(batches, 1)
    _check_finite(mean, epoch)
    return distributed.all_reduce_mean(mean, context), distributed.all_reduce_sum(skipped, context)


def _train_step(run: _Run, batch: dict, epoch: int, step: int) -> tuple[torch.Tensor, float]:
    """One optimiser step on one batch (fp16 autocast + GradScaler on CUDA, bf16 on the CPU when
    asked); the loss, still on the device, and the lr it used."""
    config, device, optimizer, scaler = run.config, run.context.device, run.optimizer, run.scaler
    images = batch["image"].to(device, non_blocking=True)
    if config.solver.channels_last and device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    target = batch["target"].to(device, non_blocking=True)
    target_weight = batch["target_weight"].to(device, non_blocking=True)
    lr = run.lr_schedule.apply(optimizer, epoch, step)
    fp16 = scaler.is_enabled()
    bf16 = config.solver.amp and config.solver.cpu_bf16 and device.type == "cpu"
    with torch.autocast(device.type, dtype=torch.float16 if fp16 else torch.bfloat16, enabled=fp16 or bf16):
        output = run.wrapped(images)
    loss = run.criterion(output, target, target_weight)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if config.solver.grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(run.wrapped.parameters(), config.solver.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss, lr


def _check_finite(value: float, epoch: int) -> None:
    if not math.isfinite(value):
        raise UserError(f"the loss became {value} in epoch {epoch + 1}; lower solver.lr or enable grad_clip")


def _validate_logged(run: _Run, epoch: int) -> dict[str, float]:
    """Score the validation split after `epoch` (0: the starting weights); metrics and its time."""
    started = time.perf_counter()
    metrics = _validate(
        run.config, run.model, run.val, run.context, run.out_dir / f"results_epoch{epoch}.json"
    )
    seconds = time.perf_counter() - started
    when = "before training" if epoch == 0 else f"epoch {epoch}"
    run.log(f"{when} validation ({seconds:.1f} s):\n{format_metrics(metrics)}\n{coco_summary(metrics)}")
    return {**{k: metrics[k] for k in logs.METRIC_COLUMNS}, "val_seconds": seconds}


def _validate(config: TrainConfig, model: PoseHRNet, val: ValidationSet, context, results_path: Path):
    """Each rank predicts every world_size-th crop; rank 0 scores the union; all ranks get the metrics."""
    merged = predict_sharded(
        model,
        val.dataset,
        context,
        flip=config.eval.flip,
        decode=config.eval.decode,
        amp=config.solver.amp,
        progress=context.is_main and config.run.progress,
        loader=val.loader,
    )
    metrics = None
    if merged is not None:
        metrics = evaluate_predictions(
            val.coco,
            val.dataset.samples,
            merged,
            results_path,
            config.eval.in_vis_threshold,
            config.eval.oks_threshold,
        )
    return distributed.broadcast_object(metrics, context)


def _build_model(config: TrainConfig, checkpoint: dict | None, context, log) -> PoseHRNet:
    if checkpoint is not None:  # the checkpoint's own architecture; its weights are the state to continue
        model = PoseHRNet(ModelConfig.from_dict(checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model
    model = build_model(**dataclasses.asdict(config.model))
    # Under DDP only rank 0 reads initial weights: DDP broadcasts rank 0's parameters and buffers.
    if context.is_main:
        if config.init.imagenet:
            log(weights.init_from_imagenet(model, config.init.imagenet).describe())
        if config.init.weights:
            log(weights.init_from_pose(model, config.init.weights).describe())
    return model


def _training_set(config: TrainConfig, model: PoseHRNet) -> CocoKeypoints:
    d, a = config.data, config.augment
    if not d.train_ann or not d.train_images:
        raise UserError("training needs an annotation file and an image folder (--coco-ann and --images)")
    coco = load_coco(d.train_ann)
    input_size = model.config.input_size
    samples = ground_truth_samples(
        coco, d.train_images, input_size[0] / input_size[1], model.config.num_joints, source=d.train_ann
    )
    return CocoKeypoints(
        samples, input_size, model.config.heatmap_size, sigma=a.sigma, augment=a, seed=config.run.seed
    )


def _validation_set(config: TrainConfig, model: PoseHRNet, context) -> ValidationSet | None:
    d = config.data
    if not d.val_ann or not config.eval.every:
        return None
    if not d.val_images:
        raise UserError("a validation annotation file needs its image folder (--val-images)")
    coco = load_coco(d.val_ann)
    dataset = evaluation_dataset(
        coco, d.val_images, model.config, d.val_ann, d.val_detections, d.detection_score_threshold
    )
    indices = shard_indices(dataset, context)
    loader = prediction_loader(
        dataset, indices, config.eval.batch_size, d.workers, context.device, persistent=True
    )
    return ValidationSet(coco, dataset, loader)


def _empty_batch(config: TrainConfig, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A one-crop batch with zero target weights: contributes nothing to the loss."""
    net = model.module if hasattr(model, "module") else model
    (w, h), (hw, hh) = net.config.input_size, net.config.heatmap_size
    j = net.config.num_joints
    return {
        "image": torch.zeros(1, 3, h, w),
        "target": torch.zeros(1, j, hh, hw),
        "target_weight": torch.zeros(1, j),
    }


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # DataLoader workers already run in parallel
    torch.set_num_threads(1)
