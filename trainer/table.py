"""The paper's Table I in one command: fine-tune every row, then one table of AP beside the paper's.

    python run.py table1 --out runs/table1 --init pose_hrnet_w32_256x192.pth \\
        --coco-ann coco/annotations/person_keypoints_train2017.json --images coco/train2017 \\
        --val-ann coco/annotations/person_keypoints_val2017.json --val-images coco/val2017 \\
        [--detections COCO_val2017_detections_AP_H_56_person.json] [--presets paper,sub1] \\
        [--launcher "torchrun --nproc-per-node 8"] [--set solver.epochs=20 ...]

Each row trains `assets/configs/table1/<preset>.toml` into OUT/<preset>; every option this command
does not know is passed to `run.py train` for every row. Rows run one after another: in this process,
or each as one `LAUNCHER run.py train ...` job (torchrun, one or several nodes). Every row's options
are checked before the first row trains. A row whose latest.pt has all its epochs is not trained
again, one with fewer is resumed, so rerunning the command after an interruption continues it;
`--collect-only` only gathers. OUT/table1.md and OUT/table1.json hold, per row, the measured AP
(best validation epoch, all of pycocotools' Table II numbers), the AP before fine-tuning, our
parameters and FLOPs (measured, at the trained input size) and the paper's #Params and AP, in the
layout of `run.py bench`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from core.atomic import write_text_atomic
from core.cli.entry import script
from core.cli.options import CommandParser
from core.errors import UserError
from core.model import (
    PRESETS,
    ModelSize,
    build_model,
    paper_row,
    read_checkpoint_file,
    resolve_positions,
)
from core.runtime import machine_info
from trainer.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "assets" / "configs" / "table1"
TABLE_I = tuple(PRESETS)  # baseline, sub1 … sub1234, stage1 … stage123, paper: Table I's rows
METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR")


@dataclass
class TableRow(ModelSize):
    input_size: str
    epochs: int  # trained so far
    best_epoch: int | None
    start_ap: float | None  # before fine-tuning (eval.before_training)
    AP: float | None
    AP50: float | None
    AP75: float | None
    APM: float | None
    APL: float | None
    AR: float | None
    paper_params_m: float | None
    paper_ap: float | None


def parser(prog: str = "run.py table1") -> argparse.ArgumentParser:
    result = CommandParser(
        prog=prog,
        description="Fine-tune every Table I preset and collect AP beside the paper's numbers.",
        epilog="Options not listed here (--coco-ann, --init, --set ...) go to `run.py train` for every row.",
    )
    result.add_argument(
        "--out", type=Path, default=Path("runs/table1"), help="one folder per row, and the table"
    )
    result.add_argument("--presets", default="all", help="comma list of Table I presets (default: all nine)")
    result.add_argument("--configs", type=Path, default=CONFIGS, help="folder of <preset>.toml recipes")
    result.add_argument(
        "--launcher",
        help='run each row as a job, e.g. "torchrun --nproc-per-node 8" (default: in this process)',
    )
    result.add_argument("--collect-only", action="store_true", help="train nothing; gather what OUT holds")
    return result


def main(argv: list[str], command: str = "table1") -> int:
    """`run.py table1` (also `python -m trainer.table`)."""
    args, train_args = parser(f"run.py {command}").parse_known_args(argv)
    if args.launcher is not None:
        _launcher(args.launcher)  # a missing program is one line now, not after the first row
    presets = _presets(args.presets)
    plans = [_plan(args, preset, train_args) for preset in presets]  # every row checked before any trains
    if not args.collect_only:
        for preset, row_args, config in plans:
            _train_row(args, preset, row_args, config)
    rows = [_collect(preset, config, Path(config.run.out_dir)) for preset, _, config in plans]
    info = machine_info(_device())
    markdown = markdown_table(rows, info)
    write_text_atomic(args.out / "table1.md", markdown)
    write_text_atomic(
        args.out / "table1.json", json.dumps([{**asdict(r), **info} for r in rows], indent=2) + "\n"
    )
    print(markdown, end="")
    print(f"written: {args.out / 'table1.md'}, {args.out / 'table1.json'}")
    return 0


def _launcher(text: str) -> list[str]:
    """--launcher as a command line whose program exists: a typo is one line before any row trains,
    not a traceback after the first."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise UserError(f"--launcher {text!r}: {error}") from None
    if not words:
        raise UserError('--launcher is empty: give a command such as "torchrun --nproc-per-node 8"')
    if shutil.which(words[0]) is None:
        raise UserError(f"--launcher: program {words[0]!r} not found (is it installed and on PATH?)")
    return words


def _presets(text: str) -> list[str]:
    if not text.strip():
        raise UserError("--presets is empty: give 'all' or a comma list of Table I presets")
    if text.strip().lower() == "all":
        return list(TABLE_I)
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TABLE_I]
    if unknown:
        raise UserError(f"--presets: {', '.join(unknown)} not in Table I; choose from {', '.join(TABLE_I)}")
    return list(dict.fromkeys(names))


