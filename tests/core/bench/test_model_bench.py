"""`run.py bench`: the files it writes and what a row holds. Nothing here checks speed (a timed unit
test on a shared machine would only measure the neighbours); the benchmark itself is the speed check."""

import json

import pytest
import torch

import run
from core.bench.models import (
    DEFAULT_ROWS,
    PAPER,
    BenchConfig,
    BenchRow,
    markdown_table,
    parse_rows,
    plan_backends,
)
from core.errors import UserError
from tests.support.helpers import limit_torch_threads

MACHINE_FIELDS = {"machine", "cpu", "gpu", "device", "threads", "torch", "tensorrt", "torch_tensorrt"}


_torch_threads = limit_torch_threads(None)  # `bench` sets its own count; put the previous one back


def test_quick_bench_writes_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "bench"
    code = run.main(
        [
            "bench",
            "--quick",
            "--backends",
            "eager-plain,eager",
            "--input-size",
            "64x64",
            "--threads",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    rows = json.loads((out / "bench.json").read_text())
    # --quick: W32 baseline and paper, batch 1; two backends requested -> four rows.
    assert [(r["preset"], r["backend"], r["batch"]) for r in rows] == [
        ("baseline", "eager-plain", 1),
        ("baseline", "eager", 1),
        ("paper", "eager-plain", 1),
        ("paper", "eager", 1),
    ]
    for row in rows:
        assert set(row) >= MACHINE_FIELDS and row["threads"] == 1
        assert row["width"] == 32 and row["input_size"] == "64x64"
        assert 0 < row["latency_p50_ms"] <= row["latency_p95_ms"]
        assert row["crops_per_s"] == pytest.approx(1000.0 / row["latency_p50_ms"], rel=1e-2)
        assert row["paper_params_m"] == PAPER[(32, row["preset"])][0]
        assert row["rel_error_vs_fp32"] is not None
    plain = [r for r in rows if r["backend"] == "eager-plain"]
    assert all(r["precision"] == "fp32" and r["rel_error_vs_fp32"] == 0 for r in plain)
    assert rows[0]["params_m"] == pytest.approx(28.536, abs=1e-3)  # HRNet-W32, measured
    assert rows[2]["positions"] == "1.1,1.2,2.1,3.1" and rows[2]["params_m"] > rows[0]["params_m"]

    table = (out / "bench.md").read_text()
    assert "| width | preset | attention positions | params (M) | FLOPs (G) | backend |" in table
    assert "paper #Params (M) | paper AP |" in table
    assert sum(line.startswith("| W32 ") for line in table.splitlines()) == 4
    assert "× eager-plain fp32" in table
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*")), "no temporary files left behind"
    assert "wrote" in capsys.readouterr().out


def test_default_grid_is_the_papers_eleven_rows():
    assert parse_rows("all") == list(DEFAULT_ROWS)
    assert len(DEFAULT_ROWS) == 11 and set(DEFAULT_ROWS) == set(PAPER)
    assert parse_rows("baseline, w48:paper") == [(32, "baseline"), (48, "paper")]
    with pytest.raises(UserError, match="unknown preset"):
        parse_rows("sub9")
    with pytest.raises(UserError, match="wWIDTH:PRESET"):
        parse_rows("48:paper")


def test_precisions_a_backend_cannot_run_are_skipped():
    cpu = torch.device("cpu")
    config = BenchConfig(backends=["eager-plain", "eager"], precisions=["fp32", "bf16"])
    assert plan_backends(config, cpu) == [("eager-plain", "fp32"), ("eager", "fp32"), ("eager", "bf16")]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a machine without CUDA")
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backends", "tensorrt"], "tensorrt cannot run"),
        (["--backends", "auto"], "auto"),
        (["--presets", "nope"], "unknown preset"),
        (["--precisions", "fp8"], "unknown precision"),
        (["--batch", "0"], "positive"),
        (["--input-size", "100x100"], "multiples of 32"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, message):
    code = run.main(["bench", "--quick", "--out", str(tmp_path), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "bench.json").exists()


def test_markdown_shows_paper_numbers_only_where_the_paper_has_them():
    row = BenchRow(
        width=48,
        preset="sub1",
        positions="1.1,2.1,3.1",
        parameters=63_600_000,
        params_m=63.6,
        flops_g=31.0,
        backend="eager",
        precision="bf16",
        batch=8,
        input_size="192x256",
        latency_p50_ms=100.0,
        latency_p95_ms=110.0,
        crops_per_s=80.0,
        paper_params_m=None,
        paper_ap=None,
        rel_error_vs_fp32=None,
        repeats=10,
        warmup=3,
    )
    info = {
        "machine": "m",
        "cpu": "c",
        "gpu": None,
        "device": "cpu",
        "threads": 2,
        "torch": "t",
        "onnxruntime": None,
        "tensorrt": None,
        "torch_tensorrt": None,
        "date": "d",
    }
    line = next(line for line in markdown_table([row], info).splitlines() if line.startswith("| W48"))
    assert line.endswith("| — | — |")
