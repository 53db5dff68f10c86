"""The training recipe: shipped TOML files, --set overrides and command-line flags."""

import pytest

from core.errors import UserError
from tests.support.helpers import ROOT
from trainer.commands import config_from_args, train_parser
from trainer.config import TrainConfig, check_resume, load_config, resume_settings

CONFIGS = ROOT / "assets" / "configs"
RECIPES = {
    "w32_256x192": (32, (192, 256)),
    "w32_384x288": (32, (288, 384)),
    "w48_256x192": (48, (192, 256)),
    "w48_384x288": (48, (288, 384)),
}


TABLE_I = ("baseline", "sub1", "sub12", "sub123", "sub1234", "stage1", "stage12", "stage123", "paper")


@pytest.mark.parametrize("preset", TABLE_I)
def test_table_i_recipes_fine_tune_their_preset_from_the_w32_baseline(preset):
    config = load_config(CONFIGS / "table1" / f"{preset}.toml")
    assert (config.model.preset, config.model.width, config.model.input_size) == (preset, 32, (192, 256))
    assert config.init.weights == "pose_hrnet_w32_256x192.pth" and config.eval.before_training
    assert config.params.attention_lr_mult == 10.0 and config.params.freeze_epochs == 2
    assert config.params.freeze_except == ("attention.*", "final_layer.*")
    assert (config.solver.lr, config.solver.base_batch, config.solver.warmup_iters) == (1e-4, 128, 500)
    assert config.augment.rotation == 40.0  # the rest comes from w32_256x192.toml through `extends`


