"""The model commands as a user runs them: `run.py info`, `convert` and `export`."""

import argparse
import importlib.util
import re
import subprocess
import sys

import pytest
import torch

from core.model.attention import PRESETS, attention_parameter_count, position_channels
from core.model.checkpoint import load_checkpoint, save_checkpoint
from core.model.complexity import attention_parameters, count_flops, count_parameters
from core.model.hrnet import build_model
from core.model.paper import PAPER_ROWS
from tests.support.helpers import ROOT

SMALL = "64x96"
torch.set_num_threads(2)


def run_main(argv, capsys):
    """`python run.py ARGV` in this process: (exit code, stdout, stderr)."""
    spec = importlib.util.spec_from_file_location("run_entry", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def meta_model(**kwargs):
    with torch.device("meta"):
        return build_model(**kwargs)


def assert_one_line_error(code, out, err):
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + out


@pytest.fixture
def bad_checkpoints(tmp_path, shared_data):
    (tmp_path / "notes.txt").write_text("not weights\n")
    (tmp_path / "empty.pth").write_bytes(b"")
    trainer_state = {"state_dict": {"x": torch.zeros(1)}, "args": argparse.Namespace(lr=1)}
    torch.save(trainer_state, tmp_path / "pickle.pth")
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "resnet.pth")
    state = build_model(width=16, preset="stage1", input_size=(64, 96)).state_dict()
    del state["final_layer.bias"]
    torch.save(state, tmp_path / "mismatch.pth")
    return {
        "missing": (tmp_path / "missing.pth", "not found"),
        "folder": (tmp_path, "not a file"),
        "text": (tmp_path / "notes.txt", "not a PyTorch checkpoint"),
        "jpg": (next((shared_data / "coco_mini" / "images").glob("*.jpg")), "JPEG"),
        "empty": (tmp_path / "empty.pth", "empty"),
        "refused pickle": (tmp_path / "pickle.pth", "will not unpickle argparse.Namespace"),
        "not hrnet": (tmp_path / "resnet.pth", "does not look like an HRNet"),
        "mismatch": (tmp_path / "mismatch.pth", "width 16, attention positions [1.1,1.2], 17 joints; 1 miss"),
    }


def test_each_bad_checkpoint_gives_its_one_line_error(bad_checkpoints, capsys):
    for name, (path, phrase) in bad_checkpoints.items():
        code, out, err = run_main(["info", "--checkpoint", str(path)], capsys)
        assert_one_line_error(code, out, err)
        assert phrase in err, name


