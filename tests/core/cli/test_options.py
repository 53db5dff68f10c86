"""Shared command-line options: a bad option is one `error:` line and exit 2 in every command."""

import pytest

import run
from core.errors import UserError
from core.model import parse_size


@pytest.mark.parametrize(
    "command", ["track", "bench", "mot", "mot-eval", "train", "eval", "export", "convert", "info", "gui"]
)
def test_an_unknown_option_is_one_error_line_and_exit_2(command, capsys):
    assert run.main([command, "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.strip().count("\n") == 0
    # argparse names the first problem: the unknown option, or required arguments still missing.
    assert ("--no-such-option" in err or "required" in err) and f"run.py {command} --help" in err


def test_sizes_are_width_by_height_multiples_of_32():
    assert parse_size("192x256") == (192, 256)
    assert parse_size(None) == (192, 256)
    for bad in ("256", "0x256", "190x256", "200x256", "axb"):
        with pytest.raises(UserError):
            parse_size(bad)
