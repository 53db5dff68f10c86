"""`run.py table1` (trainer.table): every Table I row trained from its recipe, then one table of AP beside the
paper's numbers and the measured size; a rerun trains nothing already done."""

import json

import torch

from core.model.checkpoint import save_checkpoint
from core.model.hrnet import build_model
from tests.support.helpers import limit_torch_threads
from trainer import table

_torch_threads = limit_torch_threads(1)


def test_two_rows_train_and_land_in_one_table(shared_data, tmp_path, capsys):
    root = shared_data / "coco_mini"
    torch.manual_seed(0)
    baseline = save_checkpoint(build_model(width=8, input_size=(64, 64)), tmp_path / "w8_baseline.pt")
    argv = ["--out", str(tmp_path / "table"), "--presets", "paper,baseline", "--init", str(baseline)]
    argv += ["--coco-ann", str(root / "person_keypoints.json"), "--images", str(root / "images")]
    argv += ["--val-ann", str(root / "person_keypoints.json"), "--val-images", str(root / "images")]
    argv += ["--width", "8", "--input-size", "64x64", "--epochs", "1", "--batch-size", "4", "--workers", "0"]
    argv += ["--no-progress", "--set", "run.max_iters_per_epoch=1", "--set", "eval.every=1"]
    argv += ["--set", "eval.flip=false", "--set", "run.tensorboard=false", "--set", "solver.warmup_iters=0"]
    assert table.main(argv) == 0
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "table" / "table1.json").read_text())
    assert [r["preset"] for r in rows] == ["paper", "baseline"]
    assert rows[0]["positions"] == "1.1,1.2,2.1,3.1" and rows[1]["positions"] == "-"
    assert rows[0]["parameters"] > rows[1]["parameters"] and rows[0]["flops_g"] > 0
    assert all(r["epochs"] == 1 and r["best_epoch"] == 1 and 0 <= r["AP"] <= 100 for r in rows)
    assert all(r["start_ap"] is not None and r["cpu"] for r in rows)  # eval.before_training from the recipe
    assert rows[0]["paper_ap"] is None  # the paper has no width-8 row
    markdown = (tmp_path / "table" / "table1.md").read_text()
    assert "| W8 | paper | 1.1,1.2,2.1,3.1 |" in markdown and markdown in printed

    assert table.main([*argv, "--presets", "paper"]) == 0  # done already: collected, not trained again
    assert "row paper: 1 epochs already in" in capsys.readouterr().out


def test_a_bad_row_option_stops_before_any_row_trains(tmp_path, capsys):
    from core.cli.entry import run_command

    argv = ["--out", str(tmp_path), "--presets", "sub1,paper", "--set", "solver.lr_factor=0"]
    assert run_command(table.main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: row sub1: solver.lr_factor must lie in (0, 1]" and not list(tmp_path.iterdir())
    assert run_command(table.main, ["--presets", "sub5"]) == 2
    assert "not in Table I" in capsys.readouterr().err
