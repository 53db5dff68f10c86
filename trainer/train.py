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
from trainer.config import TrainConfig, check_resume
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


def _train(config: TrainConfig, resume: str | Path | None, context: distributed.DistContext) -> TrainResult:
    out_dir = Path(config.run.out_dir)
    device = context.device
    log = logs.rank0_logger(context)
    _seed_everything(config.run.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    checkpoint = weights.read_on_rank0(resume, context) if resume else None
    if checkpoint is not None:
        check_resume(config, checkpoint["meta"].get("train_config", {}), resume)
    model = _build_model(config, checkpoint, context, log)
    frozen = schedule.frozen_names(config, model) if config.params.freeze_epochs else []
    if config.solver.sync_bn and context.enabled:
        if device.type != "cuda":
            raise UserError("solver.sync_bn needs CUDA GPUs (NCCL); gloo on the CPU cannot synchronise BN")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    train_set = _training_set(config, model)
    val = _validation_set(config, model, context)
    log(
        f"training on {len(train_set)} people from {config.data.train_ann}"
        + (f"; validating on {len(val.dataset)} crops" if val else "; no validation split")
    )

    channels_last = config.solver.channels_last and device.type == "cuda"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = schedule.build_optimizer(config, model)
    fp16 = config.solver.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    result = TrainResult(out_dir=out_dir)
    start_epoch = 0
    if checkpoint is not None:
        meta, state = checkpoint["meta"], checkpoint["training"]
        optimizer.load_state_dict(state["optimizer"])
        if scaler.is_enabled() and state["scaler"]:  # empty when saved by a run without fp16
            scaler.load_state_dict(state["scaler"])
        weights.set_rng_state(state["rng"])
        start_epoch = int(meta["epoch"])
        result.history = [dict(row) for row in meta.get("history", [])]
        result.best_ap = float(meta.get("best_ap", -1.0))
        log(f"resumed from {resume} after epoch {start_epoch}")

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
        pin_memory=config.data.pin_memory and device.type == "cuda",
        persistent_workers=config.data.workers > 0,
    )
    iterations = min(config.run.max_iters_per_epoch or len(loader), len(loader))
    lr_schedule = schedule.LrSchedule.from_config(config, context.world_size, iterations)
    log(lr_schedule.describe(config, context.world_size))
    criterion = JointsMSELoss(use_target_weight=True)
    writer = logs.open_tensorboard(config.run.tensorboard and context.is_main, out_dir, log)
    if context.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    is_frozen = start_epoch < config.params.freeze_epochs and bool(frozen)
    if is_frozen:
        schedule.set_frozen(model, frozen, True)
        log(f"{len(frozen)} parameter tensors frozen until epoch {config.params.freeze_epochs} ends")
    wrapped = _wrap(model, context)
    if val is not None and config.eval.before_training and start_epoch == 0:
        row = {"epoch": 0}
        row.update(_validate_logged(config, model, val, context, out_dir, 0, log))
        result.history.append(row)
        logs.write_epoch(context, out_dir, result.history, writer)

    for epoch in range(start_epoch, config.solver.epochs):
        if is_frozen and epoch >= config.params.freeze_epochs:
            schedule.set_frozen(model, frozen, False)
            is_frozen = False
            wrapped = _wrap(model, context)  # DDP hooks only the parameters trainable when it is built
            log(f"epoch {epoch + 1}: {len(frozen)} frozen parameter tensors train from now on")
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        lr = lr_schedule.lr(epoch, 0)
        loss, skipped = _train_one_epoch(
            config, wrapped, loader, criterion, optimizer, scaler, lr_schedule, context, epoch, writer
        )
        row: dict[str, float] = {
            "epoch": epoch + 1,
            "loss": loss,
            "lr": lr,
            "skipped": skipped,
            "seconds": time.perf_counter() - started,
            **{f"gamma_{key}": float(module.gamma.detach()) for key, module in model.attention.items()},
        }
        if skipped:
            log(f"epoch {epoch + 1}: skipped {int(skipped)} samples whose image could not be read")
        last = epoch + 1 == config.solver.epochs
        if val is not None and config.eval.every and ((epoch + 1) % config.eval.every == 0 or last):
            row.update(_validate_logged(config, model, val, context, out_dir, epoch + 1, log))
        result.history.append(row)
        improved = "AP" in row and row["AP"] > result.best_ap
        if improved:
            result.best_ap = row["AP"]
        if context.is_main:
            meta = {
                "epoch": epoch + 1,
                "best_ap": result.best_ap,
                "history": result.history,
                "train_config": config.to_dict(),
            }
            if (epoch + 1) % config.run.save_every == 0 or last:
                state = {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": {"epoch": epoch + 1},  # the lr is a function of the epoch (schedule.py)
                    "scaler": scaler.state_dict(),
                    "rng": weights.rng_state(),
                }
                weights.save_training_checkpoint(model, out_dir / "latest.pt", meta, state)
            if improved:  # weights and history only: the file to deploy or evaluate
                weights.save_training_checkpoint(model, out_dir / "best.pt", meta)
        logs.write_epoch(context, out_dir, result.history, writer)
        validation = f", validation {row['val_seconds']:.1f} s, AP {row['AP']:.4f}" if "AP" in row else ""
        log(
            f"epoch {epoch + 1}/{config.solver.epochs}: loss {loss:.6g}, lr {lr:.3g}, "
            f"train {row['seconds']:.1f} s{validation}"
            + "".join(f", {k.replace('_', ' ')} {v:+.4f}" for k, v in row.items() if k.startswith("gamma_"))
        )
        distributed.barrier(context)
    if writer is not None:
        writer.close()
    result.model = model
    return result


