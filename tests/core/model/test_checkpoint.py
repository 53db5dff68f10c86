"""Checkpoints: our format, official HRNet and mmpose files, conversion, and one-line errors."""

import argparse
import os
import pickle

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.model.checkpoint import (
    FORMAT,
    convert_checkpoint,
    load_checkpoint,
    load_model,
    mmpose_to_official,
    save_checkpoint,
)
from core.model.hrnet import build_model
from tests.support.helpers import run_track
from tests.support.reference_hrnet import randomize_weights

torch.set_num_threads(2)
SMALL = (64, 96)


@pytest.fixture(scope="module")
def baseline():
    """A W32 baseline with random weights, as if trained (official key names)."""
    return randomize_weights(build_model(width=32, input_size=SMALL), seed=5).eval()


@pytest.fixture(scope="module")
def crops():
    return torch.randn(2, 3, SMALL[1], SMALL[0], generator=torch.Generator().manual_seed(1))


def heatmaps(model, x):
    with torch.no_grad():
        return model.eval()(x)


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_our_format_round_trips_config_weights_and_meta(tmp_path, crops):
    model = randomize_weights(build_model(width=16, preset="paper", input_size=SMALL, num_joints=5), seed=2)
    path = save_checkpoint(model, tmp_path / "sub" / "model.pt", {"epoch": 7, "ap": 0.5, "tags": ["a"]})
    raw = torch.load(path, weights_only=True)  # plain types only
    assert raw["format"] == FORMAT and raw["version"] == 1 and raw["config"] == model.config.to_dict()
    loaded = load_checkpoint(path)
    assert loaded.source_format == "ours" and loaded.meta == {"epoch": 7, "ap": 0.5, "tags": ["a"]}
    assert loaded.model.config == model.config and not loaded.model.training
    assert same_weights(loaded.model, model)
    assert torch.equal(heatmaps(loaded.model, crops), heatmaps(model, crops))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_training_state_is_stored_with_tensors_and_ignored_by_loaders(tmp_path):
    model = build_model(width=16, input_size=SMALL)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(1, 3, SMALL[1], SMALL[0])).sum().backward()
    optimizer.step()  # a state with tensors under integer keys, as resuming needs it
    training = {"optimizer": optimizer.state_dict(), "rng": {"torch": torch.get_rng_state()}}
    path = save_checkpoint(model, tmp_path / "latest.pt", {"epoch": 1}, training=training)
    raw = torch.load(path, weights_only=True)
    assert torch.equal(raw["training"]["rng"]["torch"], training["rng"]["torch"])
    assert raw["training"]["optimizer"]["param_groups"] == training["optimizer"]["param_groups"]
    loaded = load_checkpoint(path)
    assert loaded.meta == {"epoch": 1} and same_weights(loaded.model, model)
    assert "training" not in torch.load(save_checkpoint(model, tmp_path / "best.pt"), weights_only=True)


def test_meta_must_be_plain(tmp_path):
    with pytest.raises(TypeError, match="plain type"):
        save_checkpoint(build_model(width=16), tmp_path / "m.pt", {"a": argparse.Namespace()})
    assert not list(tmp_path.iterdir())


def test_official_state_dict_loads_strictly_with_identical_outputs(tmp_path, baseline, crops):
    path = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(baseline.state_dict(), path)
    with torch.device("meta"):  # shapes only: the key check is what matters here
        plain = build_model(width=32)  # what a user of the official file does
    plain.load_state_dict(torch.load(path, weights_only=True), strict=True, assign=True)
    loaded = load_checkpoint(path, input_size=SMALL)
    assert loaded.source_format == "official"
    assert loaded.model.config.width == 32 and loaded.model.config.preset == "baseline"
    assert torch.equal(heatmaps(loaded.model, crops), heatmaps(baseline, crops))


def test_official_training_checkpoint_wrapper_and_dataparallel_prefix(tmp_path):
    """The official trainer's checkpoint.pth; pre-0.4.1 files also lack BN's num_batches_tracked."""
    model = randomize_weights(build_model(width=16, num_joints=14, input_size=SMALL), seed=4)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v.half() for k, v in state.items()}}
    torch.save(wrapped, tmp_path / "checkpoint.pth")
    loaded = load_model(tmp_path / "checkpoint.pth")
    assert (loaded.config.width, loaded.config.num_joints, loaded.config.input_size) == (16, 14, (192, 256))
    loaded_state = loaded.state_dict()
    assert loaded_state.keys() == model.state_dict().keys()
    assert all(
        loaded_state[k].dtype == torch.float32 and torch.equal(loaded_state[k], v.half().float())
        for k, v in state.items()
    )


