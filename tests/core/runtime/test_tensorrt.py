"""TensorRT backend: the cache key, the guards around a missing GPU, and how the backend drives
torch_tensorrt: which device it names, what it does when saving fails or a cached engine is stale.

The orchestration tests run on the CPU against a stand-in `torch_tensorrt` (and `tensorrt`) module
on two fake CUDA devices (tests/support/fake_cuda.py): the stand-in "compiles" a model into itself and
saves it as a real torch.export program, recording how it was called. Building, saving and reloading
a real engine needs an NVIDIA GPU with torch-tensorrt; that test runs only there (and in
`python -m core.bench.gpu_check`).
"""

import importlib.machinery
import itertools
import logging
import sys
import types

import pytest
import torch
from torch import nn

from core.errors import UserError
from core.model.hrnet import build_model
from core.runtime import create_backend, weights_digest
from core.runtime.folding import randomize_batchnorm, relative_error
from core.runtime.tensorrt import (
    TensorRTBackend,
    TrtEnvironment,
    batch_profiles,
    batch_range_for,
    cache_key,
    evict_oldest,
    export_engine,
    unavailable_reason,
)

TINY_SIZE = (16, 16)  # (w, h)

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


def test_engines_are_tuned_for_small_batches_not_the_largest():
    """TensorRT picks kernels for `opt`: one engine per range, each tuned inside its range."""
    assert batch_profiles(32) == ((1, 4, 8), (9, 16, 32))
    assert batch_profiles(16) == ((1, 4, 8), (9, 16, 16))
    assert batch_profiles(8) == ((1, 4, 8),)
    assert batch_profiles(4) == ((1, 2, 4),)
    assert batch_profiles(0) == ((1, 1, 1),)
    assert batch_range_for(32) == (1, 16, 32), "one exported engine: tuned for a middle batch"
    for max_batch in range(1, 70):
        ranges = batch_profiles(max_batch)
        assert ranges[0][0] == 1 and ranges[-1][2] == max_batch
        assert all(low <= opt <= high for low, opt, high in ranges)
        assert all(a[2] + 1 == b[0] for a, b in itertools.pairwise(ranges)), "no gap"


def test_the_cache_evicts_the_least_recently_used_engines_first(tmp_path):
    import os

    paths = []
    for index in range(5):
        path = tmp_path / f"engine{index}.pt2"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + index, 1000 + index))
        paths.append(path)
    os.utime(paths[0], (2000, 2000))  # used last: kept
    deleted = evict_oldest(tmp_path, 300, keep=(paths[1],))
    assert deleted == [paths[2], paths[3]], "oldest first, never an engine in use"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine0.pt2", "engine1.pt2", "engine4.pt2"]
    assert evict_oldest(tmp_path, 10_000) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a machine without CUDA")
def test_without_a_gpu_tensorrt_is_unavailable_and_never_imported():
    assert "CUDA" in unavailable_reason(torch.device("cpu"))
    model = build_model(width=8, input_size=(64, 64))
    with pytest.raises(UserError, match="TensorRT"):
        export_engine(model, "unused.pt2", device="cpu")
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
    assert len(list(tmp_path.glob("*.pt2"))) == 1
    again = create_backend(model, "tensorrt", "cuda", "fp16", max_batch=8, cache_dir=tmp_path)
    assert relative_error(again(x[:3]), reference[:3]) <= 1e-2


# ---------------------------------------------------------------------------------------------------
# Orchestration against a stand-in torch_tensorrt on fake CUDA devices
# ---------------------------------------------------------------------------------------------------


