"""The `tensorrt` backend: torch-tensorrt (dynamo) engines with a dynamic batch, fp16, cached on disk.

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
- Only the batch is dynamic; H and W stay static. The dynamo path takes one (min, opt, max) profile
  per input and TensorRT picks its kernels for `opt`, so one engine tuned for batch 32 runs batch 1
  with tactics chosen for 32: the backend builds one engine per batch range instead
  (`batch_profiles`: 1-8 tuned for 4, 9-32 tuned for 16) and sends each batch to its range's engine.
- On Ampere and later TensorRT runs fp32 layers in TF32 unless `disable_tf32=True`: precision
  "fp32" is reported as "tf32", "fp32-strict" passes `disable_tf32=True`.
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
  precision and the batch range. Files are `.pt2` (torch 2.14 warns on any other suffix). The cache
  is capped (`POSE_TRT_CACHE_MB`, default 2048): after a new engine is saved the least recently used
  ones are deleted until it fits (a cache hit refreshes a file's time).
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
from core.runtime.base import CACHE_ROOT, Backend, BuildOptions, model_input_size, weights_digest
from core.runtime.device import device_scope
from core.runtime.folding import fold_for_inference

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(os.environ.get("POSE_TRT_CACHE", CACHE_ROOT / "trt"))
CACHE_LIMIT_BYTES = int(float(os.environ.get("POSE_TRT_CACHE_MB", "2048")) * 2**20)
DTYPES = {"fp16": torch.float16, "fp32": torch.float32, "fp32-strict": torch.float32}
SMALL_BATCHES = 8  # the first engine serves 1..8 people (the usual frame), the second the rest


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


def _tuned_for(low: int, high: int) -> int:
    """The batch TensorRT tunes a range's kernels for: the largest power of two <= high / 2 (a
    middle bucket, so both ends run near-optimal tactics), or `high` when that is below `low`."""
    opt = 1
    while opt * 2 <= high // 2:
        opt *= 2
    return opt if opt >= low else high


def batch_range_for(max_batch: int) -> tuple[int, int, int]:
    """(min, opt, max) of one engine serving 1..max_batch (`run.py export`): tuned for a middle
    batch, not the largest."""
    max_batch = max(1, int(max_batch))
    return 1, _tuned_for(1, max_batch), max_batch


def batch_profiles(max_batch: int) -> tuple[tuple[int, int, int], ...]:
    """(min, opt, max) of each engine the backend builds: 1..8 and 9..max_batch, each tuned for a
    batch inside its range, so the common small batches run kernels chosen for small batches."""
    max_batch = max(1, int(max_batch))
    if max_batch <= SMALL_BATCHES:
        return (batch_range_for(max_batch),)
    low = SMALL_BATCHES + 1
    return (batch_range_for(SMALL_BATCHES), (low, _tuned_for(low, max_batch), max_batch))


def evict_oldest(root: Path, limit_bytes: int, keep: tuple[Path, ...] = ()) -> list[Path]:
    """Delete the least recently used engines in `root` until the rest fit in `limit_bytes`; the
    engines in `keep` (those of the running backend) stay whatever their size. Returns the deleted."""
    engines = sorted(root.glob("*.pt2"), key=lambda path: path.stat().st_mtime)
    total = sum(path.stat().st_size for path in engines)
    deleted = []
    for path in engines:
        if total <= limit_bytes:
            break
        if path in keep:
            continue
        size = path.stat().st_size
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            deleted.append(path)
    return deleted


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
    fp64 first, then fp16 through half weights and inputs; TF32 off for "fp32-strict"."""
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
            disable_tf32=precision == "fp32-strict",
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
        raise UserError(f"TensorRT precision must be one of {', '.join(DTYPES)}, got {precision!r}")
    size = tuple(input_size or model.config.input_size)
    compiled, spec = compile_engine(model, device, size, precision, batch_range_for(max_batch))
    try:
        return save_engine(compiled, spec, Path(out), device)
    except Exception as error:
        raise UserError(f"the TensorRT engine was built but could not be saved: {one_line(error)}") from error