def to_mmpose(state_dict, head):
    """mmpose's naming: the backbone under `backbone.`, the 1×1 heatmap conv under `{head}.`."""
    return {(f"{head}.{k}" if k.startswith("final_") else f"backbone.{k}"): v for k, v in state_dict.items()}


@pytest.mark.parametrize("head", ["keypoint_head", "head"])  # mmpose 0.x, 1.x
def test_mmpose_checkpoints_convert_their_keys(tmp_path, head):
    model = randomize_weights(build_model(width=16, input_size=SMALL), seed=3)
    state = to_mmpose(model.state_dict(), head)
    assert mmpose_to_official(state).keys() == model.state_dict().keys()
    # mmpose 1.x keeps numpy arrays in its metadata: data, allowed; anything else stays refused.
    meta = {"dataset_meta": {"sigmas": np.linspace(0.1, 1, 17, dtype=np.float32), "n": np.int64(17)}}
    torch.save({"meta": meta, "state_dict": state}, tmp_path / "mmpose.pth")
    loaded = load_checkpoint(tmp_path / "mmpose.pth")
    assert loaded.source_format == "mmpose"
    assert same_weights(loaded.model, model)


def test_convert_official_to_ours_round_trip(tmp_path, baseline, crops):
    torch.save(baseline.state_dict(), tmp_path / "official.pth")
    convert_checkpoint(tmp_path / "official.pth", "official", "paper", tmp_path / "paper.pt", SMALL)
    loaded = load_checkpoint(tmp_path / "paper.pt")
    assert loaded.source_format == "ours"
    cfg = loaded.model.config
    assert (cfg.width, cfg.preset, cfg.input_size, cfg.num_joints) == (32, "paper", SMALL, 17)
    assert loaded.meta["converted_from"]["format"] == "official"
    state = loaded.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in baseline.state_dict().items())
    assert all(m.gamma.item() == 0.0 for m in loaded.model.attention.values())
    assert torch.equal(heatmaps(loaded.model, crops), heatmaps(baseline, crops))


