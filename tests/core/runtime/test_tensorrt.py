"""TensorRT backend: the cache key (pure, tested everywhere) and the guards around a missing GPU.

Building, saving and reloading an engine needs an NVIDIA GPU with torch-tensorrt; that test runs only
there and is skipped everywhere else (CI has no GPU, so it cannot be required there).
"""

import sys

import pytest
import torch

from core.errors import UserError
from core.model.hrnet import build_model
from core.runtime import create_backend, weights_digest
from core.runtime.folding import relative_error
from core.runtime.tensorrt import (
    TrtEnvironment,
    batch_range_for,
    cache_key,
    export_engine,
    unavailable_reason,
)

ENVIRONMENT = TrtEnvironment("11.1.0", "2.14.0", "NVIDIA H100")  # TensorRT, torch-tensorrt, GPU
BASE = {
    "weights_sha256": "0" * 64,
    "positions": ((1, 1), (1, 2), (2, 1), (3, 1)),
    "input_size": (192, 256),
    "precision": "fp16",
    "batch_range": (1, 32, 32),
    "environment": ENVIRONMENT,
}
CHANGES = {
    "weights_sha256": "1" + "0" * 63,
    "positions": ((1, 1), (1, 2), (2, 1)),
    "input_size": (288, 384),
    "precision": "fp32",
    "batch_range": (1, 8, 32),
    "environment": [
        TrtEnvironment("10.13.0", "2.14.0", "NVIDIA H100"),
        TrtEnvironment("11.1.0", "2.13.0", "NVIDIA H100"),
        TrtEnvironment("11.1.0", "2.14.0", "NVIDIA GeForce RTX 4090"),
    ],
}


def test_cache_key_is_deterministic():
    assert cache_key(**BASE) == cache_key(**dict(BASE))
    assert len(cache_key(**BASE)) == 64


@pytest.mark.parametrize("field", list(CHANGES))
def test_cache_key_changes_when_any_input_changes(field):
    values = CHANGES[field] if isinstance(CHANGES[field], list) else [CHANGES[field]]
    for value in values:
        assert cache_key(**{**BASE, field: value}) != cache_key(**BASE), f"{field} = {value!r}"


def test_weights_enter_the_key_through_their_digest():
    model = build_model(width=8, input_size=(64, 64))
    before = weights_digest(model)
    with torch.no_grad():
        model.conv1.weight[0, 0, 0, 0] += 1e-4
    after = weights_digest(model)
    assert before != after
    assert cache_key(**{**BASE, "weights_sha256": before}) != cache_key(**{**BASE, "weights_sha256": after})


def test_batch_range():
    assert batch_range_for(32) == (1, 32, 32)
    assert batch_range_for(0) == (1, 1, 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a machine without CUDA")
def test_without_a_gpu_tensorrt_is_unavailable_and_never_imported():
    assert "CUDA" in unavailable_reason(torch.device("cpu"))
    model = build_model(width=8, input_size=(64, 64))
    with pytest.raises(UserError, match="TensorRT"):
        export_engine(model, "unused.ep", device="cpu")
    with pytest.raises(UserError, match="tensorrt cannot run"):
        create_backend(model, "tensorrt", "auto")
    assert "torch_tensorrt" not in sys.modules, "importing it without a GPU fails, so it must stay lazy"


def test_engine_builds_saves_and_reloads_on_a_gpu(tmp_path):
    """Only where a GPU and torch-tensorrt exist: fp16 parity, then a reload from the cache."""
    if torch.cuda.is_available() is False or unavailable_reason(torch.device("cuda")) is not None:
        pytest.skip("needs an NVIDIA GPU with torch-tensorrt")
    torch.manual_seed(0)
    model = build_model(width=8, preset="paper", input_size=(64, 64), attention_init_scale=1.0).eval()
    x = torch.randn(4, 3, 64, 64, device="cuda")
    reference = create_backend(model, "eager-plain", "cuda")(x)
    backend = create_backend(model, "tensorrt", "cuda", "fp16", max_batch=8, cache_dir=tmp_path)
    assert backend.precision == "fp16"
    assert relative_error(backend(x), reference) <= 1e-2
    assert len(list(tmp_path.glob("*.ep"))) == 1
    again = create_backend(model, "tensorrt", "cuda", "fp16", max_batch=8, cache_dir=tmp_path)
    assert relative_error(again(x[:3]), reference[:3]) <= 1e-2
