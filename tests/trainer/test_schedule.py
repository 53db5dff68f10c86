"""Parameter groups, freezing and the learning-rate curve (linear scaling, warm-up, steps)."""

import pytest
import torch

from core.errors import UserError
from core.model.hrnet import build_model
from tests.support.helpers import ROOT
from trainer.config import load_config
from trainer.schedule import LrSchedule, build_optimizer, frozen_names, set_frozen

FINETUNE = ROOT / "assets" / "configs" / "table1" / "paper.toml"


def test_the_lr_is_used_as_given_unless_scaling_is_asked_for():
    """A recipe tuned for 128 images per step, trained at 6 on one process: `--lr 2e-3` trains at 2e-3
    (it trained at 9.4e-5 when scaling was implicit); `--auto-scale-lr` scales, as mmengine's does."""
    recipe = ["solver.lr=2e-3", "solver.base_batch=128", "solver.batch_size=6"]
    assert LrSchedule.from_config(load_config(None, recipe), 1, 45).base_lr == 2e-3
    scaled = load_config(None, [*recipe, "solver.auto_scale_lr=true", "solver.batch_size=32"])
    assert LrSchedule.from_config(scaled, world_size=4, iters_per_epoch=10).base_lr == pytest.approx(2e-3)
    assert LrSchedule.from_config(scaled, world_size=1, iters_per_epoch=10).base_lr == pytest.approx(5e-4)
    assert LrSchedule.from_config(scaled, world_size=16, iters_per_epoch=10).base_lr == pytest.approx(8e-3)
    with pytest.raises(UserError, match=r"auto_scale_lr needs solver\.base_batch"):
        load_config(None, ["solver.auto_scale_lr=true"])


def test_the_start_line_says_the_lr_its_scaling_and_the_warm_up():
    recipe = ROOT / "assets" / "configs" / "w32_256x192.toml"
    config = load_config(recipe, ["solver.lr=2e-3", "solver.batch_size=6", "solver.epochs=90"])
    line = LrSchedule.from_config(config, world_size=1, iters_per_epoch=3).describe(config, world_size=1)
    assert line == (
        "lr 0.002 as given (global batch 6 = 6 × 1 rank; --auto-scale-lr would make it 9.38e-05, the "
        "recipe's lr being for 128); linear warm-up over 27 iterations from 0.001× (solver.warmup_iters 500, "
        "capped at 10% of the run); ×0.1 at epochs 170, 200"
    )
    config.solver.auto_scale_lr = True
    line = LrSchedule.from_config(config, world_size=2, iters_per_epoch=3).describe(config, world_size=2)
    assert line.startswith(
        "lr 0.000188 (solver.lr 0.002 for a global batch of 128, scaled to 12 = 6 × 2 ranks);"
    )


def test_the_warm_up_never_outlasts_its_share_of_the_run():
    """mmpose's 500 iterations are 0.4 % of a COCO run and all of a 270-iteration one."""
    short = load_config(None, ["solver.warmup_iters=500", "solver.epochs=90"])
    assert LrSchedule.from_config(short, world_size=1, iters_per_epoch=3).warmup_iters == 27
    coco = load_config(None, ["solver.warmup_iters=500", "solver.epochs=210"])
    assert LrSchedule.from_config(coco, world_size=1, iters_per_epoch=1170).warmup_iters == 500
    half = load_config(
        None, ["solver.warmup_iters=500", "solver.epochs=90", "solver.warmup_max_fraction=0.5"]
    )
    assert LrSchedule.from_config(half, world_size=1, iters_per_epoch=3).warmup_iters == 135
    # A resumed run keeps the warm-up it started with, whatever its new length.
    assert LrSchedule.from_config(short, 1, 3, warmup_iters=27).warmup_iters == 27


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
