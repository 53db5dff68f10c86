"""Backends: BatchNorm folding, heatmap parity with fp32 eager, and how `auto` chooses and falls back.

Parity is ||heatmaps - fp32 eager|| / ||fp32 eager|| on real person crops, at most 1e-4 for fp32
paths and 1e-2 for bf16/fp16 ones. The models carry the official HRNet initialisation (conv weights
N(0, 0.001)) with attention switched on (gamma = 1), since no trained weights may be downloaded.
"""

import json
import logging

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from core.errors import UserError
from core.model.attention import AttentionModule
from core.model.hrnet import build_model
from core.pose import codec
from core.runtime import (
    auto_candidates,
    available_backends,
    backend_name,
    cpu_supports_bf16,
    create_backend,
    resolve_device,
    resolve_precision,
    unavailable_reason,
    weights_digest,
)
from core.runtime.folding import randomize_batchnorm, relative_error
from tests.support.helpers import limit_torch_threads, require, require_tool

FP32_TOLERANCE = 1e-4
LOW_PRECISION_TOLERANCE = 1e-2
INPUT_SIZE = (96, 128)  # (w, h): small, but every HRNet stage and fusion path still runs
CPU = torch.device("cpu")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a machine without CUDA")


_torch_threads = limit_torch_threads(2)


@pytest.fixture(scope="module")
def person_crops(shared_data) -> torch.Tensor:
    """Four normalised person crops from the COCO images, as the estimator would cut them."""
    data = json.loads((shared_data / "coco_mini" / "person_keypoints.json").read_text())
    files = {image["id"]: image["file_name"] for image in data["images"]}
    crops = []
    for annotation in data["annotations"][:4]:
        x, y, w, h = annotation["bbox"]
        image = cv2.imread(str(shared_data / "coco_mini" / "images" / files[annotation["image_id"]]))
        crops.append(codec.crop_boxes(image, np.array([[x, y, x + w, y + h]]), INPUT_SIZE)[0])
    return codec.normalize_crops(np.concatenate(crops))


def pose_model(width: int = 8, preset: str = "paper", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(width=width, preset=preset, input_size=INPUT_SIZE, attention_init_scale=1.0).eval()


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return pose_model()


@pytest.fixture(scope="module")
def reference(model, person_crops) -> torch.Tensor:
    return create_backend(model, "eager-plain", "cpu")(person_crops)


# ---------------------------------------------------------------------------------------------------
# Parity against fp32 eager
# ---------------------------------------------------------------------------------------------------


def test_eager_fp32_parity(model, person_crops, reference):
    backend = create_backend(model, "eager", "cpu", "fp32")
    assert backend.precision == "fp32"
    assert relative_error(backend(person_crops), reference) <= FP32_TOLERANCE


def test_eager_bf16_parity(model, person_crops, reference):
    backend = create_backend(model, "eager", "cpu", "bf16")
    assert backend.precision == "bf16"
    heatmaps = backend(person_crops)
    assert heatmaps.dtype == torch.float32 and heatmaps.shape == reference.shape
    error = relative_error(heatmaps, reference)
    assert 0 < error <= LOW_PRECISION_TOLERANCE, "bf16 must differ from fp32 (it ran in bf16), but little"


def test_onnxruntime_parity(model, person_crops, reference, tmp_path):
    require(unavailable_reason("onnxruntime", CPU) is None, "onnxruntime is not usable")
    backend = create_backend(model, "onnx", "cpu", cache_dir=tmp_path)
    assert backend.name == "onnxruntime" and backend.precision == "fp32"
    assert relative_error(backend(person_crops), reference) <= FP32_TOLERANCE
    assert len(list(tmp_path.glob("*.onnx"))) == 1, "the export is cached for the next start"
    again = create_backend(model, "onnxruntime", "cpu", cache_dir=tmp_path)
    assert relative_error(again(person_crops[:2]), reference[:2]) <= FP32_TOLERANCE


def conv_bn(cin: int, cout: int, kernel: int, stride: int, after: nn.Module) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), after)


