"""`run.py train` and `run.py eval`: the trainer and the COCO evaluation from the command line.

    python run.py train --config assets/configs/w32_256x192.toml \\
        --coco-ann coco/annotations/person_keypoints_train2017.json --images coco/train2017 \\
        --val-ann coco/annotations/person_keypoints_val2017.json --val-images coco/val2017 \\
        --out runs/w32 [--init pose_hrnet_w32_256x192.pth | --imagenet hrnet_w32-36af842e.pth] \\
        [--set solver.batch_size=16 --set eval.every=5] [--resume]
    torchrun --nproc-per-node 4 run.py train ...         (DDP; see trainer/distributed.py)

    python run.py eval --checkpoint runs/w32/best.pt \\
        --coco-ann coco/annotations/person_keypoints_val2017.json --images coco/val2017 \\
        [--detections COCO_val2017_detections_AP_H_56_person.json] [--no-flip] [--out results.json]

Settings are read from the TOML file, then each --set, then the explicit flags (which win). With
--resume the checkpoint's model and recipe continue: an option that would change them is refused.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from core.cli.options import CommandParser, add_device_argument, number, path_argument
from core.errors import UserError


def main(argv: list[str], command: str = "train") -> int:
    if command == "eval":
        return run_eval(argv)
    return run_train(argv)


# ------------------------------------------------------------------------------------------- train


def train_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="run.py train",
        description="Train or fine-tune a pose HRNet on COCO keypoints (DDP: torchrun --nproc-per-node N).",
        epilog="Any recipe field can be changed with --set section.key=value, e.g. --set solver.lr=5e-4.",
    )
    parser.add_argument("--config", type=Path, help="recipe TOML, e.g. assets/configs/w32_256x192.toml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one recipe field (repeatable); value in TOML syntax",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--coco-ann", help="training annotations (person_keypoints_train2017.json)")
    data.add_argument("--images", help="training image folder")
    data.add_argument("--val-ann", help="validation annotations; evaluated every eval.every epochs")
    data.add_argument("--val-images", help="validation image folder")
    data.add_argument("--detections", help="person detections for validation (default: ground-truth boxes)")
    data.add_argument("--workers", type=int, help="DataLoader worker processes per GPU")
    model = parser.add_argument_group("model and initialisation")
    model.add_argument("--width", type=int, help="HRNet width (32, 48, ...)")
    model.add_argument("--preset", help="attention preset (baseline, paper, sub1, stage12, ...)")
    model.add_argument("--input-size", help="crop WIDTHxHEIGHT, e.g. 192x256")
    model.add_argument(
        "--init",
        help="pose weights to start from (ours, official HRNet or mmpose); "
        "a baseline checkpoint fine-tunes an attention preset",
    )
    model.add_argument("--imagenet", help="ImageNet HRNet backbone checkpoint (matching keys are loaded)")
    solver = parser.add_argument_group("solver")
    solver.add_argument("--epochs", type=int)
    solver.add_argument("--batch-size", type=int, help="per process (GPU)")
    solver.add_argument("--lr", type=float, help="the learning rate used (scaled only with --auto-scale-lr)")
    solver.add_argument(
        "--auto-scale-lr",
        action="store_true",
        help="scale the lr linearly from the recipe's solver.base_batch to the real global batch",
    )
    solver.add_argument("--grad-clip", type=float, help="max gradient norm (0: off)")
    solver.add_argument("--no-amp", action="store_true", help="train in float32 on the GPU")
    run = parser.add_argument_group("run")
    run.add_argument(
        "--out",
        type=lambda text: str(path_argument(text)),
        help="output folder: checkpoints, log.csv, tensorboard/",
    )
    add_device_argument(run, default=None)
    run.add_argument("--seed", type=int)
    run.add_argument("--eval-every", type=int, help="validate every K epochs (0: never)")
    run.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        metavar="CHECKPOINT",
        help="continue from a checkpoint (default: OUT/latest.pt)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


FLAG_FIELDS = {  # argparse dest -> recipe field
    "coco_ann": "data.train_ann",
    "images": "data.train_images",
    "val_ann": "data.val_ann",
    "val_images": "data.val_images",
    "detections": "data.val_detections",
    "workers": "data.workers",
    "width": "model.width",
    "preset": "model.preset",
    "input_size": "model.input_size",
    "init": "init.weights",
    "imagenet": "init.imagenet",
    "epochs": "solver.epochs",
    "batch_size": "solver.batch_size",
    "lr": "solver.lr",
    "grad_clip": "solver.grad_clip",
    "out": "run.out_dir",
    "device": "run.device",
    "seed": "run.seed",
    "eval_every": "eval.every",
}


def config_from_args(args: argparse.Namespace):
    from trainer.config import load_config

    config = load_config(args.config, args.overrides)
    for dest, name in FLAG_FIELDS.items():
        value = getattr(args, dest)
        if value is not None:
            config.set(name, value)
    if args.no_amp:
        config.solver.amp = False
    if args.auto_scale_lr:
        config.solver.auto_scale_lr = True
    if args.no_progress:
        config.run.progress = False
    config.validate()
    return config


def run_train(argv: list[str]) -> int:
    args = train_parser().parse_args(argv)
    config = config_from_args(args)
    from core.atomic import check_writable_folder

    check_writable_folder(config.run.out_dir)  # a file where the folder goes: one line, before any work
    resume = args.resume
    if resume == "auto":  # only rank 0 reads it (trainer.weights.read_on_rank0): check there alone
        resume = Path(config.run.out_dir) / "latest.pt"
        if int(os.environ.get("RANK", "0")) == 0 and not resume.is_file():
            raise UserError(f"--resume: no {resume} to continue from (name a checkpoint after --resume)")
    from trainer.train import train

    result = train(config, resume=resume)
    trained = [row for row in result.history if "loss" in row]
    if trained and int(os.environ.get("RANK", "0")) == 0:
        last = trained[-1]
        line = f"done: {len(trained)} epochs, last loss {last['loss']:.6g}"
        if result.best_ap >= 0:
            line += f", best AP {result.best_ap:.4f}"
        print(f"{line}; checkpoints in {result.out_dir}")
    return 0


# -------------------------------------------------------------------------------------------- eval


def eval_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="run.py eval",
        description="COCO keypoint AP of a checkpoint (pycocotools), with HRNet's rescoring and OKS-NMS.",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="our checkpoint, an official HRNet / mmpose one, or a model name (run.py weights list)",
    )
    parser.add_argument("--coco-ann", type=Path, required=True, help="person_keypoints_val2017.json")
    parser.add_argument("--images", type=Path, required=True, help="the annotation file's image folder")
    parser.add_argument(
        "--detections", type=Path, help="person boxes (COCO results JSON); default: ground-truth boxes"
    )
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="flip test: average with the mirrored crop (HRNet's test setting; default on)",
    )
    parser.add_argument("--out", type=Path, help="write the keypoint results JSON here")
    parser.add_argument("--input-size", help="WIDTHxHEIGHT for official/mmpose files (default 192x256)")
    parser.add_argument(
        "--decode", choices=("argmax", "dark"), help="default: the model name's decoder, else argmax"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    add_device_argument(parser)
    parser.add_argument("--amp", action="store_true", help="float16 autocast on CUDA")
    parser.add_argument(
        "--det-score-threshold",
        type=number("--det-score-threshold"),
        default=0.0,
        help="drop weaker detections",
    )
    parser.add_argument("--in-vis-threshold", type=float, default=0.2)
    parser.add_argument("--oks-threshold", type=float, default=0.9)
    parser.add_argument("--no-progress", action="store_true")
    return parser


def run_eval(argv: list[str]) -> int:
    args = eval_parser().parse_args(argv)
    if args.batch_size < 1 or args.workers < 0:
        raise UserError("--batch-size must be positive and --workers 0 or more")
    if not 0.0 <= args.in_vis_threshold <= 1.0 or not 0.0 < args.oks_threshold <= 1.0:
        raise UserError("--in-vis-threshold must lie in [0, 1] and --oks-threshold in (0, 1]")
    if args.out is not None:
        from core.atomic import check_writable

        # now, not after the whole evaluation; never over a file the evaluation reads
        check_writable(args.out, inputs=[args.coco_ann, args.detections, args.checkpoint])
    from core.model import load_checkpoint
    from trainer import distributed
    from trainer.dataset import evaluation_dataset, load_coco
    from trainer.evaluate import coco_summary, evaluate_predictions, format_metrics, predict_sharded

    coco = load_coco(args.coco_ann)
    input_size = None
    if args.input_size:
        from core.model import parse_size

        input_size = parse_size(args.input_size)
    loaded = load_checkpoint(args.checkpoint, input_size=input_size)
    model, decode = loaded.model, args.decode or loaded.decode
    dataset = evaluation_dataset(
        coco, args.images, model.config, args.coco_ann, args.detections, args.det_score_threshold
    )
    context = distributed.setup(args.device)
    try:
        model.to(context.device)
        predictions = predict_sharded(
            model,
            dataset,
            context,
            flip=args.flip,
            batch_size=args.batch_size,
            workers=args.workers,
            decode=decode,
            amp=args.amp,
            progress=context.is_main and not args.no_progress,
        )
        if predictions is None:  # not rank 0: rank 0 scores and prints
            return 0
        with tempfile.TemporaryDirectory() as scratch:
            out = args.out or Path(scratch) / "results.json"
            metrics = evaluate_predictions(
                coco, dataset.samples, predictions, out, args.in_vis_threshold, args.oks_threshold
            )
        boxes = "detections" if args.detections is not None else "ground-truth boxes"
        flip = "on" if args.flip else "off"
        skipped = f", {predictions.skipped} unreadable images skipped" if predictions.skipped else ""
        print(f"{args.checkpoint.name}: {len(dataset.samples)} people ({boxes}), flip test {flip}{skipped}")
        print(format_metrics(metrics))
        print(coco_summary(metrics))
        if args.out is not None:
            print(f"results written to {args.out}")
        return 0
    finally:
        distributed.cleanup()
