"""The training loop: exact resume, checkpoints and logs, weight initialisation, `run.py train` errors."""

import csv
import json
import sys
from pathlib import Path

import pytest
import torch

from core.errors import UserError
from core.model.checkpoint import load_model, save_checkpoint
from core.model.hrnet import build_model
from tests.support.helpers import ROOT
from trainer.config import TrainConfig, load_config
from trainer.train import train
from trainer.weights import init_from_imagenet, init_from_pose

sys.path.insert(0, str(ROOT))
import run
from tests.support.helpers import limit_torch_threads


@pytest.fixture(scope="module")
def mini(shared_data):
    root = shared_data / "coco_mini"
    return root / "person_keypoints.json", root / "images"


_torch_threads = limit_torch_threads(1)  # two threads on two busy cores are far slower than one


def tiny_config(mini, out: Path, **sections) -> TrainConfig:
    """Width 8 at 64×64 on coco_mini, deterministic (no workers, fixed seed), no validation."""
    ann, images = mini
    settings = {
        "model.width": 8,
        "model.input_size": (64, 64),
        "data.train_ann": str(ann),
        "data.train_images": str(images),
        "data.workers": 0,
        "solver.batch_size": 4,
        "solver.epochs": 3,
        "solver.lr_steps": (2,),
        "eval.every": 0,
        "run.out_dir": str(out),
        "run.progress": False,
        "run.tensorboard": False,
        "run.seed": 3,
        "run.max_iters_per_epoch": 2,
    }
    config = TrainConfig()
    for name, value in settings.items():
        config.set(name, value)
    for name, value in sections.items():
        config.set(name.replace("__", "."), value)
    return config


def test_resume_after_an_interruption_repeats_the_uninterrupted_run(mini, tmp_path):
    """An interruption after epoch 1 (what a run with epochs=1 leaves behind), then --resume."""
    whole = train(tiny_config(mini, tmp_path / "whole"))
    interrupted = train(tiny_config(mini, tmp_path / "cut", solver__epochs=1))
    resumed = train(tiny_config(mini, tmp_path / "cut"), resume=tmp_path / "cut" / "latest.pt")

    losses = [row["loss"] for row in whole.history]
    assert len(losses) == 3 and losses[0] == interrupted.history[0]["loss"]
    assert [row["loss"] for row in resumed.history] == pytest.approx(losses, abs=1e-6)
    assert [row["lr"] for row in resumed.history] == pytest.approx([1e-3, 1e-3, 1e-4])  # scheduler restored
    resumed_state = resumed.model.state_dict()
    for key, value in whole.model.state_dict().items():
        assert torch.allclose(value.float(), resumed_state[key].float(), atol=1e-6), key

    rows = list(csv.DictReader((tmp_path / "cut" / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    state = torch.load(tmp_path / "cut" / "latest.pt", weights_only=True)
    assert (
        state["meta"]["epoch"] == 3
        and {"optimizer", "scheduler", "scaler", "rng"} <= state["training"].keys()
    )
    assert load_model(tmp_path / "cut" / "latest.pt").config.width == 8


def test_validation_every_epoch_keeps_the_best_checkpoint(mini, tmp_path, capsys):
    ann, images = mini
    config = tiny_config(
        mini,
        tmp_path,
        solver__epochs=2,
        eval__every=1,
        eval__flip=False,
        data__val_ann=str(ann),
        data__val_images=str(images),
        run__max_iters_per_epoch=1,
        run__log_every=1,
        eval__before_training=True,
    )
    result = train(config)
    printed = capsys.readouterr().out
    assert [row["epoch"] for row in result.history] == [0, 1, 2]  # 0: the starting weights, scored
    assert all(0.0 <= row["AP"] <= 1.0 and row["val_seconds"] > 0 for row in result.history)
    assert all(name in result.history[0] for name in ("AR50", "AR75", "ARM", "ARL", "APM", "APL"))
    assert result.best_ap == max(row["AP"] for row in result.history[1:])
    assert printed.count(" Average Recall     (AR) @[ IoU=0.75      | area=   all | maxDets= 20 ] = ") == 3
    assert (
        "epoch 1/2 iter 1/1 | data " in printed
        and " samples/s | eta " in printed
        and " | lr 0.001 | " in printed
    )
    assert "epoch 2/2: loss " in printed and ", validation " in printed
    header = (tmp_path / "log.csv").read_text().splitlines()[0]
    assert header.endswith("val_seconds,AP,AP50,AP75,APM,APL,AR,AR50,AR75,ARM,ARL")
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "results_epoch2.json").is_file()
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert "training" not in best and best["meta"]["best_ap"] == result.best_ap
    with pytest.raises(UserError, match="no training state"):
        train(tiny_config(mini, tmp_path), resume=tmp_path / "best.pt")


def test_attention_preset_fine_tunes_from_a_baseline_checkpoint(tmp_path):
    torch.manual_seed(0)
    baseline = build_model(width=8, input_size=(64, 64))
    path = save_checkpoint(baseline, tmp_path / "baseline.pt")
    model = build_model(width=8, preset="paper", input_size=(64, 64))
    report = init_from_pose(model, path)
    assert report.new and all(k.startswith("attention.") for k in report.new)
    assert report.loaded == len(baseline.state_dict()) and not report.ignored
    assert "attention modules s1b1, s1b2, s2b1, s3b1" in report.describe()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), baseline.eval()(x), atol=1e-6)  # new modules start as identity
    with pytest.raises(UserError, match="do not fit"):
        init_from_pose(build_model(width=16, input_size=(64, 64)), path)