def test_convert_refuses_the_wrong_source_format(tmp_path):
    state = to_mmpose(build_model(width=16, input_size=SMALL).state_dict(), "keypoint_head")
    torch.save({"state_dict": state}, tmp_path / "mm.pth")
    with pytest.raises(UserError, match="use --from mmpose"):
        convert_checkpoint(tmp_path / "mm.pth", "official", "sub1", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def error_of(path, **kwargs) -> str:
    with pytest.raises(UserError) as error:
        load_model(path, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file_and_folder(tmp_path):
    assert "not found" in error_of(tmp_path / "nope.pth")
    assert "not a file" in error_of(tmp_path)


def test_files_that_are_not_checkpoints(tmp_path, shared_data):
    (tmp_path / "notes.txt").write_text("these are not weights\n")
    (tmp_path / "empty.pth").write_bytes(b"")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    torch.save({"epoch": 3}, tmp_path / "no_weights.pt")
    assert "not a PyTorch checkpoint" in error_of(tmp_path / "notes.txt")
    assert "empty" in error_of(tmp_path / "empty.pth")
    image = next((shared_data / "coco_mini" / "images").glob("*.jpg"))
    assert "JPEG" in error_of(image)
    assert "holds a list" in error_of(tmp_path / "list.pt")
    assert "without weights" in error_of(tmp_path / "no_weights.pt")


@pytest.mark.parametrize("legacy", [False, True])
def test_pickles_that_weights_only_refuses(tmp_path, legacy):
    state = build_model(width=16, input_size=SMALL).state_dict()
    path = tmp_path / "trainer_state.pth"
    trainer_state = {"state_dict": state, "args": argparse.Namespace(lr=0.1)}
    torch.save(trainer_state, path, _use_new_zipfile_serialization=not legacy)
    message = error_of(path)
    assert "refused as unsafe: torch.load(weights_only=True) will not unpickle argparse.Namespace" in message
    assert "run code" in message


class RunsCode:
    """What a malicious checkpoint holds: unpickling it calls a function of the attacker's choice."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["zip", "legacy", "pickle-0", "pickle-2", "pickle-5"])
def test_a_malicious_pickle_is_refused_as_unsafe_in_every_format(tmp_path, kind):
    """Never "not a PyTorch checkpoint", and never torch's advice to load it with weights_only=False."""
    marker, path = tmp_path / "ran", tmp_path / f"{kind}.pth"
    payload = {"state_dict": RunsCode(marker)}
    if kind in ("zip", "legacy"):
        torch.save(payload, path, _use_new_zipfile_serialization=kind == "zip")
    else:
        path.write_bytes(pickle.dumps(payload, protocol=int(kind[-1])))
    message = error_of(path)
    assert (
        f"{path}: refused as unsafe: torch.load(weights_only=True) will not unpickle posix.system" in message
    )
    assert "weights_only=False" not in message and "Re-running" not in message
    assert not marker.exists()


def test_integer_typed_weights_are_one_line(tmp_path):
    """An mmpose checkpoint whose tensors are int64 (quantised or damaged): PyTorch cannot even assign
    them to float parameters; the line says what the file holds."""
    state = build_model(width=8, input_size=SMALL).state_dict()
    renamed = {("head." if k.startswith("final_layer") else "backbone.") + k: v for k, v in state.items()}
    integers = {k: (v * 100).to(torch.int64) for k, v in renamed.items()}
    torch.save({"meta": {}, "state_dict": integers}, tmp_path / "int.pth")
    message = error_of(tmp_path / "int.pth")
    assert "conv1.weight holds int64 values where the model has floating-point weights" in message


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused_at_load(tmp_path, value):
    state = build_model(width=8, input_size=SMALL).state_dict()
    state["stage2.0.branches.1.0.conv1.weight"][0, 0, 0, 0] = value
    torch.save(state, tmp_path / "diverged.pth")
    message = error_of(tmp_path / "diverged.pth")
    assert (
        "holds NaN or infinite weights (1 values in 1 tensors, e.g. stage2.0.branches.1.0.conv1.weight)"
        in message
    )
    assert "diverged" in message


def test_track_refuses_a_diverged_checkpoint_before_any_video(tmp_path, shared_data):
    """Once at load, in one line, instead of "keypoints contain NaN" for every video of the batch."""
    state = build_model(width=8, input_size=SMALL).state_dict()
    state["final_layer.bias"][3] = float("inf")
    torch.save(state, tmp_path / "diverged.pth")
    out = tmp_path / "out"
    video = shared_data / "video" / "street.mp4"
    done = run_track(
        "--source", video, "--out", out, "--checkpoint", tmp_path / "diverged.pth", "--no-progress"
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and errors[0].startswith(
        f"error: {tmp_path / 'diverged.pth'} holds NaN or infinite"
    )
    assert "e.g. final_layer.bias" in errors[0]
    assert not out.exists()


def test_architecture_mismatch_says_what_the_file_looks_like(tmp_path):
    state = build_model(width=16, preset="1.1,3.4", num_joints=5, input_size=SMALL).state_dict()
    del state["stage3.0.branches.0.0.conv1.weight"]
    state["extra_head.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "odd.pth")
    message = error_of(tmp_path / "odd.pth")
    assert "width 16" in message and "[1.1,3.4]" in message and "5 joints" in message
    assert "1 missing key" in message and "1 unexpected key" in message

    ours = build_model(width=16, preset="paper", input_size=SMALL)
    save_checkpoint(ours, tmp_path / "ours.pt")
    raw = torch.load(tmp_path / "ours.pt", weights_only=True)
    raw["config"].update(preset="sub1", positions=[[1, 1], [2, 1], [3, 1]])
    torch.save(raw, tmp_path / "edited.pt")
    message = error_of(tmp_path / "edited.pt")
    assert "preset sub1" in message and "[1.1,1.2,2.1,3.1]" in message and "unexpected keys" in message


def test_not_hrnet_at_all(tmp_path):
    torch.save({"fc.weight": torch.zeros(10, 4)}, tmp_path / "resnet.pth")
    assert "does not look like an HRNet pose checkpoint" in error_of(tmp_path / "resnet.pth")