def _plan(args: argparse.Namespace, preset: str, train_args: list[str]) -> tuple[str, list[str], TrainConfig]:
    """The `run.py train` arguments of one row and the recipe they resolve to (checked now)."""
    from trainer.commands import config_from_args, train_parser

    recipe = args.configs / f"{preset}.toml"
    if not recipe.is_file():
        raise UserError(f"no recipe for Table I row {preset}: {recipe} not found")
    row_args = ["--config", str(recipe), *train_args, "--out", str(args.out / preset)]
    try:
        config = config_from_args(train_parser().parse_args(row_args))
    except UserError as error:
        raise UserError(f"row {preset}: {error}") from None
    if config.model.preset != preset:
        raise UserError(f"row {preset}: {recipe} trains model.preset {config.model.preset!r}")
    return preset, row_args, config


def _trained_epochs(out_dir: Path) -> int:
    latest = out_dir / "latest.pt"
    return int(read_checkpoint_file(latest)["meta"]["epoch"]) if latest.is_file() else 0


def _train_row(args: argparse.Namespace, preset: str, row_args: list[str], config: TrainConfig) -> None:
    out_dir = Path(config.run.out_dir)
    done = _trained_epochs(out_dir)
    if done >= config.solver.epochs:
        print(f"row {preset}: {done} epochs already in {out_dir}; not trained again", flush=True)
        return
    resume = ["--resume", str(out_dir / "latest.pt")] if done else []
    print(
        f"row {preset}: training into {out_dir}" + (f", resuming after epoch {done}" if done else ""),
        flush=True,
    )
    if args.launcher is None:
        from trainer.commands import run_train

        run_train([*row_args, *resume])
        return
    command = [*_launcher(args.launcher), str(ROOT / "run.py"), "train", *row_args, *resume]
    code = subprocess.run(command, check=False).returncode
    if code != 0:
        raise UserError(f"row {preset}: `{shlex.join(command)}` exited with status {code}")


def _collect(preset: str, config: TrainConfig, out_dir: Path) -> TableRow:
    """One row: the best validated epoch of OUT/<preset>/latest.pt, measured size, the paper's numbers."""
    m = config.model
    model = build_model(width=m.width, preset=preset, input_size=m.input_size, num_joints=m.num_joints)
    paper = paper_row(resolve_positions(preset), m.width)
    history = []
    if (out_dir / "latest.pt").is_file():
        history = read_checkpoint_file(out_dir / "latest.pt")["meta"].get("history", [])
    validated = [r for r in history if "AP" in r and r["epoch"] > 0]
    best = max(validated, key=lambda r: r["AP"]) if validated else {}
    start = next((r["AP"] for r in history if r["epoch"] == 0 and "AP" in r), None)
    return TableRow(
        **asdict(ModelSize.measure(model, m.width, preset, m.input_size)),
        input_size=f"{m.input_size[0]}x{m.input_size[1]}",
        epochs=max((int(r["epoch"]) for r in history), default=0),
        best_epoch=int(best["epoch"]) if best else None,
        start_ap=None if start is None else round(100 * start, 1),
        **{name: round(100 * best[name], 1) if best else None for name in METRICS},
        paper_params_m=paper.params_millions if paper else None,
        paper_ap=paper.ap if paper else None,
    )


def _fmt(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown_table(rows: list[TableRow], info: dict) -> str:
    """The table in `run.py bench`'s layout: machine header, measured columns, the paper's last."""
    header = ["width", "preset", "attention positions", "params (M)", "FLOPs (G)", "epochs", "best epoch"]
    header += ["start AP", *METRICS, "paper #Params (M)", "paper AP"]
    lines = [
        "# Table I reproduction (fine-tuned from the baseline)",
        "",
        f"- machine: {info['machine']}, CPU: {info['cpu']}, GPU: {info['gpu'] or 'none'}, "
        f"device: {info['device']}",
        f"- threads: {info['threads']}, torch {info['torch']}, {info['date']}",
        "- AP columns: COCO val AP (%) of the best validated epoch (pycocotools); start AP: the weights "
        "before fine-tuning",
        f"- params and FLOPs are measured on our model at {rows[0].input_size if rows else '—'} (FLOPs: "
        "PyTorch's counter, 2 per multiply-add); the last two columns are the paper's numbers, not ours",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 3 else "--:" for i in range(len(header))) + "|",
    ]
    for r in rows:
        cells = [f"W{r.width}", r.preset, r.positions, f"{r.params_m:.2f}", f"{r.flops_g:.2f}", str(r.epochs)]
        cells += [str(r.best_epoch or "—"), _fmt(r.start_ap), *(_fmt(getattr(r, name)) for name in METRICS)]
        cells += [_fmt(r.paper_params_m), _fmt(r.paper_ap)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


if __name__ == "__main__":
    script(main)
