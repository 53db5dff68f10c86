"""Inference backends: the ways of running the pose model, chosen by name or by `auto`.

A backend is a callable `backend(x) -> heatmaps` taking normalised N×3×H×W float32 crops (any device)
and returning float32 N×J×H/4×W/4 heatmaps. It reports the device it runs on and the precision it
actually computes in ("tf32" where CUDA fp32 is TF32), so callers never assume one.

Where things are: the table of backends and `create_backend` in backends.py, one module per backend
(eager.py: `eager-plain` and `eager`; compile.py; onnxruntime.py; tensorrt.py), what `auto` picks
in auto.py, devices and CPU features in device.py, batch-size buckets in buckets.py. On CUDA,
person batches reach a backend padded to a few sizes (buckets.py), warmed up at start. Every backend
allocates and runs under `device_scope(device)`, so cuda:1 (or a torchrun rank's cuda:LOCAL_RANK)
never touches cuda:0, and under `cuda_math`, which sets cuDNN autotuning and TF32 for its calls and
restores the process-wide flags after.
"""

from core.runtime.auto import auto_candidates
from core.runtime.backends import (
    ALIASES,
    BACKENDS,
    available_backends,
    backend_help,
    backend_name,
    create_backend,
    precision_help,
    precision_name,
    resolve_precision,
    supported_precisions,
    unavailable_reason,
)
from core.runtime.base import CACHE_ROOT, PRECISIONS, Backend, model_input_size, weights_digest
from core.runtime.buckets import batch_buckets, bucket_for, pad_batch, run_bucketed, warm_up
from core.runtime.device import cpu_isa, cpu_name, cpu_supports_bf16, device_scope, resolve_device
from core.runtime.machine import machine_info

__all__ = [
    "ALIASES",
    "BACKENDS",
    "CACHE_ROOT",
    "PRECISIONS",
    "Backend",
    "auto_candidates",
    "available_backends",
    "backend_help",
    "backend_name",
    "batch_buckets",
    "bucket_for",
    "cpu_isa",
    "cpu_name",
    "cpu_supports_bf16",
    "create_backend",
    "device_scope",
    "machine_info",
    "model_input_size",
    "pad_batch",
    "precision_help",
    "precision_name",
    "resolve_device",
    "resolve_precision",
    "run_bucketed",
    "supported_precisions",
    "unavailable_reason",
    "warm_up",
    "weights_digest",
]
