"""`run.py convert`: an official HRNet or mmpose checkpoint -> our format, with an attention preset's
modules added at their identity init (the converted model's heatmaps equal the baseline's)."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import check_writable
from core.cli.options import CommandParser
from core.model import parse_size


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"run.py {command}",
        description="Write an official HRNet pose or mmpose top-down HRNet checkpoint in our format, "
        "which carries the model config (width, preset, input size, joints).",
    )
    parser.add_argument(
        "--from", dest="source_format", required=True, choices=("official", "mmpose"), help="input format"
    )
    parser.add_argument("input", type=Path, help="the checkpoint to convert (.pth)")
    parser.add_argument("--preset", default="baseline", help="attention preset or positions like 1.1,2.1")
    parser.add_argument("--out", type=Path, required=True, help="where to write our checkpoint (.pt)")
    parser.add_argument(
        "--input-size", default="192x256", help="crop width x height the weights were trained at"
    )
    return parser


def main(argv: list[str], command: str = "convert") -> int:
    from core.model import attention_parameters, convert_checkpoint, count_parameters

    args = build_parser(command).parse_args(argv)
    size = parse_size(args.input_size)
    check_writable(args.out, inputs=[args.input])
    model = convert_checkpoint(args.input, args.source_format, args.preset, args.out, size)
    cfg = model.config
    print(
        f"wrote {args.out}: HRNet-W{cfg.width}, preset {cfg.preset} ({len(cfg.positions)} attention "
        f"modules at identity init, {attention_parameters(model):,} parameters), "
        f"{count_parameters(model):,} parameters in all, input {cfg.input_size[0]}x{cfg.input_size[1]}, "
        f"{cfg.num_joints} joints; converted from {args.source_format} {args.input}"
    )
    return 0