def test_imagenet_backbone_loads_matching_keys_only(tmp_path):
    torch.manual_seed(1)
    model = build_model(width=8, input_size=(64, 64))
    donor = build_model(width=8, input_size=(64, 64)).state_dict()
    classification = {k: v + 1.0 for k, v in donor.items() if not k.startswith("final_layer")}
    classification["final_layer.0.weight"] = torch.zeros(1024, 128, 1, 1)  # the classifier's own head
    classification["classifier.weight"] = torch.zeros(1000, 2048)
    classification["incre_modules.0.0.conv1.weight"] = torch.zeros(32, 8, 1, 1)
    classification["stage4.2.fuse_layers.1.0.0.0.weight"] = torch.zeros(16, 8, 3, 3)
    path = tmp_path / "hrnet_w8_imagenet.pth"
    torch.save(classification, path)
    before = model.final_layer.weight.clone()
    report = init_from_imagenet(model, path)
    assert report.loaded == len(donor) - 2  # everything but final_layer.weight/bias
    assert len(report.ignored) == 4 and "classifier.weight" in report.ignored
    assert torch.equal(
        model.stage3[0].branches[1][0].conv1.weight, classification["stage3.0.branches.1.0.conv1.weight"]
    )
    assert torch.equal(model.final_layer.weight, before)
    with pytest.raises(UserError, match="backbone tensors match"):
        init_from_imagenet(build_model(width=16, input_size=(64, 64)), path)


def test_train_command_runs_and_reports(mini, tmp_path, capsys):
    ann, images = mini
    argv = [
        "train",
        "--width",
        "8",
        "--input-size",
        "64x64",
        "--epochs",
        "1",
        "--batch-size",
        "6",
        "--workers",
        "0",
        "--no-progress",
        "--set",
        "run.max_iters_per_epoch=1",
    ]
    argv += ["--coco-ann", str(ann), "--images", str(images), "--out", str(tmp_path)]
    assert run.main(argv) == 0
    out = capsys.readouterr().out
    assert "done: 1 epochs" in out and (tmp_path / "latest.pt").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "log.csv").read_text().startswith("epoch,loss,lr,")