def _wrap(model: PoseHRNet, context: distributed.DistContext) -> torch.nn.Module:
    if not context.enabled:
        return model
    device = context.device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _train_one_epoch(
    config, model, loader, criterion, optimizer, scaler, lr_schedule, context, epoch, writer
) -> tuple[float, float]:
    """Mean loss over the epoch's batches (averaged over ranks) and the number of unreadable images."""
    model.train()
    device = context.device
    total = lr_schedule.iters_per_epoch
    every = config.run.log_every
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
    fp16 = scaler.is_enabled()
    bf16 = config.solver.amp and config.solver.cpu_bf16 and device.type == "cpu"
    channels_last = config.solver.channels_last and device.type == "cuda"
    waited = time.perf_counter()
    for step, batch in enumerate(loader):
        if step >= total:
            break
        meter.add_data_wait(time.perf_counter() - waited)
        skipped += batch["skipped"]
        if "image" not in batch:
            if not context.enabled:
                bar.update()
                waited = time.perf_counter()
                continue
            batch = _empty_batch(config, model)  # every DDP rank must take part in each step
        images = batch["image"].to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        target = batch["target"].to(device, non_blocking=True)
        target_weight = batch["target_weight"].to(device, non_blocking=True)
        lr = lr_schedule.apply(optimizer, epoch, step)
        with torch.autocast(
            device.type, dtype=torch.float16 if fp16 else torch.bfloat16, enabled=fp16 or bf16
        ):
            output = model(images)
        loss = criterion(output, target, target_weight)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.solver.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.solver.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        window += loss.detach()
        batches, window_batches = batches + 1, window_batches + 1
        bar.update()
        if (step + 1) % every == 0 or step + 1 == total:  # the one host sync of a window
            value = float(window) / max(window_batches, 1)
            _check_finite(value, epoch)
            if context.is_main:
                bar.set_postfix(loss=f"{value:.3e}")
                logs.rank0_logger(context)(meter.line(step + 1, lr, value))
                if writer is not None:
                    writer.add_scalar("train/loss", value, epoch * total + step)
                    writer.add_scalar("train/lr", lr, epoch * total + step)
            loss_sum += window
            window.zero_()
            window_batches = 0
        waited = time.perf_counter()
    bar.close()
    loss_sum += window
    mean = float(loss_sum) / max(batches, 1)
    _check_finite(mean, epoch)
    return distributed.all_reduce_mean(mean, context), distributed.all_reduce_sum(skipped, context)


def _check_finite(value: float, epoch: int) -> None:
    if not math.isfinite(value):
        raise UserError(f"the loss became {value} in epoch {epoch + 1}; lower solver.lr or enable grad_clip")


def _validate_logged(config, model, val, context, out_dir: Path, epoch: int, log) -> dict[str, float]:
    """Score the validation split after `epoch` (0: the starting weights); metrics and its time."""
    started = time.perf_counter()
    metrics = _validate(config, model, val, context, out_dir / f"results_epoch{epoch}.json")
    seconds = time.perf_counter() - started
    when = "before training" if epoch == 0 else f"epoch {epoch}"
    log(f"{when} validation ({seconds:.1f} s):\n{format_metrics(metrics)}\n{coco_summary(metrics)}")
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
