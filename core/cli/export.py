"""`run.py export`: a model to ONNX (dynamic batch axis, checked against PyTorch with onnxruntime)
or, on a CUDA machine with torch-tensorrt, to a TensorRT engine via core.runtime.tensorrt."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import check_writable
from core.cli.options import CommandParser, add_model_arguments, whole_number


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = CommandParser(prog=f"run.py {command}", description="Export a model for deployment.")
    parser.add_argument("--format", choices=("onnx", "tensorrt"), default="onnx", help="what to write")
    parser.add_argument("--out", type=Path, required=True, help="output file (.onnx or TensorRT engine)")
    add_model_arguments(parser)
    parser.set_defaults(input_size=None)  # None: the checkpoint's own size, else 192x256
    onnx = parser.add_argument_group("onnx")
    onnx.add_argument(
        "--opset",
        type=whole_number("--opset", 1),
        default=None,
        help="ONNX opset (default 17; 18 with dynamo)",
    )
    onnx.add_argument(
        "--exporter",
        choices=("torchscript", "dynamo"),
        default="torchscript",
        help="PyTorch's ONNX exporter: torchscript (fast) or dynamo (torch.export)",
    )
    onnx.add_argument("--no-check", action="store_true", help="skip the onnxruntime parity check")
    trt = parser.add_argument_group("tensorrt")
    trt.add_argument(
        "--precision",
        choices=("fp16", "fp32", "fp32-strict"),
        default="fp16",
        help="engine precision (fp32 runs TF32 on Ampere and later; fp32-strict does not)",
    )
    trt.add_argument(
        "--max-batch",
        type=whole_number("--max-batch", 1),
        default=32,
        help="largest batch the engine accepts",
    )
    return parser


def export_tensorrt(model, args: argparse.Namespace) -> None:
    from core.runtime.tensorrt import export_engine  # UserError where no engine can be built

    export_engine(model, args.out, precision=args.precision, max_batch=args.max_batch)
    print(f"wrote {args.out} (TensorRT engine)")


def main(argv: list[str], command: str = "export") -> int:
    from core.cli.info import model_from_args

    args = build_parser(command).parse_args(argv)
    check_writable(args.out, inputs=[args.checkpoint])  # before the model loads, not after the export
    if args.format == "onnx":
        from core.model.onnx_export import check_opset

        check_opset(args.opset, args.exporter)
    model, weights, _ = model_from_args(args)
    if args.checkpoint is None:
        print(f"note: exporting {weights}: its heatmaps are meaningless until trained")
    if args.format == "tensorrt":
        export_tensorrt(model, args)
        return 0
    from core.model.onnx_export import export_onnx

    cfg = model.config
    parity = export_onnx(model, args.out, opset=args.opset, exporter=args.exporter, check=not args.no_check)
    print(
        f"wrote {args.out}: HRNet-W{cfg.width} preset {cfg.preset}, input batch x 3 x {cfg.input_size[1]} x "
        f"{cfg.input_size[0]} (dynamic batch) -> heatmaps batch x {cfg.num_joints} x {cfg.heatmap_size[1]} x "
        f"{cfg.heatmap_size[0]}"
    )
    if parity is not None:
        print(parity.describe())
    return 0
