"""`python run.py report OUT` as a user types it: the page from the folder alone, or one error line."""

import subprocess
import sys

import pytest

from tests.support.helpers import ROOT
from tests.support.report_runs import make_run


def report(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "run.py", "report", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_report_is_made_again_from_the_folder(tmp_path):
    out = make_run(tmp_path / "out", frames=(8,), failed=1)
    run = report(out, "--no-progress")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout == f"report: {out / 'report.html'}\n"
    text = (out / "report.html").read_text()
    assert text.count('<section id="video-') == 2 and "cannot decode broken.mp4" in text
    elsewhere = tmp_path / "copy.html"
    assert report(out, "--output", elsewhere, "--rebuild", "--no-progress").returncode == 0
    assert elsewhere.is_file()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["{tmp}/missing"], "no such output folder"),
        (["{tmp}"], "no summary.json"),
        (["{out}", "--output", "{out}/summary.json/x.html"], "it is a file"),
        ([], "the following arguments are required: OUT"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path, args, words):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"videos": []}')
    (tmp_path / "empty").mkdir()
    run = report(*(a.format(tmp=tmp_path / "empty", out=out) for a in args))
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert run.returncode == 2 and len(errors) == 1 and words in errors[0], run.stderr
    assert "Traceback" not in run.stderr
