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


def test_number_accepts_its_range_and_refuses_nan_inf_and_the_rest_in_one_line():
    from core.cli.options import number

    fraction = number("--score", 0.0, 1.0)
    assert fraction("0") == 0.0 and fraction("1") == 1.0 and fraction("0.25") == 0.25
    positive = number("--weight", 0.0, above=True)
    assert positive("1e-9") == 1e-9
    for parse, text, words in [
        (fraction, "nan", ">= 0 and <= 1"),
        (fraction, "1.01", "<= 1"),
        (fraction, "-inf", "finite"),
        (positive, "0", "> 0"),
        (positive, "inf", "finite"),
        (fraction, "half", "must be a number"),
    ]:
        with pytest.raises(UserError) as caught:
            parse(text)
        assert words in str(caught.value) and "\n" not in str(caught.value)


def test_options_whose_unit_changed_must_be_written_with_it():
    from core.cli.options import number_with_unit

    seconds = number_with_unit("--max-age", "s", "it counted frames in earlier versions")
    assert seconds("3s") == 3.0 and seconds("0.5 s") == 0.5
    for text in ("30", "s", "3 frames", "inf s"):
        with pytest.raises(UserError, match="--max-age") as caught:
            seconds(text)
        assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match="counted frames"):
        seconds("30")


def test_the_tracker_options_take_seconds_with_their_unit():
    import argparse

    from core.cli.options import add_tracker_arguments, tracker_config_from_args

    parser = argparse.ArgumentParser()
    add_tracker_arguments(parser)
    config = tracker_config_from_args(parser.parse_args(["--max-age", "1.5s", "--relink-growth", "0.5/s"]))
    assert config.max_age == 1.5 and config.relink_growth == 0.5
    assert tracker_config_from_args(parser.parse_args([])).max_age == 3.0
