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
    supported_precisions,
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
def test_auto_on_the_cpu_says_which_and_why_in_one_line_and_warns_of_nothing(model, caplog, tmp_path):
    with caplog.at_level(logging.DEBUG, logger="core.runtime"):
        backend = create_backend(model, "auto", "auto", cache_dir=tmp_path)
    expected = ("eager", "bf16") if cpu_supports_bf16() else ("onnxruntime", "fp32")
    assert (backend.name, backend.precision, backend.device.type) == (*expected, "cpu")
    records = [r for r in caplog.records if r.name == "core.runtime"]
    assert not [r for r in records if r.levelno >= logging.WARNING], "a CPU without CUDA is no news"
    (line,) = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert line.startswith(f"backend auto: {expected[0]} {expected[1]} on cpu (") and "bf16" in line


def test_auto_prefers_tensorrt_then_eager_on_cuda():
    assert auto_candidates(torch.device("cuda"))[0] == ["tensorrt", "eager"]


def test_auto_on_the_cpu_follows_native_bf16(monkeypatch):
    """The rule measured in docs/performance.md: native bf16 -> eager bf16, else onnxruntime fp32."""
    from core.runtime import auto

    monkeypatch.setattr(auto, "cpu_supports_bf16", lambda: True)
    assert auto_candidates(CPU)[0] == ["eager", "onnxruntime"]
    monkeypatch.setattr(auto, "cpu_supports_bf16", lambda: False)
    order, why = auto_candidates(CPU)
    assert order == ["onnxruntime", "eager"] and "no native bf16" in why
    assert auto_candidates(CPU, precision="bf16")[0] == ["eager"], "onnxruntime has no bf16"


def test_an_onednn_isa_cap_below_bf16_turns_native_bf16_off(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 emulates an AVX2-only CPU: `auto` must not pick emulated bf16 there."""
    from core.runtime import device

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    device.cpu_supports_bf16.cache_clear()
    try:
        assert device.cpu_supports_bf16() is False
        assert "capped by ONEDNN_MAX_CPU_ISA=avx2" in device.cpu_isa()
    finally:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
        device.cpu_supports_bf16.cache_clear()


def test_the_table_gives_names_help_and_precisions():
    from core.runtime import BACKENDS, backend_help, precision_help
    from core.runtime.base import Backend

    assert list(BACKENDS) == ["eager", "eager-plain", "compile", "onnxruntime", "tensorrt"]
    for name, cls in BACKENDS.items():
        assert issubclass(cls, Backend) and cls.name == name and cls.summary
        assert f"{name}: {cls.summary}" in backend_help()
    assert "fp32-strict" in precision_help() and "TF32" in precision_help()
    assert supported_precisions("onnxruntime", CPU) == ("fp32", "fp32-strict")
    assert supported_precisions("tensorrt", torch.device("cuda")) == ("fp16", "fp32", "fp32-strict")


def test_fp32_strict_is_plain_fp32_on_the_cpu(model, person_crops, reference):
    backend = create_backend(model, "eager", "cpu", "fp32-strict")
    assert backend.precision == "fp32"
    assert relative_error(backend(person_crops), reference) <= FP32_TOLERANCE


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


class FlagsSeen(nn.Module):
    """A module that notes the cuDNN flags it ran under."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module, self.flags = module, None

    def forward(self, x):
        self.flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
        return self.module(x)


def test_on_cuda_fp32_is_labelled_tf32_and_the_global_cudnn_flags_are_restored(fake_cuda):
    """cuDNN autotuning and TF32 are set per call (cuda_math), never left set for the program."""
    from core.runtime.device import cuda_math

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    model = randomize_batchnorm(TinyPoseNet()).eval()
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    seen = {}
    for precision, label in (("fp32", "tf32"), ("fp32-strict", "fp32"), ("fp16", "fp16")):
        backend = create_backend(model, "eager", "cuda:0", precision, input_size=(48, 64))
        assert backend.precision == label
        backend.module = FlagsSeen(backend.module)
        backend(x)
        seen[precision] = backend.module.flags
        assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == before
    assert seen["fp32"] == (True, True) and seen["fp32-strict"] == (True, False)
    plain = create_backend(model, "eager-plain", "cuda:0", "fp32-strict")
    assert plain.precision == "fp32"
    with cuda_math(torch.device("cuda:0"), "fp32-strict", benchmark=False):
        assert not cudnn.benchmark and not cudnn.allow_tf32 and not matmul.allow_tf32
    assert (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32) == before