class TinyNet(nn.Module):
    """conv + BatchNorm + ReLU + 1×1 head: enough to see BN folded and fp16 weights, exported in a second."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Conv2d(4, 17, 1)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))))


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return randomize_batchnorm(TinyNet()).eval()


class StandInTorchTensorRT(types.ModuleType):
    """The part of torch_tensorrt the backend calls. `compile` returns the module it was given (or
    `engine`), `save` writes a real torch.export program with a dynamic batch, or raises `save_error`.
    Every call records the device it was told and the current CUDA device it ran under."""

    __version__ = "2.14.0"

    def __init__(self, cuda, engine=None, save_error: Exception | None = None):
        super().__init__("torch_tensorrt")
        self.__spec__ = importlib.machinery.ModuleSpec("torch_tensorrt", None)
        self._version = types.SimpleNamespace(__tensorrt_version__="11.1.0")  # build-time: not the key
        self.cuda, self.engine, self.save_error = cuda, engine, save_error
        self.save_broken = False  # True: the saved program returns NaN, like an engine gone bad
        self.compiles: list[dict] = []
        self.saves: list[dict] = []

    class Input:
        def __init__(self, **spec):
            self.spec = spec

    def compile(self, module, **options):
        self.compiles.append({"options": options, "current": self.cuda.current, "module": module})
        return self.engine or module

    def save(self, module, path, **options):
        self.saves.append({"path": path, "options": options, "current": self.cuda.current})
        if self.save_error is not None:
            raise self.save_error
        spec = options["arg_inputs"][0].spec
        example = torch.zeros(spec["opt_shape"], dtype=spec["dtype"])
        batch = torch.export.Dim("batch", min=spec["min_shape"][0], max=spec["max_shape"][0])
        saved = NaNOutput(module) if self.save_broken else module
        program = torch.export.export(saved, (example,), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, path)


class NaNOutput(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x) * float("nan")


@pytest.fixture
def stand_in(fake_cuda, monkeypatch):
    """A stand-in torch_tensorrt and TensorRT 11.1.0 installed on two fake GPUs."""
    module = StandInTorchTensorRT(fake_cuda)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", module)
    install_tensorrt(monkeypatch, "11.1.0")
    return module


def install_tensorrt(monkeypatch, version: str) -> None:
    module = types.ModuleType("tensorrt")
    module.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    module.__version__ = version
    monkeypatch.setitem(sys.modules, "tensorrt", module)


def tensorrt_backend(tmp_path, device="cuda:1", max_batch=4):
    return create_backend(
        tiny_model(),
        "tensorrt",
        device,
        "fp16",
        max_batch=max_batch,
        input_size=TINY_SIZE,
        cache_dir=tmp_path,
    )


def test_engine_is_built_saved_and_run_on_the_device_it_was_given(stand_in, fake_cuda, tmp_path):
    backend = tensorrt_backend(tmp_path, "cuda:1")
    assert isinstance(backend, TensorRTBackend) and backend.device == torch.device("cuda:1")
    (build,) = stand_in.compiles
    # torch_tensorrt would otherwise put its example inputs on the current device (cuda:0).
    assert build["options"]["device"] == torch.device("cuda:1") and build["current"] == 1
    assert stand_in.saves[0]["current"] == 1 and stand_in.saves[0]["path"].endswith(".pt2")
    assert [path.suffix for path in tmp_path.iterdir()] == [".pt2"]
    # BatchNorm folded (in fp64, by us) before the fp16 cast, not left to TensorRT in fp16.
    compiled = build["module"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in compiled.modules())
    assert {p.dtype for p in compiled.parameters()} == {torch.float16}
    fake_cuda.entered.clear()
    x = torch.randn(3, 3, TINY_SIZE[1], TINY_SIZE[0])
    heatmaps = backend(x)
    assert fake_cuda.entered == [1], "every call runs under torch.cuda.device(cuda:1)"
    reference = create_backend(tiny_model(), "eager-plain", "cpu")(x)
    assert heatmaps.dtype == torch.float32 and relative_error(heatmaps, reference) <= 1e-2


def test_plain_cuda_means_the_current_device_at_creation(stand_in, fake_cuda, tmp_path):
    fake_cuda.current = 1
    backend = tensorrt_backend(tmp_path, "cuda")
    assert backend.device == torch.device("cuda:1")
    assert stand_in.compiles[0]["options"]["device"] == torch.device("cuda:1")


def test_a_failed_save_keeps_the_engine_and_says_so_in_one_line(stand_in, tmp_path, caplog):
    stand_in.save_error = RuntimeError("retrace of a dynamic-shape graph failed\n  (details)")
    with caplog.at_level(logging.WARNING, logger="core.runtime.tensorrt"):
        backend = tensorrt_backend(tmp_path)
    assert backend(torch.randn(2, 3, TINY_SIZE[1], TINY_SIZE[0])).shape == (2, 17, 16, 16)
    assert len(stand_in.compiles) == 1 and len(stand_in.saves) == 1
    lines = [r.getMessage() for r in caplog.records if "not cached" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0] and "retrace" in lines[0]
    assert list(tmp_path.iterdir()) == [], "nothing half-written is left in the cache"


def test_a_cached_engine_is_reloaded_without_compiling(stand_in, tmp_path):
    first = tensorrt_backend(tmp_path)
    x = torch.randn(4, 3, TINY_SIZE[1], TINY_SIZE[0])
    again = tensorrt_backend(tmp_path)
    assert len(stand_in.compiles) == 1, "the second start loads the cached engine instead of compiling"
    assert torch.equal(again(x), first(x))


def test_a_cached_engine_that_fails_at_batch_1_is_rebuilt_at_load(stand_in, tmp_path, caplog):
    stand_in.save_broken = True
    tensorrt_backend(tmp_path)
    stand_in.save_broken = False
    with caplog.at_level(logging.WARNING, logger="core.runtime.tensorrt"):
        backend = tensorrt_backend(tmp_path)
    assert len(stand_in.compiles) == 2, "the batch-1 call at load found it broken: rebuilt"
    assert any("unusable" in r.getMessage() for r in caplog.records)
    assert backend(torch.randn(1, 3, TINY_SIZE[1], TINY_SIZE[0])).shape == (1, 17, 16, 16)


def test_a_stale_cached_engine_is_rebuilt_without_a_traceback(stand_in, tmp_path, caplog, capfd):
    tensorrt_backend(tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"an engine from another TensorRT")
    with caplog.at_level(logging.WARNING, logger="core.runtime.tensorrt"):
        backend = tensorrt_backend(tmp_path)
    assert len(stand_in.compiles) == 2, "rebuilt"
    assert any("unusable" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err
    assert backend(torch.randn(1, 3, TINY_SIZE[1], TINY_SIZE[0])).shape == (1, 17, 16, 16)
    assert path.stat().st_size > 100, "the rebuilt engine replaced the stale file"


def test_an_engine_that_cannot_run_fails_at_start_so_auto_falls_back(stand_in, tmp_path, caplog):
    def broken(x):
        raise RuntimeError("engine deserialisation failed on this GPU")

    stand_in.engine = broken
    with caplog.at_level(logging.WARNING, logger="core.runtime"):
        backend = create_backend(tiny_model(), "auto", "cuda:1", input_size=TINY_SIZE, cache_dir=tmp_path)
    assert (backend.name, backend.device, backend.precision) == ("eager", torch.device("cuda:1"), "fp16")
    lines = [r.getMessage() for r in caplog.records if r.name == "core.runtime"]
    assert len(lines) == 1 and "tensorrt cannot run" in lines[0] and "deserialisation" in lines[0]


def test_the_cache_key_follows_the_installed_tensorrt_not_the_build_string(stand_in, tmp_path, monkeypatch):
    first = tensorrt_backend(tmp_path)
    assert TrtEnvironment.current(torch.device("cuda:1")).tensorrt_version == "11.1.0"
    install_tensorrt(monkeypatch, "11.1.1")
    second = tensorrt_backend(tmp_path)
    assert TrtEnvironment.current(torch.device("cuda:1")).tensorrt_version == "11.1.1"
    assert first.path != second.path and len(stand_in.compiles) == 2


def test_each_batch_runs_on_the_engine_of_its_range(stand_in, tmp_path):
    backend = tensorrt_backend(tmp_path, max_batch=16)
    specs = [build["options"]["arg_inputs"][0].spec for build in stand_in.compiles]
    assert [(s["min_shape"][0], s["opt_shape"][0], s["max_shape"][0]) for s in specs] == [
        (1, 4, 8),
        (9, 16, 16),
    ]
    assert len(list(tmp_path.glob("*.pt2"))) == 2, "one cached file per range"
    calls = []
    backend.engines = [
        lambda x, index=index, engine=engine: calls.append((index, x.shape[0])) or engine(x)
        for index, engine in enumerate(backend.engines)
    ]
    for batch in (1, 8, 9, 16, 20):
        assert backend(torch.randn(batch, 3, TINY_SIZE[1], TINY_SIZE[0])).shape[0] == batch
    assert calls == [(0, 1), (0, 8), (1, 9), (1, 16), (1, 16), (0, 4)]


def test_fp32_is_labelled_tf32_and_fp32_strict_turns_tf32_off(stand_in, tmp_path):
    model = tiny_model()
    tf32 = create_backend(
        model, "tensorrt", "cuda:1", "fp32", max_batch=4, input_size=TINY_SIZE, cache_dir=tmp_path
    )
    strict = create_backend(
        model, "tensorrt", "cuda:1", "fp32-strict", max_batch=4, input_size=TINY_SIZE, cache_dir=tmp_path
    )
    assert (tf32.precision, strict.precision) == ("tf32", "fp32")
    assert [build["options"]["disable_tf32"] for build in stand_in.compiles] == [False, True]
    assert tf32.path != strict.path, "different engines, different cache entries"
