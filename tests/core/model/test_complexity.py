"""Parameter and FLOP counting: what FlopCounterMode counts, and that it leaves the model untouched."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core.model.attention import PRESETS, AttentionModule
from core.model.complexity import attention_flops, attention_parameters, count_flops, count_parameters
from core.model.hrnet import build_model

torch.set_num_threads(2)
SMALL = (64, 96)


def test_count_parameters_sums_every_tensor():
    layers = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1, bias=False))
    by_hand = (4 * 3 * 3 * 3 + 4) + (4 + 4) + (2 * 4)
    assert count_parameters(layers) == by_hand


def test_flops_are_two_per_multiply_add_of_convolutions():
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    w, h = 32, 48  # output 16 x 24
    assert count_flops(conv, (w, h)) == 2 * (8 * 3 * 3 * 3) * (h // 2) * (w // 2)


def test_flops_scale_with_the_input_area():
    with torch.device("meta"):
        model = build_model(width=16, input_size=SMALL)
    small = count_flops(model, SMALL)
    assert count_flops(model, (SMALL[0] * 2, SMALL[1] * 2)) == 4 * small


def test_shape_only_counting_equals_a_real_cpu_run():
    layers = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), AttentionModule(16))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layers.eval()(torch.randn(1, 3, 24, 32))
    assert count_flops(layers, (32, 24)) == counter.get_total_flops() > 0


def test_counting_does_not_depend_on_where_the_model_lives_and_leaves_it_untouched():
    model = build_model(width=16, preset="paper", input_size=SMALL).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.device("meta"):
        shapes_only = build_model(width=16, preset="paper", input_size=SMALL)
    assert count_flops(model, SMALL) == count_flops(shapes_only, SMALL) > 0
    assert model.training  # mode restored
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN stats untouched


def test_attention_flops_add_up_to_the_whole_model():
    with torch.device("meta"):
        baseline = count_flops(build_model(width=32, input_size=SMALL), SMALL)
        for preset in ("paper", "sub1234"):
            model = build_model(width=32, preset=preset, input_size=SMALL)
            extra = attention_flops(32, PRESETS[preset], SMALL)
            assert extra > 0
            assert count_flops(model, SMALL) == baseline + extra


def test_attention_parameters_are_zero_without_attention():
    with torch.device("meta"):
        assert attention_parameters(build_model(width=32)) == 0
        assert attention_parameters(build_model(width=32, preset="stage1")) > 0


def test_model_size_names_the_model_and_measures_it():
    from core.model.attention import format_positions, resolve_positions
    from core.model.complexity import ModelSize

    with torch.device("meta"):
        baseline = build_model(width=8, input_size=SMALL)
        paper = build_model(width=8, preset="paper", input_size=SMALL)
    plain = ModelSize.measure(baseline, 8, "baseline", SMALL)
    assert plain.positions == "-" and plain.parameters == count_parameters(baseline)
    assert plain.params_m == round(plain.parameters / 1e6, 3)
    assert plain.flops_g == round(count_flops(baseline, SMALL) / 1e9, 3)
    size = ModelSize.measure(paper, 8, "paper", SMALL)
    assert size.positions == format_positions(resolve_positions("paper")) != "-"
    assert size.parameters == plain.parameters + attention_parameters(paper) > plain.parameters
