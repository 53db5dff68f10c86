"""The attention module of the paper's Fig. 2 and the positions/presets of its Table I."""

import pytest
import torch
import torch.nn.functional as F

from core.errors import UserError
from core.model.attention import (
    ALL_POSITIONS,
    PRESETS,
    AttentionModule,
    attention_parameter_count,
    format_positions,
    preset_for_positions,
    resolve_positions,
)


@pytest.mark.parametrize("channels", [8, 32, 48, 64, 128, 256, 384])
def test_parameter_count_formula_matches_the_module(channels):
    module = AttentionModule(channels)
    assert sum(p.numel() for p in module.parameters()) == attention_parameter_count(channels)


def test_module_layers_are_the_papers():
    """CAM: C -> C/16 -> C biased 1×1 convs; SAM: two biased 3×3 convs on a 1-channel map; one gamma."""
    shapes = {k: tuple(v.shape) for k, v in AttentionModule(64).state_dict().items()}
    assert shapes == {
        "cam.fc1.weight": (4, 64, 1, 1),
        "cam.fc1.bias": (4,),
        "cam.fc2.weight": (64, 4, 1, 1),
        "cam.fc2.bias": (64,),
        "sam.conv1.weight": (1, 1, 3, 3),
        "sam.conv1.bias": (1,),
        "sam.conv2.weight": (1, 1, 3, 3),
        "sam.conv2.bias": (1,),
        "gamma": (),
    }


def test_zero_scale_is_an_exact_identity():
    module = AttentionModule(32, init_scale=0.0)
    x = torch.randn(2, 32, 8, 6)
    assert torch.equal(module(x), x)


def test_forward_is_x_plus_gamma_times_sam_of_cam():
    """An independent functional write-up of Fig. 2: CAM first, SAM on CAM's output, residual sum."""
    torch.manual_seed(0)
    module = AttentionModule(32, init_scale=0.7)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name != "gamma":
                p.normal_(std=0.5)
    x = torch.randn(2, 32, 8, 6)
    s = module.state_dict()
    hidden = F.relu(F.conv2d(x.mean(dim=(2, 3), keepdim=True), s["cam.fc1.weight"], s["cam.fc1.bias"]))
    cam = x * torch.sigmoid(F.conv2d(hidden, s["cam.fc2.weight"], s["cam.fc2.bias"]))
    spatial = F.conv2d(cam.mean(dim=1, keepdim=True), s["sam.conv1.weight"], s["sam.conv1.bias"], padding=1)
    spatial = F.conv2d(F.relu(spatial), s["sam.conv2.weight"], s["sam.conv2.bias"], padding=1)
    expected = x + 0.7 * cam * torch.sigmoid(spatial)
    torch.testing.assert_close(module(x), expected)


def test_nine_positions_at_stage_boundaries():
    """Boundary s feeds stage s+1, which has s+1 branches."""
    assert len(ALL_POSITIONS) == 9
    for stage in (1, 2, 3):
        assert [b for s, b in ALL_POSITIONS if s == stage] == list(range(1, stage + 2))


def test_presets_follow_table_one():
    sizes = {name: len(positions) for name, positions in PRESETS.items()}
    assert sizes == {
        "baseline": 0,
        "sub1": 3,
        "sub12": 6,
        "sub123": 8,
        "sub1234": 9,
        "stage1": 2,
        "stage12": 5,
        "stage123": 9,
        "paper": 4,
    }
    assert set(PRESETS["paper"]) == set(PRESETS["sub1"]) | set(PRESETS["stage1"])
    assert PRESETS["sub1234"] == PRESETS["stage123"] == ALL_POSITIONS
    assert all(b == 1 for _, b in PRESETS["sub1"])
    assert all(s <= 2 for s, _ in PRESETS["stage12"])


def test_explicit_positions_are_parsed_sorted_and_deduplicated():
    assert resolve_positions("3.4, 1.1,2.1,1.1") == ((1, 1), (2, 1), (3, 4))
    assert resolve_positions("PAPER") == PRESETS["paper"]
    assert preset_for_positions(resolve_positions("1.1,1.2,2.1,3.1")) == "paper"
    assert preset_for_positions(((2, 3),)) == "2.3"
    assert format_positions(((1, 1), (3, 4))) == "1.1,3.4"


@pytest.mark.parametrize("bad", ["foo", "4.1", "1.3", "1-1", "1.1,2", ""])
def test_bad_presets_list_the_valid_choices(bad):
    with pytest.raises(UserError) as error:
        resolve_positions(bad)
    message = str(error.value)
    assert "\n" not in message
    assert "sub1234" in message and "3.4" in message
