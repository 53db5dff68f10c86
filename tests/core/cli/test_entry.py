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


def test_credentials_are_masked_in_error_lines_and_in_tracebacks_of_threads_and_bugs():
    """A URL with a password may reach the screen through an error line, an exception that ends a
    thread (named after the stream it opens) or a bug's traceback: all three are masked."""
    script = """
import sys, threading
from core.cli.entry import run_command
from core.errors import UserError

def command(argv):
    url = "rtsp://admin:pa/ss#1@10.0.0.5/stream"
    def opens():
        raise ValueError(f"cannot parse {url}")
    thread = threading.Thread(target=opens, name=f"open {url}")
    thread.start()
    thread.join()
    if argv == ["bug"]:
        raise RuntimeError(f"a bug while reading http://login:passw0rd@host/x")
    raise UserError(f"cannot open stream {url}")

sys.exit(run_command(command, sys.argv[1:]))
"""
    for argv, code, last in (
        ([], 2, "error: cannot open stream rtsp://***@10.0.0.5/stream"),
        (["bug"], 1, "RuntimeError: a bug while reading http://***@host/x"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == code, done.stderr
        assert "Exception in thread open rtsp://***@10.0.0.5/stream:" in done.stderr
        assert done.stderr.splitlines()[-1] == last
        assert "pa/ss" not in done.stderr and "passw0rd" not in done.stderr and "admin" not in done.stderr
