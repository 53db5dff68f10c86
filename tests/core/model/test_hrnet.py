"""PoseHRNet is the official HRNet (keys, shapes, counts, outputs) plus attention under its own prefix."""

import pytest
import torch

from core.errors import UserError
from core.model.attention import PRESETS, attention_parameter_count, position_channels
from core.model.complexity import attention_parameters, count_parameters
from core.model.hrnet import ModelConfig, build_model
from tests.support.reference_hrnet import PoseHighResolutionNet, make_config, randomize_weights

torch.set_num_threads(2)
SMALL = (64, 96)  # (w, h): any multiple of 32 exercises every branch and fusion


def meta_model(**kwargs):
    """Shapes only: building on the meta device allocates nothing."""
    with torch.device("meta"):
        return build_model(**kwargs)


@pytest.mark.parametrize(("width", "expected"), [(32, 28_536_113), (48, 63_595_745)])
def test_parameter_counts_are_the_official_ones(width, expected):
    assert count_parameters(meta_model(width=width)) == expected


def test_state_dict_uses_the_official_key_names():
    state = meta_model(width=32).state_dict()
    keys = list(state)
    assert keys[0] == "conv1.weight" and keys[-1] == "final_layer.bias"
    expected_shapes = {
        "conv1.weight": (64, 3, 3, 3),
        "bn1.weight": (64,),
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.3.conv3.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (32, 256, 3, 3),
        "transition1.1.0.0.weight": (64, 256, 3, 3),
        "stage2.0.branches.0.0.conv1.weight": (32, 32, 3, 3),
        "stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1),
        "stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),
        "transition2.2.0.0.weight": (128, 64, 3, 3),
        "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
        "transition3.3.0.0.weight": (256, 128, 3, 3),
        "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
        "final_layer.weight": (17, 32, 1, 1),
        "final_layer.bias": (17,),
    }
    assert {k: tuple(state[k].shape) for k in expected_shapes} == expected_shapes
    # Stage 4's last module fuses into the highest resolution only.
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in keys)
    assert any(k.startswith("stage4.1.fuse_layers.3.") for k in keys)
    bn1 = ["bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"]
    assert keys[1:6] == bn1


@pytest.mark.parametrize("width", [32, 48])
def test_keys_and_shapes_equal_the_reference_network(width):
    with torch.device("meta"):
        reference = PoseHighResolutionNet(make_config(width)).state_dict()
    ours = meta_model(width=width).state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in reference.items()]


def test_outputs_equal_the_official_network_for_the_same_weights():
    ours = randomize_weights(build_model(width=32, input_size=SMALL), seed=1).eval()
    reference = PoseHighResolutionNet(make_config(32)).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, SMALL[1], SMALL[0], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = ours(x), reference(x)
    assert got.shape == (2, 17, SMALL[1] // 4, SMALL[0] // 4)
    assert want.abs().max() > 1  # random weights give a non-trivial output to compare
    assert torch.equal(got, want)


def test_attention_keys_never_disturb_the_baseline_keys():
    baseline = meta_model(width=32).state_dict()
    preset = meta_model(width=32, preset="sub1234").state_dict()
    extra = [k for k in preset if k not in baseline]
    assert extra and all(k.startswith("attention.s") for k in extra)
    kept = {k: v.shape for k, v in preset.items() if k in baseline}
    assert kept == {k: v.shape for k, v in baseline.items()}
    assert "attention.s1b1.cam.fc1.weight" in preset and "attention.s3b4.gamma" in preset


@pytest.mark.parametrize("width", [32, 48])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_attention_parameters_equal_the_formula(width, preset):
    model = meta_model(width=width, preset=preset)
    formula = sum(attention_parameter_count(position_channels(width, p)) for p in PRESETS[preset])
    assert attention_parameters(model) == formula
    assert count_parameters(model) == count_parameters(meta_model(width=width)) + formula


def test_zero_initialised_attention_reproduces_the_baseline_heatmaps():
    baseline = randomize_weights(build_model(width=16, input_size=SMALL), seed=2).eval()
    attended = randomize_weights(build_model(width=16, preset="sub1234", input_size=SMALL), seed=3)
    attended.load_state_dict(baseline.state_dict(), strict=False)  # baseline weights, random attention
    x = torch.randn(1, 3, SMALL[1], SMALL[0], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for module in attended.attention.values():
            module.gamma.zero_()
        same = attended.eval()(x)
        for module in attended.attention.values():
            module.gamma.fill_(1.0)
        changed = attended(x)
        want = baseline(x)
    assert torch.equal(same, want)
    assert not torch.allclose(changed, want)  # the modules are really in the path


def test_fresh_attention_starts_at_the_configured_scale():
    default = build_model(width=16, preset="paper", input_size=SMALL)
    assert all(m.gamma.item() == 0.0 for m in default.attention.values())
    paper_form = build_model(width=16, preset="paper", input_size=SMALL, attention_init_scale=1.0)
    assert all(m.gamma.item() == 1.0 for m in paper_form.attention.values())


def test_output_shape_follows_joints_and_input_size():
    model = build_model(width=16, num_joints=5, input_size=(96, 64)).eval()
    assert model.config.heatmap_size == (24, 16)
    with torch.no_grad():
        assert model(torch.zeros(3, 3, 64, 96)).shape == (3, 5, 16, 24)


def test_config_round_trips_through_plain_types():
    config = build_model(width=16, preset="1.1,3.4", input_size=(96, 128), num_joints=5).config
    data = config.to_dict()
    assert data["positions"] == [[1, 1], [3, 4]] and data["heatmap_size"] == [24, 32]

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return isinstance(value, str | int | float | bool)

    assert plain(data)
    assert ModelConfig.from_dict(data) == config


def test_config_rejects_what_hrnet_cannot_run():
    with pytest.raises(UserError, match="multiples of 32"):
        ModelConfig(input_size=(48, 64))
    with pytest.raises(UserError, match="means positions"):
        ModelConfig(preset="sub1", positions=((1, 2),))
    with pytest.raises(UserError, match="unknown attention preset"):
        build_model(preset="everything")
    assert ModelConfig(positions=((1, 1), (1, 2))).preset == "stage1"


def test_a_seeded_untrained_model_is_the_same_every_time_and_leaves_the_global_rng_alone():
    """Its TensorRT cache key is a digest of the weights: an unseeded model would rebuild every run."""
    from core.runtime import weights_digest

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_model(width=8, input_size=(64, 64), seed=0)
    assert torch.equal(torch.rand(1), expected_next), "the global generator did not move"
    assert weights_digest(build_model(width=8, input_size=(64, 64), seed=0)) == weights_digest(first)
    assert weights_digest(build_model(width=8, input_size=(64, 64), seed=1)) != weights_digest(first)
