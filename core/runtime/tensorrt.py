"""The `tensorrt` backend: a torch-tensorrt (dynamo) engine with a dynamic batch, fp16, cached on disk.

Written against torch-tensorrt 2.14's sources and NOT run in this project's CI or on its development
machines, which have no NVIDIA GPU: torch-tensorrt cannot be installed from PyPI alone (its TensorRT
libraries come from NVIDIA's index) and cannot even be imported without an NVIDIA driver. On a GPU,
`python -m core.bench.gpu_check` exercises it; here the orchestration is tested against a stand-in
torch_tensorrt module (tests/core/runtime/test_tensorrt.py).

Facts this code relies on (../shared/notes/torch-tensorrt.md, torch-tensorrt 2.14 sources):
- torch_tensorrt is imported lazily, only after torch.cuda.is_available(), inside `except Exception`
  (a missing TensorRT raises a bare Exception, an ABI mismatch an OSError).
- FP16 means half weights plus `Input(dtype=torch.half)` and half inputs: in 2.13+ the
  `enabled_precisions` argument is accepted and silently ignored (you would get an fp32 engine).
  BatchNorm is folded into the convolutions in fp64 *before* the cast (as the eager backend does),
  not left to TensorRT to fold in fp16.
- Only the batch is dynamic (min 1, opt = the usual batch, max); H and W stay static.
- `compile` puts its example inputs, and `save` its re-export, on `torch.cuda.current_device()`
  unless told otherwise (pytorch/TensorRT #2668, #2269): `device=` is passed and compile, save, load
  and every call run under `torch.cuda.device(device)`.
- `save` re-exports the graph and has open dynamic-shape bugs (#3174): a failed save keeps the
  compiled engine for this run and says so in one line. A cached engine is loaded with
  torch.export.load (torch_tensorrt.load prints a traceback before it falls back to TorchScript) and
  run once at batch 1 before it is trusted, so a stale engine is rebuilt, and an engine that cannot
  run at all fails while `auto` can still fall back to eager.
- Engines are tied to the exact TensorRT that built them (the wheel accepts a range of TensorRT
  releases, so torch_tensorrt's build-time version string is not it): the cache key holds
  `tensorrt.__version__`, the GPU, the weights, the attention positions, the input size, the
  precision and the batch range. Files are `.pt2` (torch 2.14 warns on any other suffix).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.atomic import atomic_path
from core.errors import UserError, one_line
from core.runtime.base import CACHE_ROOT, Backend, weights_digest
from core.runtime.device import device_scope
from core.runtime.folding import fold_for_inference

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(os.environ.get("POSE_TRT_CACHE", CACHE_ROOT / "trt"))
DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def import_torch_tensorrt():
    """torch_tensorrt, or an exception saying why not. Never call before checking for CUDA."""
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available")
    import torch_tensorrt  # lazy by design: importing it without a GPU fails

    return torch_tensorrt


def unavailable_reason(device: torch.device) -> str | None:
    if device.type != "cuda":
        return "TensorRT needs a CUDA device"
    if not torch.cuda.is_available():
        return "CUDA is not available"
    try:
        import_torch_tensorrt()
    except Exception as error:  # ImportError, bare Exception (no TensorRT), OSError (ABI mismatch)
        return f"torch_tensorrt cannot be imported ({one_line(error)})"
    return None


@dataclass(frozen=True)
class TrtEnvironment:
    """What an engine is tied to besides the model: TensorRT, torch-tensorrt and the GPU."""

    tensorrt_version: str
    torch_tensorrt_version: str
    gpu_name: str

    @classmethod
    def current(cls, device: torch.device) -> TrtEnvironment:
        torch_tensorrt = import_torch_tensorrt()
        return cls(
            tensorrt_version(torch_tensorrt),
            str(torch_tensorrt.__version__),
            torch.cuda.get_device_name(device),
        )


def tensorrt_version(torch_tensorrt) -> str:
    """The TensorRT actually installed (`tensorrt.__version__`), which is what an engine is tied to;
    torch_tensorrt's `__tensorrt_version__` is only the release it was built against."""
    try:
        return str(importlib.import_module("tensorrt").__version__)
    except Exception:  # torch_tensorrt imported, so this is unexpected; keep the key honest about it
        built = getattr(getattr(torch_tensorrt, "_version", None), "__tensorrt_version__", "?")
        return f"unknown (torch_tensorrt built for {built})"