def test_an_explicit_lr_is_the_lr_used_and_scaling_is_asked_for(mini, tmp_path, capsys):
    """The W32 recipe says base_batch = 128; `--lr 2e-3 --batch-size 6` trains at 2e-3 (it trained at
    9.4e-5), and the start line says so, with what --auto-scale-lr would do."""
    ann, images = mini
    argv = ["train", "--config", str(ROOT / "assets" / "configs" / "w32_256x192.toml"), "--width", "8"]
    argv += ["--input-size", "64x64", "--epochs", "1", "--batch-size", "6", "--lr", "2e-3", "--workers", "0"]
    argv += ["--no-progress", "--eval-every", "0", "--set", "run.max_iters_per_epoch=1"]
    argv += ["--set", "run.tensorboard=false", "--coco-ann", str(ann), "--images", str(images)]

    def lr_used(*extra: str) -> tuple[float, str]:
        out = tmp_path / f"run{len(extra)}"
        assert run.main([*argv, "--out", str(out), *extra]) == 0
        start = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("lr "))
        return float((out / "log.csv").read_text().splitlines()[1].split(",")[2]), start

    lr, start = lr_used()  # one iteration: the warm-up is capped to none
    assert lr == 2e-3 and start.startswith("lr 0.002 as given (global batch 6 = 6 × 1 rank; --auto-scale-lr")
    assert "; no warm-up;" in start
    lr, start = lr_used("--auto-scale-lr")
    assert lr == pytest.approx(2e-3 * 6 / 128) and start.startswith(
        "lr 9.38e-05 (solver.lr 0.002 for a global"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--coco-ann", "MISSING"], "COCO annotation file not found"),
        (["--coco-ann", "DETECTIONS"], "detections file"),
        (["--coco-ann", "EMPTY"], "no person annotations with keypoints"),
        (["--coco-ann", "ANN", "--images", "MISSING"], "image folder not found"),
        (["--coco-ann", "ANN", "--resume"], "no "),
        (["--coco-ann", "ANN", "--set", "solver.lr=fast"], "solver.lr must be a number"),
        (["--coco-ann", "ANN", "--init", "ANN"], "not a PyTorch checkpoint"),
        (["--coco-ann", "ANN", "--preset", "nosuch"], "nosuch"),
        (["--coco-ann", "ANN", "--grad-clip", "-1"], "solver.grad_clip must be 0"),
        (["--coco-ann", "ANN", "--set", "eval.batch_size=0"], "eval.batch_size must be positive"),
        (["--coco-ann", "ANN", "--set", "augment.sigma=0"], "augment.sigma must be positive"),
    ],
)
def test_train_bad_input_is_one_line(mini, shared_data, tmp_path, capsys, args, message):
    ann, images = mini
    data = json.loads(ann.read_text())
    empty = tmp_path / "empty.json"
    empty.write_text(
        json.dumps(dict(data, annotations=[a for a in data["annotations"] if not a["num_keypoints"]]))
    )
    names = {
        "MISSING": str(tmp_path / "missing"),
        "ANN": str(ann),
        "EMPTY": str(empty),
        "DETECTIONS": str(shared_data / "coco_mini" / "person_detections.json"),
    }
    argv = [
        "train",
        "--images",
        str(images),
        "--out",
        str(tmp_path / "out"),
        "--width",
        "8",
        "--input-size",
        "64x64",
        "--no-progress",
        *[names.get(a, a) for a in args],
    ]
    assert run.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_the_fine_tuning_recipe_moves_gamma_and_holds_frozen_parameters(mini, tmp_path):
    """assets/configs/table1/paper.toml at width 8 on coco_mini: the recipe's parameter groups as
    shipped (attention ×10 lr, everything but attention and final layer frozen for 2 epochs), its lr
    at its base batch (base_batch = the tiny batch) and no warm-up (500 iterations outlast this test).

    gamma starts at 0; Adam moves a parameter by about its lr per step, so after 4 steps at
    1e-4 × 10 every gamma must be at least 1e-3 from 0 (measured: 1.7e-3 to 3.6e-3), the largest 5×
    further than with multiplier 1, and the attention weights (which get gradients only once gamma is
    not 0) must have moved by at least 1e-4 too (measured in each module)."""
    ann, images = mini
    torch.manual_seed(0)
    baseline = save_checkpoint(build_model(width=8, input_size=(64, 64)), tmp_path / "baseline.pt")
    start = dict(load_model(baseline).named_parameters())

    def fine_tune(out: str, epochs: int, *extra: str):
        config = load_config(ROOT / "assets/configs/table1/paper.toml", [*TINY_SETTINGS, *extra])
        for name, value in {"data.train_ann": str(ann), "data.train_images": str(images)}.items():
            config.set(name, value)
        config.set("init.weights", str(baseline))
        config.set("run.out_dir", str(tmp_path / out))
        config.set("solver.epochs", epochs)
        return {n: v.detach() for n, v in train(config).model.named_parameters()}

    frozen_phase = fine_tune("a", 2)  # 2 epochs × 2 iterations, all inside the frozen epochs
    for name, value in frozen_phase.items():
        if not name.startswith(("attention.", "final_layer.")):
            assert torch.equal(value, start[name]), f"{name} moved while frozen"
    gammas = {n: float(v.detach()) for n, v in frozen_phase.items() if n.endswith("gamma")}
    assert len(gammas) == 4 and min(abs(g) for g in gammas.values()) >= 1e-3, gammas
    torch.manual_seed(3)  # run.seed: the attention modules' initialisation, which init_from_pose keeps
    fresh = {
        n: v.detach() for n, v in build_model(width=8, preset="paper", input_size=(64, 64)).named_parameters()
    }
    moved: dict[str, float] = {}  # per module, the largest change of a CAM/SAM weight (a width-8 CAM has
    for n, value in frozen_phase.items():  # one hidden unit, which a dead ReLU may stop entirely)
        if n.startswith("attention.") and not n.endswith("gamma"):
            module = n.split(".")[1]
            moved[module] = max(moved.get(module, 0.0), float((value - fresh[n]).abs().max()))
    assert len(moved) == 4 and min(moved.values()) >= 1e-4, moved

    plain = fine_tune("b", 2, "params.attention_lr_mult=1.0")
    plain_gamma = max(abs(float(v.detach())) for n, v in plain.items() if n.endswith("gamma"))
    assert max(abs(g) for g in gammas.values()) >= 5 * plain_gamma  # measured: 10×

    after = fine_tune("c", 3)  # epoch 3: the frozen parameters train as well
    assert not torch.equal(after["conv1.weight"], start["conv1.weight"])


TINY_SETTINGS = [
    "model.width=8",
    "model.input_size=64x64",
    "data.workers=0",
    "solver.batch_size=4",
    "solver.base_batch=4",
    "solver.warmup_iters=0",
    "eval.every=0",
    "run.progress=false",
    "run.tensorboard=false",
    "run.seed=3",
    "run.max_iters_per_epoch=2",
]


def test_resume_refuses_options_that_would_change_the_run(mini, tmp_path, capsys):
    ann, images = mini
    argv = ["train", "--coco-ann", str(ann), "--images", str(images), "--out", str(tmp_path), "--no-progress"]
    argv += ["--width", "8", "--input-size", "64x64", "--epochs", "1", "--workers", "0"]
    argv += ["--set", "run.max_iters_per_epoch=1", "--set", "run.tensorboard=false"]
    assert run.main(argv) == 0
    for change, field in ((["--width", "16"], "model.width"), (["--lr", "0.5"], "solver.lr")):
        capsys.readouterr()
        assert run.main([*argv, "--epochs", "2", "--resume", *change]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: --resume continues ") and field in err and "\n" not in err
    assert run.main([*argv, "--epochs", "2", "--resume"]) == 0  # more epochs: allowed
