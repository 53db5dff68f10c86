"""`python -m core.bench.gpu_check`: the run itself, proved on the CPU with `--dry-run` (two simulated
GPUs, small models): every step reports even when one raises, one hangs inside a C call, every one
fails, or the time budget runs out; the report is on disk after every step. Numbers on a real GPU
come from a lent machine (docs/gpu.md)."""

import json
import subprocess
import sys
import time

import pytest
import torch

from core.bench import gpu_check, gpu_steps
from core.cli.entry import run_command

STEPS = [step.key for step in gpu_check.plan(gpu_steps.DRY_PROFILE)]


def report(out) -> dict:
    return json.loads((out / "gpu_check.json").read_text())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a machine without CUDA")
def test_without_cuda_it_says_so_in_one_line_and_fails(tmp_path, capsys):
    assert run_command(gpu_check.main, ["--out", str(tmp_path / "gpu")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "error: gpu_check needs an NVIDIA GPU and CUDA is not available"
    )
    assert not (tmp_path / "gpu").exists()


def test_a_dry_run_reports_every_step_when_one_raises_and_one_hangs(tmp_path):
    """The crops step hangs in a C call (killed at its 3 s limit), a parity step raises: both are
    failed rows, and every other step still runs and passes (or is skipped, saying why)."""
    out = tmp_path / "gpu"
    argv = ["--out", str(out), "--dry-run", "--inject", "hang:crops", "--limit", "crops=3"]
    argv += ["--inject", "fail:parity-eager-fp16"]
    assert run_command(gpu_check.main, argv) == 1
    data = report(out)
    assert data["state"] == "finished" and [s["step"] for s in data["steps"]] == STEPS
    status = {s["step"]: s["status"] for s in data["steps"]}
    assert status["crops"] == "timeout" and status["parity-eager-fp16"] == "failed"
    assert {status[key] for key in STEPS if key not in ("crops", "parity-eager-fp16")} == {"done"}
    failed = [c for c in data["checks"] if c["passed"] is False]
    assert [c["name"] for c in failed] == ["GPU crops", "eager fp16"], failed
    assert "timed out after 3 s" in failed[0]["detail"] and "injected failure" in failed[1]["detail"]
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["eager tf32"]["passed"] and checks["eager-plain fp32"]["passed"], "TF32 said where it is"
    assert all(c["passed"] for name, c in checks.items() if name.startswith("track on cuda"))
    assert "skipped: dry run" in checks["compile fp16"]["detail"]
    text = (out / "gpu_check.md").read_text()
    assert "DRY RUN" in text and "# Batch-size buckets" in text and "# Pose model benchmark" in text
    assert text.count("**FAIL**") == 2


def test_when_every_step_fails_the_report_is_complete_and_written_after_each(tmp_path, monkeypatch):
    writes = []
    write = gpu_check.Report.write

    def recording(self, final=False):
        writes.append(len(self.done))
        write(self, final)

    monkeypatch.setattr(gpu_check.Report, "write", recording)
    out = tmp_path / "gpu"
    assert run_command(gpu_check.main, ["--out", str(out), "--dry-run", "--inject", "fail:all"]) == 1
    assert writes == [0, *range(1, len(STEPS) + 1), len(STEPS)], (
        "once at the start, after each step, at the end"
    )
    data = report(out)
    assert [s["status"] for s in data["steps"]] == ["failed"] * len(STEPS)
    assert len(data["checks"]) == len(STEPS) and not any(c["passed"] for c in data["checks"])


def test_the_budget_bounds_the_whole_run(tmp_path):
    """A step stuck past the budget is killed at the budget; nothing starts after it."""
    out = tmp_path / "gpu"
    started = time.monotonic()
    code = run_command(
        gpu_check.main, ["--out", str(out), "--dry-run", "--budget-s", "8", "--inject", "hang:all"]
    )
    assert code == 1 and time.monotonic() - started < 25
    steps = report(out)["steps"]
    assert steps[0]["status"] == "timeout" and {s["status"] for s in steps[1:]} == {"skipped"}
    assert "time budget spent" in (out / "gpu_check.md").read_text()


def test_bad_injections_and_limits_are_one_line_errors(tmp_path, capsys):
    for argv in (["--inject", "fail:nosuchstep"], ["--inject", "explode:crops"], ["--limit", "crops"]):
        assert run_command(gpu_check.main, ["--out", str(tmp_path), "--dry-run", *argv]) == 2
        assert capsys.readouterr().err.startswith("error: ")


def test_tracking_needs_no_filterpy():
    """A bare GPU machine has no filterpy: the default (numpy) Kalman engine must not import it."""
    code = (
        "import sys; sys.modules['filterpy'] = None\n"
        "from core.track.tracker import Tracker, TrackerConfig\n"
        "Tracker(TrackerConfig()).update([], timestamp=0.0)\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
