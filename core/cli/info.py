"""`run.py info`: attention positions, parameters and FLOPs of a preset or a checkpoint, beside the
paper's numbers for the same row (quoted from the paper, labelled as such, never as measured)."""

from __future__ import annotations

import argparse
import json

import torch

from core.cli.options import CommandParser, add_model_arguments, names_no_checkpoint
from core.model import (
    ALL_POSITIONS,
    DEFAULT_INPUT_SIZE,
    PRESETS,
    PoseHRNet,
    attention_flops,
    attention_parameters,
    build_model,
    count_flops,
    count_parameters,
    format_positions,
    paper_row,
    parse_size,
)

SOURCE_NAMES = {"ours": "our format", "official": "official HRNet state dict", "mmpose": "mmpose checkpoint"}
MACS_NOTE = "HRNet's published 7.1 GFLOPs (W32, 256x192) count multiply-adds"


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"run.py {command}",
        description="Attention positions, parameters (total and attention-only), FLOPs, and the "
        "paper's #Params/AP for the same preset and width.",
    )
    add_model_arguments(parser)
    parser.set_defaults(input_size=None)  # None: the checkpoint's own size, else 192x256
    parser.add_argument("--all", action="store_true", help="table of all nine presets at W32 and W48")
    return parser


def model_from_args(args: argparse.Namespace, device: str | None = None) -> tuple[PoseHRNet, str, dict]:
    """(model, where its weights come from, the checkpoint's meta). Without --checkpoint the model is
    untrained (meta {}); `device` "meta" builds it without allocating weights (enough for counting)."""
    from core.model import load_checkpoint

    if names_no_checkpoint(args.checkpoint):
        args.checkpoint = None
    size = parse_size(args.input_size) if args.input_size else None
    if args.checkpoint is not None:
        loaded = load_checkpoint(args.checkpoint, input_size=size)
        return loaded.model, f"{loaded.path} ({SOURCE_NAMES[loaded.source_format]})", loaded.meta
    with torch.device(device or "cpu"):
        model = build_model(width=args.width, preset=args.preset, input_size=size or DEFAULT_INPUT_SIZE)
    return model, "untrained (no checkpoint)", {}


def describe(model: PoseHRNet, weights: str, input_size: tuple[int, int], meta: dict | None = None) -> str:
    cfg = model.config
    flops = count_flops(model, input_size)
    total, attention = count_parameters(model), attention_parameters(model)
    w, h = input_size
    positions = format_positions(cfg.positions).replace(",", " ") or "none"
    paper = paper_row(cfg.positions, cfg.width)
    lines = [
        f"model       HRNet-W{cfg.width}, preset {cfg.preset} ({len(cfg.positions)} attention modules)",
        f"positions   {positions}  (stage.branch: branch b right after transition s, entering stage s+1)",
        f"input       {cfg.input_size[0]}x{cfg.input_size[1]} (w x h) -> heatmaps "
        f"{cfg.heatmap_size[0]}x{cfg.heatmap_size[1]}, {cfg.num_joints} joints",
        f"parameters  {total:,} total, {attention:,} in attention modules (measured)",
        f"FLOPs       {flops / 1e9:.2f} G at {w}x{h} = {flops / 2e9:.2f} G multiply-adds ({MACS_NOTE})",
        f"paper       {paper.describe() + ' - quoted, not measured' if paper else 'no row for this preset'}",
        f"weights     {weights}",
    ]
    if meta:
        lines.append(f"meta        {json.dumps(meta, default=str)[:300]}")
    return "\n".join(lines)


def table(input_size: tuple[int, int]) -> str:
    """Every preset at W32 and W48. Models are built on the meta device (shapes only); FLOPs are the
    baseline's plus each attention module's, counted separately (equal to counting the whole model)."""
    w, h = input_size
    header = (
        f"{'width':<6}{'preset':<10}{'AMs':>4}  {'positions':<36}{'params':>12}{'attention':>10}"
        f"{'GFLOPs':>8}{'GMACs':>7}{'AM MFLOPs':>10}  {'paper #Params':>13}{'paper AP':>9}"
    )
    lines = [f"measured at {w}x{h} (w x h); the paper columns are quoted from its Tables I/II", header]
    for width in (32, 48):
        with torch.device("meta"):
            baseline_flops = count_flops(build_model(width=width, input_size=input_size), input_size)
        per_position = {p: attention_flops(width, [p], input_size) for p in ALL_POSITIONS}
        for name in PRESETS:
            with torch.device("meta"):
                model = build_model(width=width, preset=name, input_size=input_size)
            positions = model.config.positions
            extra = sum(per_position[p] for p in positions)
            flops = baseline_flops + extra
            paper = paper_row(positions, width)
            paper_params = f"{paper.params_millions:.1f}M" if paper else "-"
            paper_ap = f"{paper.ap:.1f}" if paper else "-"
            lines.append(
                f"W{width:<5}{name:<10}{len(positions):>4}  {format_positions(positions) or '-':<36}"
                f"{count_parameters(model):>12,}{attention_parameters(model):>10,}"
                f"{flops / 1e9:>8.2f}{flops / 2e9:>7.2f}{extra / 1e6:>10.2f}  {paper_params:>13}{paper_ap:>9}"
            )
    lines.append(f"GMACs = multiply-adds; {MACS_NOTE}.")
    return "\n".join(lines)


def main(argv: list[str], command: str = "info") -> int:
    args = build_parser(command).parse_args(argv)
    if args.all:
        print(table(parse_size(args.input_size)))
        return 0
    model, weights, meta = model_from_args(args, device="meta")
    size = parse_size(args.input_size) if args.input_size else model.config.input_size
    print(describe(model, weights, size, meta))
    return 0
