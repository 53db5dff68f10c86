"""Parameter groups, freezing and the learning-rate curve (linear scaling, warm-up, steps)."""

import pytest
import torch

from core.errors import UserError
from core.model.hrnet import build_model
from tests.support.helpers import ROOT
from trainer.config import load_config
from trainer.schedule import LrSchedule, build_optimizer, frozen_names, set_frozen

FINETUNE = ROOT / "assets" / "configs" / "table1" / "paper.toml"


def test_lr_scales_linearly_with_the_global_batch():
    config = load_config(None, ["solver.lr=1e-3", "solver.base_batch=128", "solver.batch_size=32"])
    assert LrSchedule.from_config(config, world_size=4, iters_per_epoch=10).base_lr == pytest.approx(1e-3)
    assert LrSchedule.from_config(config, world_size=1, iters_per_epoch=10).base_lr == pytest.approx(2.5e-4)
    assert LrSchedule.from_config(config, world_size=16, iters_per_epoch=10).base_lr == pytest.approx(4e-3)
    unscaled = load_config(None, ["solver.lr=1e-3", "solver.batch_size=32"])  # base_batch 0: as given
    assert LrSchedule.from_config(unscaled, world_size=8, iters_per_epoch=10).base_lr == 1e-3


def test_warm_up_is_mmposes_linear_ramp_then_steps_per_epoch():
    config = load_config(
        None, ["solver.warmup_iters=500", "solver.lr_steps=[170, 200]", "solver.lr=1e-3", "solver.epochs=210"]
    )
    schedule = LrSchedule.from_config(config, world_size=1, iters_per_epoch=300)
    assert schedule.lr(0, 0) == pytest.approx(1e-6)  # warmup_ratio 0.001
    assert schedule.lr(0, 250) == pytest.approx(1e-3 * (1 - 0.5 * 0.999))  # half-way, counted across epochs
    assert schedule.lr(1, 200) == schedule.lr(2, 0) == pytest.approx(1e-3)  # iteration 500 onwards
    assert schedule.lr(169, 299) == pytest.approx(1e-3)
    assert schedule.lr(170, 0) == pytest.approx(1e-4) and schedule.lr(200, 0) == pytest.approx(1e-5)


def test_attention_parameters_and_gamma_get_their_own_rate_and_decay():
    config = load_config(FINETUNE, ["model.width=8", "model.input_size=64x64", "solver.weight_decay=1e-4"])
    model = build_model(width=8, preset="paper", input_size=(64, 64))
    optimizer = build_optimizer(config, model)
    network, attention = optimizer.param_groups
    gammas = {id(module.gamma) for module in model.attention.values()}
    assert gammas <= {id(p) for p in attention["params"]} and not gammas & {id(p) for p in network["params"]}
    assert len(attention["params"]) == len(list(model.attention.parameters()))
    assert (network["weight_decay"], attention["weight_decay"]) == (1e-4, 0.0)
    LrSchedule.from_config(config, world_size=4, iters_per_epoch=1000).apply(optimizer, 5, 0)
    assert network["lr"] == pytest.approx(1e-4) and attention["lr"] == pytest.approx(1e-3)  # ×10


def test_freeze_patterns_hold_all_but_the_exceptions():
    config = load_config(FINETUNE, ["model.width=8", "model.input_size=64x64"])
    model = build_model(width=8, preset="paper", input_size=(64, 64))
    names = frozen_names(config, model)
    trainable = {n for n, _ in model.named_parameters()} - set(names)
    assert trainable == {
        n for n, _ in model.named_parameters() if n.startswith(("attention.", "final_layer."))
    }
    set_frozen(model, names, True)
    assert not model.conv1.weight.requires_grad and model.final_layer.weight.requires_grad
    set_frozen(model, names, False)
    assert all(p.requires_grad for p in model.parameters())
    # The same recipe serves the baseline row: an exception that matches nothing is fine there.
    assert frozen_names(config, build_model(width=8, input_size=(64, 64)))
    typo = load_config(FINETUNE, ["model.width=8", "params.freeze=['stage9.*']"])
    with pytest.raises(UserError, match="matches no parameter"):
        frozen_names(typo, build_model(width=8, input_size=(64, 64)))


def test_sgd_gets_the_solvers_momentum():
    config = load_config(None, ["solver.optimizer=sgd", "solver.momentum=0.8"])
    optimizer = build_optimizer(config, torch.nn.Linear(2, 2))
    assert optimizer.param_groups[0]["momentum"] == 0.8 and len(optimizer.param_groups) == 1