class TinyPoseNet(nn.Module):
    """The model's building blocks (conv+BN+ReLU, stride-2 branch, nearest-upsampling fusion, the
    paper's attention module, 1×1 head) at a size inductor compiles in seconds; the full HRNet takes
    minutes on two cores, too long for a unit test."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2, nn.ReLU(inplace=True))
        self.down = conv_bn(8, 16, 3, 2, nn.ReLU(inplace=True))
        self.up = conv_bn(16, 8, 1, 1, nn.Upsample(scale_factor=2))
        self.attention = AttentionModule(8, init_scale=1.0)
        self.head = nn.Conv2d(8, 17, 1)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.up(self.down(x)))
        return self.head(self.attention(x))


def test_compile_parity(monkeypatch):
    require_tool("g++")
    reason = unavailable_reason("compile", CPU)
    require(reason is None, f"torch.compile cannot run here: {reason}")
    import torch._inductor.config

    monkeypatch.setattr(torch._inductor.config, "compile_threads", 1)  # no worker pool to start
    model = randomize_batchnorm(TinyPoseNet()).eval()
    x = torch.randn(3, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    backend = create_backend(model, "compile", "cpu", "fp32", input_size=(48, 64))
    assert (backend.name, backend.precision) == ("compile", "fp32")
    reference = create_backend(model, "eager-plain", "cpu")(x)
    assert relative_error(backend(x), reference) <= FP32_TOLERANCE


# ---------------------------------------------------------------------------------------------------
# Choosing a backend
# ---------------------------------------------------------------------------------------------------


def test_auto_precision_follows_the_cpu():
    expected = "bf16" if cpu_supports_bf16() else "fp32"
    assert resolve_precision("eager", CPU, "auto") == expected
    assert resolve_precision("eager-plain", CPU, "auto") == "fp32"
    assert resolve_precision("tensorrt", torch.device("cuda"), "auto") == "fp16"


@no_cuda
def test_auto_falls_back_to_eager_on_the_cpu_with_one_line(model, caplog):
    with caplog.at_level(logging.WARNING, logger="core.runtime"):
        backend = create_backend(model, "auto", "auto")
    assert (backend.name, backend.device.type) == ("eager", "cpu")
    assert backend.precision == ("bf16" if cpu_supports_bf16() else "fp32")
    lines = [r.getMessage() for r in caplog.records if r.name == "core.runtime"]
    assert len(lines) == 1 and "tensorrt" in lines[0] and "CUDA" in lines[0]


def test_auto_prefers_tensorrt_then_eager_on_cuda():
    assert auto_candidates(torch.device("cuda")) == ["tensorrt", "eager"]
    assert auto_candidates(CPU) == ["eager"]


def test_an_explicit_backend_that_cannot_run_is_a_clear_error(model):
    with pytest.raises(UserError, match="tensorrt cannot run on cpu"):
        create_backend(model, "tensorrt", "cpu")
    with pytest.raises(UserError, match="unknown backend"):
        create_backend(model, "tensorflow", "cpu")
    with pytest.raises(UserError, match="eager-plain cannot run bf16"):
        create_backend(model, "eager-plain", "cpu", "bf16")
    with pytest.raises(UserError, match="unknown precision"):
        create_backend(model, "eager", "cpu", "int8")


@no_cuda
def test_cuda_requested_without_cuda_is_a_clear_error(model):
    with pytest.raises(UserError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(UserError, match="CUDA is not available"):
        create_backend(model, "eager", "cuda")


def test_available_backends_and_names():
    names = available_backends("cpu")
    assert {"eager", "eager-plain"} <= set(names)
    assert "tensorrt" not in names
    assert backend_name("ONNX") == "onnxruntime" and backend_name("trt") == "tensorrt"


def test_weights_digest_identifies_the_weights(model):
    same = pose_model()
    assert weights_digest(same) == weights_digest(model)
    with torch.no_grad():
        same.final_layer.bias[0] += 1e-3
    assert weights_digest(same) != weights_digest(model)


# ---------------------------------------------------------------------------------------------------
# Warm-up and devices
# ---------------------------------------------------------------------------------------------------


def recording_torch_compile(monkeypatch) -> list[tuple[int, set]]:
    """torch.compile replaced by a pass-through noting each call's batch size and dynamic dims."""
    calls = []

    def fake_compile(fn, **options):
        def compiled(x):
            calls.append((x.shape[0], set(getattr(x, "_dynamo_dynamic_indices", set()))))
            return fn(x)

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    return calls


def test_compile_warms_up_batch_1_as_well_as_the_dynamic_batch(monkeypatch):
    """Dynamo specialises sizes 0 and 1: without a batch-1 call at creation, the first frame with one
    person would recompile mid-run."""
    from core.runtime.compile import CompileBackend

    calls = recording_torch_compile(monkeypatch)
    CompileBackend(randomize_batchnorm(TinyPoseNet()).eval(), CPU, "fp32", (48, 64))
    assert calls == [(2, {0}), (1, set())]


def test_eager_and_compile_on_a_second_gpu_run_under_that_device(fake_cuda, monkeypatch):
    from core.runtime.compile import CompileBackend

    recording_torch_compile(monkeypatch)
    model = randomize_batchnorm(TinyPoseNet()).eval()
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    reference = create_backend(model, "eager-plain", "cpu")(x)
    for backend in (
        create_backend(model, "eager", "cuda:1", "fp16", input_size=(48, 64)),
        create_backend(model, "eager-plain", "cuda:1"),
        CompileBackend(model, torch.device("cuda:1"), "fp16", (48, 64)),
    ):
        fake_cuda.entered.clear()
        heatmaps = backend(x)
        assert backend.device == torch.device("cuda:1") and fake_cuda.entered == [1], backend
        assert relative_error(heatmaps, reference) <= LOW_PRECISION_TOLERANCE
    assert fake_cuda.current == 0, "the current device is restored after each call"
