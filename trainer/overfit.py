"""Overfit experiment: can the whole training path drive AP on a handful of people towards 1?

    python -m trainer.overfit [--coco-ann ANN --images DIR] [--epochs 260] [--out runs/overfit]

A small HRNet (width 8 at 96×128 by default) is trained with the real loop (trainer.train: dataset,
codec targets, loss, Adam, checkpoints, resume) on coco_mini's 12 people, with augmentation off,
and evaluated on the same people with ground-truth boxes through the real evaluation (rescoring,
OKS-NMS, pycocotools; no flip test, since the model never sees a mirrored person). It writes
`overfit.csv` (epoch, loss, AP, AR, wall seconds) and `overfit.png` (loss and AP per epoch).
A broken convention anywhere (crop, targets, decoding, scoring) keeps AP near zero.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from core.atomic import atomic_path
from core.cli.entry import script
from core.cli.options import CommandParser

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT.parent / "shared" / "data" / "coco_mini"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = CommandParser(prog="python -m trainer.overfit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--coco-ann", type=Path, default=MINI / "person_keypoints.json")
    parser.add_argument("--images", type=Path, default=MINI / "images")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--input-size", default="96x128", help="crop WIDTHxHEIGHT (multiples of 32)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lr-steps", default="150,220", help="epochs at which the lr drops ×0.1")
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=260)
    parser.add_argument("--minutes", type=float, default=10.0, help="stop early when this time is spent")
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "overfit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from core.model import build_model, save_checkpoint
    from trainer.config import TrainConfig
    from trainer.dataset import CocoKeypoints, ground_truth_samples, load_coco
    from trainer.evaluate import evaluate_predictions, predict
    from trainer.train import train

    config = TrainConfig()
    config.set("model.width", args.width)
    config.set("model.input_size", args.input_size)
    m = config.model
    config.data.train_ann = config.data.val_ann = str(args.coco_ann)
    config.data.train_images = config.data.val_images = str(args.images)
    config.data.workers = 0
    a = config.augment
    a.flip, a.rotation, a.scale, a.half_body_prob = False, 0.0, 0.0, 0.0
    s = config.solver
    s.lr, s.batch_size = args.lr, args.batch_size
    s.lr_steps = tuple(int(v) for v in args.lr_steps.split(",") if v.strip()) or (10**9,)
    # No flip test: a model that never saw mirrored people (augmentation is off) mispredicts them,
    # and averaging that in halves the AP of an overfit model.
    config.eval.every, config.eval.flip = args.eval_every, False
    config.run.out_dir, config.run.progress, config.run.tensorboard = str(args.out), False, False
    config.run.seed, config.run.save_every = args.seed, args.eval_every

    # Epoch 0: the freshly initialised model, saved so training starts from exactly it.
    torch.manual_seed(args.seed)
    initial = build_model(width=m.width, input_size=m.input_size)
    initial_path = save_checkpoint(initial, args.out / "initial.pt")
    config.init.weights = str(initial_path)
    coco = load_coco(args.coco_ann)
    samples = ground_truth_samples(coco, args.images, m.input_size[0] / m.input_size[1])
    dataset = CocoKeypoints(samples, m.input_size, initial.config.heatmap_size)
    start = evaluate_predictions(
        coco, samples, predict(initial, dataset, flip=False), args.out / "results_epoch0.json"
    )
    rows = [{"epoch": 0, "loss": float("nan"), "AP": start["AP"], "AR": start["AR"], "seconds": 0.0}]
    print(f"epoch 0: AP {start['AP']:.3f}")

    # Train in chunks of eval_every epochs (resuming each time) until the time budget is spent.
    began = time.perf_counter()
    epochs, resume = 0, None
    while epochs < args.epochs and time.perf_counter() - began < args.minutes * 60:
        epochs = min(epochs + args.eval_every, args.epochs)
        config.solver.epochs = epochs
        result = train(config, resume=resume)
        resume = args.out / "latest.pt"
        elapsed = time.perf_counter() - began
        for row in result.history[len(rows) - 1 :]:
            rows.append(
                {
                    "epoch": int(row["epoch"]),
                    "loss": row["loss"],
                    "AP": row.get("AP", float("nan")),
                    "AR": row.get("AR", float("nan")),
                    "seconds": elapsed,
                }
            )
        print(
            f"epoch {epochs}: loss {rows[-1]['loss']:.3e}, AP {rows[-1]['AP']:.3f}, {elapsed:.0f} s",
            flush=True,
        )

    write_curve(rows, args.out)
    best = max(r["AP"] for r in rows if r["AP"] == r["AP"])
    print(
        f"AP {rows[0]['AP']:.3f} -> {rows[-1]['AP']:.3f} (best {best:.3f}) in {epochs} epochs; "
        f"curve in {args.out / 'overfit.csv'} and {args.out / 'overfit.png'}"
    )
    return 0


def write_curve(rows: list[dict[str, float]], out: Path) -> None:
    """overfit.csv and overfit.png (loss on a log scale, AP on a second axis)."""
    with atomic_path(out / "overfit.csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "loss", "AP", "AR", "seconds"])
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [r for r in rows if r["loss"] == r["loss"]]
    scored = [r for r in rows if r["AP"] == r["AP"]]
    fig, loss_axis = plt.subplots(figsize=(6, 3.2), dpi=100)
    loss_axis.semilogy([r["epoch"] for r in trained], [r["loss"] for r in trained], color="tab:blue", lw=1)
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    ap_axis = loss_axis.twinx()
    ap_axis.plot([r["epoch"] for r in scored], [r["AP"] for r in scored], "o-", color="tab:red", ms=3)
    ap_axis.set_ylabel("AP (coco_mini, GT boxes)", color="tab:red")
    ap_axis.set_ylim(0, 1)
    loss_axis.set_title("Overfitting coco_mini: loss and AP per epoch", fontsize=10)
    fig.tight_layout()
    with atomic_path(out / "overfit.png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


if __name__ == "__main__":
    script(main)