@pytest.mark.parametrize("case", ["refused pickle", "jpg"])
def test_bad_checkpoint_through_the_real_entry_point(bad_checkpoints, case):
    path, phrase = bad_checkpoints[case]
    result = subprocess.run(
        [sys.executable, "run.py", "info", "--checkpoint", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(result.returncode, result.stdout, result.stderr)
    assert phrase in result.stderr


def test_info_for_a_preset_shows_measured_numbers_beside_the_papers(capsys):
    code, out, err = run_main(["info", "--width", "48", "--preset", "paper"], capsys)
    assert code == 0 and not err
    model = meta_model(width=48, preset="paper")
    assert "positions   1.1 1.2 2.1 3.1" in out
    assert f"{count_parameters(model):,} total, {attention_parameters(model):,} in attention" in out
    flops = count_flops(model, (192, 256))
    assert f"{flops / 1e9:.2f} G at 192x256 = {flops / 2e9:.2f} G multiply-adds" in out
    row = PAPER_ROWS[("paper", 48)]
    assert f"#Params {row.params_millions:.1f}M, AP {row.ap:.1f} (paper's Table II" in out
    assert "quoted, not measured" in out and "untrained" in out


def test_info_all_lists_every_preset_at_both_widths(capsys):
    code, out, _ = run_main(["info", "--all"], capsys)
    assert code == 0
    rows = [line.split() for line in out.splitlines() if re.match(r"W(32|48) ", line)]
    assert [(r[0], r[1]) for r in rows] == [(f"W{w}", name) for w in (32, 48) for name in PRESETS]
    baseline = {w: count_parameters(meta_model(width=w)) for w in (32, 48)}
    for width_text, name, *rest in rows:
        width = int(width_text[1:])
        formula = sum(attention_parameter_count(position_channels(width, p)) for p in PRESETS[name])
        params, attention = int(rest[-7].replace(",", "")), int(rest[-6].replace(",", ""))
        assert (params, attention) == (baseline[width] + formula, formula)
        paper = PAPER_ROWS.get((name, width))
        assert rest[-2:] == ([f"{paper.params_millions:.1f}M", f"{paper.ap:.1f}"] if paper else ["-", "-"])


def test_info_reads_a_checkpoint_config_and_meta(tmp_path, capsys):
    model = build_model(width=16, preset="1.1,3.4", input_size=(64, 96))
    path = save_checkpoint(model, tmp_path / "m.pt", {"epoch": 2})
    code, out, _ = run_main(["info", "--checkpoint", str(path)], capsys)
    assert code == 0
    assert "HRNet-W16, preset 1.1,3.4 (2 attention modules)" in out
    assert "64x96 (w x h) -> heatmaps 16x24" in out and "our format" in out and '"epoch": 2' in out


def test_unknown_preset_is_a_one_line_error(capsys):
    code, out, err = run_main(["info", "--preset", "sub5"], capsys)
    assert_one_line_error(code, out, err)
    assert "stage123" in err


def test_convert_official_and_mmpose(tmp_path, capsys):
    model = build_model(width=16, input_size=(64, 96))
    torch.save(model.state_dict(), tmp_path / "official.pth")
    code, out, _ = run_main(
        [
            "convert",
            "--from",
            "official",
            str(tmp_path / "official.pth"),
            "--preset",
            "paper",
            "--out",
            str(tmp_path / "ours.pt"),
            "--input-size",
            SMALL,
        ],
        capsys,
    )
    assert code == 0 and "wrote" in out
    loaded = load_checkpoint(tmp_path / "ours.pt")
    assert (loaded.model.config.preset, loaded.model.config.input_size) == ("paper", (64, 96))
    converted, state = loaded.model.state_dict(), model.state_dict()
    assert all(torch.equal(converted[k], v) for k, v in state.items())

    mm = {(f"head.{k}" if k.startswith("final_") else f"backbone.{k}"): v for k, v in state.items()}
    torch.save({"state_dict": mm}, tmp_path / "mmpose.pth")
    code, _, _ = run_main(
        ["convert", "--from", "mmpose", str(tmp_path / "mmpose.pth"), "--out", str(tmp_path / "mm.pt")],
        capsys,
    )
    assert code == 0 and load_checkpoint(tmp_path / "mm.pt").model.config.preset == "baseline"
    code, out, err = run_main(
        ["convert", "--from", "official", str(tmp_path / "mmpose.pth"), "--out", str(tmp_path / "x.pt")],
        capsys,
    )
    assert_one_line_error(code, out, err)
    assert "use --from mmpose" in err


def test_export_onnx_reports_parity(tmp_path, capsys):
    out_path = tmp_path / "model.onnx"
    code, out, _ = run_main(
        [
            "export",
            "--format",
            "onnx",
            "--width",
            "16",
            "--preset",
            "paper",
            "--input-size",
            SMALL,
            "--out",
            str(out_path),
        ],
        capsys,
    )
    assert code == 0 and out_path.is_file()
    max_rel = float(re.search(r"max rel error ([0-9.e+-]+)", out)[1])
    assert max_rel <= 1e-4
    assert "dynamic batch" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine TensorRT export may really run")
def test_export_tensorrt_without_cuda_is_a_one_line_error(tmp_path, capsys):
    code, out, err = run_main(
        ["export", "--format", "tensorrt", "--width", "16", "--out", str(tmp_path / "m.engine")], capsys
    )
    assert_one_line_error(code, out.replace("note:", ""), err)
    assert "TensorRT" in err
    assert not (tmp_path / "m.engine").exists()


def test_output_paths_and_opsets_are_checked_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (tmp_path / "folder").mkdir()
    small = ["--width", "8", "--input-size", SMALL]
    cases = [
        (["export", *small, "--out", str(blocker / "m.onnx")], "it is a file"),
        (["export", *small, "--out", str(tmp_path / "folder")], "it is a folder"),
        (["export", *small, "--opset", "3", "--out", str(tmp_path / "m.onnx")], "opsets 9 to"),
        (["export", *small, "--opset", "99", "--out", str(tmp_path / "m.onnx")], "opsets 9 to"),
        (
            ["convert", "--from", "official", str(blocker), "--out", str(tmp_path / "folder")],
            "it is a folder",
        ),
        (["bench", "--quick", "--out", str(blocker)], "is a file"),
        (
            ["bench", "--quick", "--repeats", "0", "--out", str(tmp_path / "b")],
            "--repeats must be at least 1",
        ),
    ]
    for argv, words in cases:
        code, out, err = run_main(argv, capsys)
        assert_one_line_error(code, out.replace("note:", ""), err)
        assert words in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]


def test_export_accepts_checkpoint_none_as_track_does(tmp_path, capsys):
    out = tmp_path / "untrained.onnx"
    argv = ["export", "--checkpoint", "none", "--width", "8", "--input-size", SMALL, "--out", str(out)]
    code, stdout, err = run_main([*argv, "--no-check"], capsys)
    assert code == 0 and err == "", err
    assert "untrained" in stdout and f"wrote {out}: HRNet-W8" in stdout and out.stat().st_size > 0
    code, stdout, _ = run_main(["info", "--checkpoint", "none", "--width", "8"], capsys)
    assert code == 0 and "untrained (no checkpoint)" in stdout
