"""A step in a child process: its value back, or one line for how it failed, within its limit."""

import math
import os
import time

from core.bench.isolated import run_isolated


def test_a_value_comes_back(tmp_path):
    outcome = run_isolated(math.sqrt, (16,), 30, tmp_path / "ok.log")
    assert (outcome.status, outcome.value) == ("done", 4.0)


def test_an_exception_is_one_line_and_its_traceback_is_in_the_log(tmp_path):
    outcome = run_isolated(math.sqrt, (-1,), 30, tmp_path / "raise.log")
    assert (outcome.status, outcome.error) == ("failed", "ValueError: math domain error")
    assert "Traceback" in (tmp_path / "raise.log").read_text()


def test_a_dying_process_is_a_failure_not_a_crash(tmp_path):
    outcome = run_isolated(os.abort, (), 30, tmp_path / "abort.log")
    assert outcome.status == "failed" and "died" in outcome.error


def test_a_hang_is_killed_at_the_limit(tmp_path):
    started = time.monotonic()
    outcome = run_isolated(time.sleep, (600,), 1, tmp_path / "hang.log")
    assert outcome.status == "timeout" and "timed out after 1 s" in outcome.error
    assert time.monotonic() - started < 20
