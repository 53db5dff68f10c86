"""The one exit path of every command: error lines, and output whose reader went away."""

import subprocess
import sys

import pytest

from core.cli.entry import run_command
from core.errors import UserError
from tests.support.helpers import ROOT


def test_a_user_error_is_one_line_and_exit_2(capsys):
    def fails(argv):
        raise UserError("no such video: a.mp4")

    assert run_command(fails, []) == 2
    assert capsys.readouterr().err == "error: no such video: a.mp4\n"


@pytest.mark.parametrize("argv", [["--help"], ["weights", "list"], ["mot", "--help"]])
def test_output_into_a_closed_pipe_ends_quietly_with_sigpipe_s_status(argv):
    # The reader is gone before the command writes (`run.py weights list | head -0`).
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    # argparse's own help swallows the error and exits 0; ours stop with 141. Nobody prints a traceback.
    assert process.wait(timeout=60) in ((0, 141) if argv[-1] == "--help" and len(argv) > 1 else (141,))
    assert stderr == ""