class TensorRTBackend(Backend):
    """One engine per batch range (batch_profiles) for (model, shapes, precision, GPU, versions),
    each loaded from the cache, else built and saved."""

    name = "tensorrt"
    summary = "torch-tensorrt engines (dynamo), fp16, dynamic batch, cached on disk; NVIDIA GPUs only"
    unavailable_reason = staticmethod(unavailable_reason)

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
        self.profiles = batch_profiles(max_batch)
        self.max_batch = self.profiles[-1][2]
        self.input_dtype = DTYPES[precision]
        self.input_size = tuple(input_size)
        config = getattr(model, "config", None)
        positions = tuple(config.positions) if config is not None else ()
        digest, environment = weights_digest(model), TrtEnvironment.current(device)
        root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
        self.paths = []
        for batch_range in self.profiles:
            key = cache_key(digest, positions, input_size, precision, batch_range, environment)
            low, _, high = batch_range
            name = f"pose-{input_size[0]}x{input_size[1]}-{precision}-b{low}-{high}-{key[:24]}.pt2"
            self.paths.append(root / name)
        self.engines = [
            self._engine(model, precision, batch_range, path)
            for batch_range, path in zip(self.profiles, self.paths, strict=True)
        ]
        deleted = evict_oldest(root, CACHE_LIMIT_BYTES, keep=tuple(self.paths)) if root.is_dir() else []
        if deleted:
            log.info(
                "TensorRT cache over %d MB: deleted %d oldest engine(s)",
                CACHE_LIMIT_BYTES >> 20,
                len(deleted),
            )

    @property
    def path(self) -> Path:
        """The engine file of the first (small-batch) range."""
        return self.paths[0]

    @classmethod
    def precisions(cls, device: torch.device) -> tuple[str, ...]:
        return ("fp16", "fp32", "fp32-strict")

    @classmethod
    def create(cls, model: nn.Module, device: torch.device, precision: str, options: BuildOptions) -> Backend:
        size = model_input_size(model, options.input_size)
        return cls(model, device, precision, size, options.max_batch, options.cache_dir)

    def _engine(self, model: nn.Module, precision: str, batch_range: tuple[int, int, int], path: Path):
        """The cached engine for one batch range (its file's time refreshed), else a new one."""
        module = self._load_cached(path, batch_range[0]) if path.is_file() else None
        if module is not None:
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: the last to be evicted
            return module
        low, _, high = batch_range
        log.warning(
            "building a TensorRT engine for batches %d-%d (a few minutes, once); cache: %s", low, high, path
        )
        compiled, spec = compile_engine(model, self.device, self.input_size, precision, batch_range)
        self._probe(compiled, low)  # an engine that cannot run fails here, where `auto` can fall back
        try:
            save_engine(compiled, spec, path, self.device)
        except Exception as error:  # torch_tensorrt.save's re-export (#3174): this run still has it
            log.warning(
                "TensorRT engine not cached (save failed: %s); it is rebuilt next start", one_line(error)
            )
        return compiled

    def _load_cached(self, path: Path, batch: int):
        """The cached engine after one call at its smallest batch, or None (one warning line) when it
        cannot run."""
        try:
            module = load_engine(path, self.device)
            self._probe(module, batch)
            return module
        except Exception as error:  # stale (other TensorRT/GPU), truncated, or not an engine at all
            log.warning("TensorRT cache %s unusable (%s); rebuilding", path, one_line(error))
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def _probe(self, module, batch: int = 1) -> None:
        w, h = self.input_size
        with torch.inference_mode(), device_scope(self.device):
            out = module(torch.zeros(batch, 3, h, w, device=self.device, dtype=self.input_dtype))
            if not torch.isfinite(out).all():
                raise RuntimeError(f"a batch-{batch} call returned non-finite heatmaps")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        count = x.shape[0]
        if count > self.max_batch:
            return torch.cat([self(part) for part in x.split(self.max_batch)])
        engine = next(e for (_, _, high), e in zip(self.profiles, self.engines, strict=True) if count <= high)
        with torch.inference_mode(), device_scope(self.device):
            out = engine(x.to(self.device, self.input_dtype, non_blocking=True).contiguous())
        return out.float()
