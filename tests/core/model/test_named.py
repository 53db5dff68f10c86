"""`--checkpoint NAME`: a generated file in each registry format, served on loopback, loads through
the registry with the entry's input size and decoder and gives the same heatmaps as the same file
loaded directly; mmpose's preprocessing equals the codec's; cached defaults."""

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.model import check_checkpoint_spec, default_checkpoint, load_checkpoint
from core.model.named import MMPOSE_MEAN, MMPOSE_STD
from core.pose import codec
from core.zoo import import_file
from tests.support.helpers import limit_torch_threads
from tests.support.weights import pose_entry, pose_file_bytes, registered, tiny_model

torch_threads = limit_torch_threads(1)


def heatmaps(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("fmt", ["mmpose-1.x", "mmpose-0.x", "official"])
def test_each_format_loads_through_the_registry_like_the_file_itself(
    monkeypatch, weights_server, tmp_path, fmt
):
    model = tiny_model()
    body = pose_file_bytes(model, fmt)
    entry = registered(monkeypatch, weights_server, pose_entry("test-pose", body, fmt), body)
    (tmp_path / "direct.pth").write_bytes(body)

    named = load_checkpoint("test-pose")
    direct = load_checkpoint(tmp_path / "direct.pth", input_size=(64, 96))
    assert named.name == "test-pose" and named.source_format == fmt.split("-")[0]
    assert named.model.config.input_size == direct.model.config.input_size == (64, 96)
    x = torch.randn(2, 3, 96, 64, generator=torch.Generator().manual_seed(1))
    expected = heatmaps(model, x)
    assert torch.equal(heatmaps(named.model, x), expected)
    assert torch.equal(heatmaps(direct.model, x), expected)
    assert weights_server.count(entry.file_name) == 1
    load_checkpoint("test-pose")  # cached now: no second request
    assert weights_server.count(entry.file_name) == 1


def test_the_entry_sets_input_size_and_decoder(monkeypatch, weights_server):
    body = pose_file_bytes(tiny_model(), "mmpose-1.x")
    entry = pose_entry("test-dark", body, input_size=(96, 128), decode="dark")
    registered(monkeypatch, weights_server, entry, body)
    loaded = load_checkpoint("test-dark", input_size=(192, 256))  # the entry's size wins
    assert loaded.model.config.input_size == (96, 128) and loaded.decode == "dark"


def test_an_entry_whose_file_has_another_format_is_refused(monkeypatch, weights_server):
    body = pose_file_bytes(tiny_model(), "official")
    registered(monkeypatch, weights_server, pose_entry("test-pose", body, "mmpose-1.x"), body)
    with pytest.raises(UserError, match=r"is in official format, but test-pose names a mmpose-1\.x file"):
        load_checkpoint("test-pose")


def test_mmpose_preprocessing_is_the_codecs_normalisation():
    """mmpose: RGB, (x - mean) / std with mean/std in 0-255 units; the codec: RGB, (x/255 - m) / s.
    The same numbers, so the same heatmaps from mmpose weights either way."""
    crops = np.random.default_rng(0).integers(0, 256, (3, 96, 64, 3), dtype=np.uint8)  # BGR
    rgb = torch.from_numpy(crops[..., ::-1].astype(np.float32)).permute(0, 3, 1, 2)
    mean = torch.tensor(MMPOSE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(MMPOSE_STD).view(1, 3, 1, 1)
    mmpose = (rgb - mean) / std
    ours = codec.normalize_crops(crops)
    assert torch.allclose(ours, mmpose, atol=1e-5)
    model = tiny_model()
    assert torch.allclose(heatmaps(model, ours), heatmaps(model, mmpose), atol=1e-5)


def test_a_file_wins_over_a_name_and_an_unknown_name_lists_the_choices(tmp_path, monkeypatch):
    check_checkpoint_spec("hrnet-w32")  # a name: fine without any file (no download happens here)
    with pytest.raises(UserError, match=r"checkpoint not found: .*hrnet-w99 .*hrnet-w32, hrnet-w32-dark"):
        check_checkpoint_spec("hrnet-w99")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hrnet-w32").write_bytes(b"a local file of that name")
    with pytest.raises(UserError, match="not a PyTorch checkpoint"):  # the file was read, not the registry
        load_checkpoint("hrnet-w32")


def test_the_cached_default_is_used_and_said_else_how_to_get_weights(monkeypatch, tmp_path):
    name, line = default_checkpoint()
    assert name is None and "untrained" in line and "python run.py weights get hrnet-w32" in line
    body = pose_file_bytes(tiny_model(), "mmpose-1.x")
    entry = pose_entry("test-pose", body)
    monkeypatch.setattr("core.zoo.registry.REGISTRY", {entry.name: entry})
    (tmp_path / "f.pth").write_bytes(body)
    import_file(entry, tmp_path / "f.pth")
    name, line = default_checkpoint()
    assert name == "test-pose" and line.startswith("no --checkpoint given: using the cached test-pose")