def test_extends_loops_are_refused(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(UserError, match="loops back"):
        load_config(tmp_path / "a.toml")


def test_resume_refuses_a_changed_model_or_recipe_but_allows_more_epochs():
    saved = load_config(None, ["model.width=8", "solver.lr=1e-3"]).to_dict()
    check_resume(load_config(None, ["model.width=8", "solver.epochs=300", "run.out_dir=x"]), saved, "l.pt")
    with pytest.raises(UserError, match=r"its own model\.width = 8, not 16"):
        check_resume(load_config(None, ["model.width=16"]), saved, "l.pt")
    with pytest.raises(UserError, match=r"solver\.lr = 0\.001, not 0\.5"):
        check_resume(load_config(None, ["model.width=8", "solver.lr=0.5"]), saved, "l.pt")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_shipped_recipes_hold_the_papers_schedule(name):
    config = load_config(CONFIGS / f"{name}.toml")
    width, input_size = RECIPES[name]
    assert (config.model.width, config.model.input_size, config.model.preset) == (
        width,
        input_size,
        "baseline",
    )
    s = config.solver
    assert (s.optimizer, s.lr, s.lr_steps, s.lr_factor, s.epochs) == ("adam", 1e-3, (170, 200), 0.1, 210)
    a = config.augment
    assert (a.flip, a.rotation, a.scale, a.half_body_prob > 0) == (True, 40.0, 0.3, True)
    assert s.batch_size == 32  # HRNet's per-GPU batch
    assert (s.base_batch, s.warmup_iters, s.warmup_ratio) == (128, 500, 0.001)  # 32 × 4 GPUs; mmpose


def test_every_field_of_the_dataclass_is_in_the_shipped_file():
    """A recipe file documents every setting, so users see what they can change."""
    text = (CONFIGS / "w32_256x192.toml").read_text()
    for section, values in TrainConfig().to_dict().items():
        assert f"[{section}]" in text
        for key in values:
            assert f"\n{key} = " in text, f"{section}.{key} missing from the recipe file"


def test_set_overrides_are_typed():
    config = load_config(
        None,
        [
            "solver.lr=5e-4",
            "solver.lr_steps=[1, 2]",
            "model.input_size=96x128",
            "model.preset=paper",
            "run.out_dir=2024",
            "augment.flip=false",
            "solver.lr=1",
        ],
    )
    assert config.solver.lr == 1.0 and isinstance(config.solver.lr, float)
    assert config.solver.lr_steps == (1, 2)
    assert config.model.input_size == (96, 128)
    assert config.model.preset == "paper"
    assert config.run.out_dir == "2024"  # a path that reads as a number stays text
    assert config.augment.flip is False


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("solver", "section.key=value"),
        ("nosuch.lr=1", "unknown section"),
        ("solver.nosuch=1", "unknown setting solver.nosuch"),
        ("solver.epochs=ten", "must be an integer"),
        ("solver.epochs=1.5", "must be an integer"),
        ("augment.flip=1", "true or false"),
        ("model.input_size=100x100", "multiples of 32"),
        ("solver.optimizer=rmsprop", "adam, adamw or sgd"),
        # Each of these used to train for hours first, or die with a torch traceback, or pass silently.
        ("eval.batch_size=0", "eval.batch_size must be positive"),
        ("solver.weight_decay=-1", "solver.weight_decay must be 0 or more"),
        ("solver.momentum=-1", r"solver.momentum must lie in \[0, 1\)"),
        ("augment.sigma=0", "augment.sigma must be positive"),
        ("augment.sigma=-2", "augment.sigma must be positive"),
        ("solver.grad_clip=-1", "solver.grad_clip must be 0"),
        ("eval.oks_threshold=5", r"eval.oks_threshold must lie in \(0, 1\]"),
        ("solver.lr_factor=0", r"solver.lr_factor must lie in \(0, 1\]"),
        ("solver.lr=nan", "solver.lr must be a finite number"),
        ("solver.lr_steps=[200, 170]", "strictly increasing"),
        ("solver.base_batch=-8", "solver.base_batch"),
        ("solver.warmup_ratio=0", r"solver.warmup_ratio must lie in \(0, 1\]"),
        ("params.attention_lr_mult=0", "params.attention_lr_mult must be positive"),
        ("params.freeze_epochs=2", "params.freeze names no parameters"),
        ("augment.half_body_prob=1.5", "augment.half_body_prob"),
        ("run.log_every=0", "run.log_every"),
        ("model.preset=nosuch", "unknown attention preset"),
    ],
)
def test_bad_overrides_are_one_clear_error(assignment, message):
    with pytest.raises(UserError, match=message):
        load_config(None, [assignment])


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[solver\nlr = 1")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[solver]\nlr = 'fast'\n")
    with pytest.raises(UserError, match=r"solver\.lr must be a number"):
        load_config(wrong)


def test_flags_win_over_set_and_file():
    args = train_parser().parse_args(
        [
            "--config",
            str(CONFIGS / "w48_256x192.toml"),
            "--set",
            "solver.lr=0.5",
            "--set",
            "solver.epochs=3",
            "--lr",
            "0.25",
            "--width",
            "16",
            "--input-size",
            "64x64",
            "--coco-ann",
            "a.json",
            "--no-amp",
        ]
    )
    config = config_from_args(args)
    assert config.solver.lr == 0.25 and config.solver.epochs == 3
    assert config.model.width == 16 and config.model.input_size == (64, 64)
    assert config.data.train_ann == "a.json" and config.solver.amp is False


def test_round_trip_through_a_plain_dict():
    config = load_config(CONFIGS / "w32_384x288.toml", ["eval.every=2"])
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_a_run_resumed_from_before_opt_in_scaling_goes_on_scaling():
    """A checkpoint written when a base_batch always scaled the lr continues on its curve."""
    config = load_config(None, ["solver.base_batch=128"])
    assert resume_settings(config, {"solver": {"base_batch": 128, "lr": 1e-3}}) == [
        "--resume: the checkpoint predates solver.auto_scale_lr and scaled its lr: it still does"
    ]
    assert config.solver.auto_scale_lr
    unchanged = load_config(None, ["solver.base_batch=128"])
    assert resume_settings(unchanged, {"solver": {"base_batch": 128, "auto_scale_lr": False}}) == []
    assert not unchanged.solver.auto_scale_lr
