"""ONNX export with a dynamic batch axis, checked against PyTorch by onnxruntime right away.

The default exporter is PyTorch's TorchScript-based one (opset 17): for this plain conv net it is
exact and takes about a second, where the torch.export-based ("dynamo") exporter takes 15-20 s on
two CPU cores; `exporter="dynamo"` (opset ≥ 18) is there for when the legacy path goes away.
Height and width stay fixed at the model's input size; only the batch axis is dynamic.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.atomic import atomic_path
from core.errors import UserError, one_line

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"
PARITY_TOLERANCE = 1e-4
# Opsets each exporter can write this model in: HRNet's nearest upsampling needs opset 9 (the
# TorchScript exporter fails on 7-8 and stops at 20); the dynamo exporter starts at 18.
MIN_OPSET = {"torchscript": 9, "dynamo": 18}


def opset_range(exporter: str) -> tuple[int, int]:
    from torch.onnx import _constants

    top = "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET" if exporter == "torchscript" else "ONNX_MAX_OPSET"
    return MIN_OPSET[exporter], int(getattr(_constants, top, _constants.ONNX_MAX_OPSET))


def check_opset(opset: int | None, exporter: str) -> None:
    """UserError for an exporter this module does not know or an opset it cannot write (before any work)."""
    if exporter not in MIN_OPSET:
        raise UserError(f"unknown ONNX exporter {exporter!r}; choose torchscript or dynamo")
    low, high = opset_range(exporter)
    if opset is not None and not low <= opset <= high:
        raise UserError(f"--opset {opset}: the {exporter} exporter writes opsets {low} to {high}")


@dataclass(frozen=True)
class Parity:
    """Largest |onnx - torch| and that divided by the largest |torch| output, over one batch."""

    max_abs: float
    max_rel: float
    batch: int

    def describe(self) -> str:
        return (
            f"onnxruntime vs PyTorch on a batch of {self.batch}: "
            f"max abs error {self.max_abs:.3g}, max rel error {self.max_rel:.3g}"
        )


@contextmanager
def _evaluating(model: nn.Module):
    """The model in eval mode for the duration (BN statistics, no copies), its mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield next(model.parameters()).device
    finally:
        model.train(was_training)


def check_parity(model: nn.Module, onnx_path: str | os.PathLike, batch: int = 2, seed: int = 0) -> Parity:
    """Run the same random batch through PyTorch and onnxruntime (CPU)."""
    import onnxruntime as ort

    w, h = model.config.input_size
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    with _evaluating(model) as device, torch.no_grad():
        want = model(x.to(device)).float().cpu().numpy()
    if got.shape != want.shape:
        raise UserError(f"ONNX model gives shape {got.shape}, PyTorch {want.shape}")
    max_abs = float(np.abs(got.astype(np.float64) - want).max())
    scale = float(np.abs(want).max())
    return Parity(max_abs=max_abs, max_rel=max_abs / scale if scale > 0 else max_abs, batch=batch)


def export_onnx(
    model: nn.Module,
    out: str | os.PathLike,
    opset: int | None = None,
    exporter: str = "torchscript",
    check: bool = True,
    tolerance: float = PARITY_TOLERANCE,
) -> Parity | None:
    """Write `out` atomically; with `check`, refuse to write a model that disagrees with PyTorch."""
    check_opset(opset, exporter)
    w, h = model.config.input_size
    with atomic_path(out, suffix=".onnx") as tmp:
        with _evaluating(model) as device:
            try:
                _export(model, torch.zeros(1, 3, h, w, device=device), tmp, opset, exporter)
            except (RuntimeError, torch.onnx.errors.OnnxExporterError) as error:
                raise UserError(f"ONNX export failed: {one_line(error)}") from None
        parity = check_parity(model, tmp) if check else None
        if parity is not None and not parity.max_rel <= tolerance:
            raise UserError(f"ONNX export disagrees with PyTorch ({parity.describe()}); nothing written")
    return parity


def _export(model: nn.Module, example: torch.Tensor, path: Path, opset: int | None, exporter: str) -> None:
    if exporter == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset or 17,
                dynamo=False,
            )
    else:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            opset_version=opset or 18,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