def cache_key(
    weights_sha256: str,
    positions: tuple[tuple[int, int], ...],
    input_size: tuple[int, int],
    precision: str,
    batch_range: tuple[int, int, int],
    environment: TrtEnvironment,
) -> str:
    """sha256 naming a cached engine: any change of model, shapes, precision or environment rebuilds it.

    Pure: it reads no GPU, so it is tested on any machine. The weights digest covers width and joints
    (they change the tensor shapes); positions are the attention configuration (the preset name is
    only a label for them).
    """
    fields = {
        "weights": weights_sha256,
        "positions": [list(p) for p in positions],
        "input_size": list(input_size),
        "precision": precision,
        "batch_range": list(batch_range),
        "tensorrt": environment.tensorrt_version,
        "torch_tensorrt": environment.torch_tensorrt_version,
        "gpu": environment.gpu_name,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def batch_range_for(max_batch: int) -> tuple[int, int, int]:
    """(min, opt, max) batch sizes of the engine: TensorRT tunes kernels for `opt`."""
    max_batch = max(1, int(max_batch))
    return 1, max_batch, max_batch


def _input_spec(
    torch_tensorrt, input_size: tuple[int, int], precision: str, batch_range: tuple[int, int, int]
):
    w, h = input_size
    low, opt, high = batch_range
    return torch_tensorrt.Input(
        min_shape=(low, 3, h, w),
        opt_shape=(opt, 3, h, w),
        max_shape=(high, 3, h, w),
        dtype=DTYPES[precision],
        name="x",
    )


def compile_engine(
    model: nn.Module,
    device: torch.device,
    input_size: tuple[int, int],
    precision: str,
    batch_range: tuple[int, int, int],
):
    """(compiled GraphModule, its Input spec): AOT dynamo compile on `device`; BatchNorm folded in
    fp64 first, then fp16 through half weights and inputs."""
    torch_tensorrt = import_torch_tensorrt()
    module = fold_for_inference(model, input_size)
    spec = _input_spec(torch_tensorrt, input_size, precision, batch_range)
    with device_scope(device):
        module = module.to(device).to(DTYPES[precision])
        compiled = torch_tensorrt.compile(
            module,
            ir="dynamo",
            arg_inputs=[spec],
            device=device,
            min_block_size=1,
            optimization_level=3,
            truncate_double=True,
        )
    return compiled, spec


def save_engine(compiled, spec, path: Path, device: torch.device) -> Path:
    """torch_tensorrt.save as an ExportedProgram (.pt2), written atomically (a half engine never loads)."""
    torch_tensorrt = import_torch_tensorrt()
    with device_scope(device), atomic_path(path, suffix=".pt2") as temp:
        torch_tensorrt.save(
            compiled, str(temp), output_format="exported_program", arg_inputs=[spec], retrace=True
        )
    return path


def load_engine(path: Path, device: torch.device):
    """The callable module of a saved engine, without recompiling.

    torch.export.load rather than torch_tensorrt.load: the latter prints a traceback whenever the
    file is not an ExportedProgram it can read, before trying TorchScript; torch.export's own logged
    traceback is held back too, the caller reports the failure in one line. Importing torch_tensorrt
    registers the engine ops the program calls (its Python runtime's too, where the C++ one is absent).
    """
    torch_tensorrt = import_torch_tensorrt()
    features = getattr(torch_tensorrt, "ENABLED_FEATURES", None)
    if features is not None and not getattr(features, "torch_tensorrt_runtime", True):
        importlib.import_module("torch_tensorrt.dynamo.runtime._TRTEngine")
    with device_scope(device), _quiet("torch.export"):  # it logs a traceback before raising; we say one line
        return torch.export.load(str(path)).module()


@contextlib.contextmanager
def _quiet(logger_name: str):
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def export_engine(
    model: nn.Module,
    out: str | Path,
    precision: str = "fp16",
    max_batch: int = 32,
    input_size: tuple[int, int] | None = None,
    device: str | torch.device = "cuda",
) -> Path:
    """Compile `model` to a TensorRT engine and save it at `out` (`run.py export --format tensorrt`).

    Load it with `torch.export.load(out).module()` after `import torch_tensorrt`; it takes N×3×H×W
    inputs in `precision`'s dtype for 1 <= N <= max_batch. UserError when this machine cannot build
    engines or the engine cannot be saved.
    """
    device = torch.device(device)
    reason = unavailable_reason(device)
    if reason:
        raise UserError(f"cannot export a TensorRT engine here: {reason}")
    if precision not in DTYPES:
        raise UserError(f"TensorRT precision must be fp16 or fp32, got {precision!r}")
    size = tuple(input_size or model.config.input_size)
    compiled, spec = compile_engine(model, device, size, precision, batch_range_for(max_batch))
    try:
        return save_engine(compiled, spec, Path(out), device)
    except Exception as error:
        raise UserError(f"the TensorRT engine was built but could not be saved: {one_line(error)}") from error


class TensorRTBackend(Backend):
    """Loads the engine for (model, shapes, precision, GPU, versions) from the cache, else builds it."""

    name = "tensorrt"

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        precision: str,
        input_size: tuple[int, int],
        max_batch: int = 32,
        cache_dir: str | Path | None = None,
    ):
        super().__init__(device, precision)
        self.batch_range = batch_range_for(max_batch)
        self.input_dtype = DTYPES[precision]
        config = getattr(model, "config", None)
        key = cache_key(
            weights_digest(model),
            tuple(config.positions) if config is not None else (),
            input_size,
            precision,
            self.batch_range,
            TrtEnvironment.current(device),
        )
        root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
        self.path = root / f"pose-{input_size[0]}x{input_size[1]}-{precision}-{key[:24]}.pt2"
        self.input_size = tuple(input_size)
        self.module = self._load_cached() if self.path.is_file() else None
        if self.module is None:
            log.warning("building a TensorRT engine (a few minutes, once); cache: %s", self.path)
            compiled, spec = compile_engine(model, device, input_size, precision, self.batch_range)
            self._probe(compiled)  # an engine that cannot run fails here, where `auto` can fall back
            self.module = compiled  # kept whatever happens to the save
            try:
                save_engine(compiled, spec, self.path, device)
            except Exception as error:  # torch_tensorrt.save's re-export (#3174): this run still has it
                log.warning(
                    "TensorRT engine not cached (save failed: %s); it is rebuilt next start", one_line(error)
                )

    def _load_cached(self):
        """The cached engine after one batch-1 call, or None (one warning line) when it cannot run."""
        try:
            module = load_engine(self.path, self.device)
            self._probe(module)
            return module
        except Exception as error:  # stale (other TensorRT/GPU), truncated, or not an engine at all
            log.warning("TensorRT cache %s unusable (%s); rebuilding", self.path, one_line(error))
            with contextlib.suppress(OSError):
                self.path.unlink()
            return None

    def _probe(self, module) -> None:
        w, h = self.input_size
        with torch.inference_mode(), device_scope(self.device):
            out = module(torch.zeros(1, 3, h, w, device=self.device, dtype=self.input_dtype))
            if not torch.isfinite(out).all():
                raise RuntimeError("a batch-1 call returned non-finite heatmaps")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.batch_range[2]:
            return torch.cat([self(part) for part in x.split(self.batch_range[2])])
        with torch.inference_mode(), device_scope(self.device):
            out = self.module(x.to(self.device, self.input_dtype, non_blocking=True).contiguous())
        return out.float()
