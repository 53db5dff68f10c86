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


# ------------------------------------------------------------------ options → PipelineConfig
# Options of `run.py track` and `run.py gui` that are not settings of the pipeline, and where they go
# instead. Every other option must change the PipelineConfig that pipeline_config_from_args builds, or
# the DrawStyle of draw_style_from_args (how results are drawn: not the pipeline's, but as checked).
NOT_PIPELINE = {
    "help": "argparse's own",
    "source": "what runs, not how: each input is a job (track) or a view (gui)",
    "out": "where track writes (RunOptions)",
    "formats": "which files track writes (RunOptions)",
    "resume": "which inputs track skips (RunOptions)",
    "shard": "which inputs this worker takes (RunOptions)",
    "max_frames": "where track stops reading each input (RunOptions)",
    "accept_partial": "how track judges a truncated input (RunOptions)",
    "no_progress": "track's progress bars",
    "no_report": "whether track writes report.html (RunOptions)",
    "online": "whether track's files go through the offline pass (RunOptions)",
    "verbose": "track's logging",
    "record_dir": "where the app saves recordings and snapshots (WindowOptions)",
    "record": "whether the app starts recording at once (the window's Record)",
    "events": "where the app logs each source's events (WindowOptions)",
}
# A valid value unlike the default, for options whose value the test cannot derive from the default.
SAMPLES = {
    "checkpoint": "model.pt",
    "preset": "paper",
    "input_size": "288x384",
    "backend": "eager-plain",
    "device": "cpu",
    "precision": "fp32",
    "detector": "file:det.txt",
}
REQUIRED = {"track": ["--source", "video.mp4", "--out", "out"], "gui": []}


def command_parsers():
    from app.main import build_parser as gui_parser
    from core.cli.track import build_parser as track_parser

    return {"track": track_parser(), "gui": gui_parser()}


def changed_value(action) -> list[str]:
    """Command-line words that set `action`'s option to a valid value other than its default."""
    import argparse
    import dataclasses

    from core.track import TrackerConfig

    flag, default = action.option_strings[-1], action.default
    if isinstance(action, argparse.BooleanOptionalAction):
        return [f"--{'no-' if default else ''}{flag.removeprefix('--').removeprefix('no-')}"]
    if isinstance(action, argparse._StoreTrueAction):
        return [flag]
    if action.choices:
        return [flag, next(choice for choice in action.choices if choice != default)]
    if action.dest in SAMPLES:
        return [flag, SAMPLES[action.dest]]
    tracker = {f.name: f.metadata for f in dataclasses.fields(TrackerConfig)}
    metadata = tracker.get(action.dest, {})
    if isinstance(default, int):
        return [flag, str(default + 1)]
    if isinstance(default, float):
        high = metadata.get("range", (0.0, 1.0))[1]
        value = default / 2 if default else min(1.0, high / 2)  # inside the field's range (metadata)
        return [flag, f"{value:g}{metadata.get('cli_unit', '')}"]
    raise AssertionError(f"{flag}: add a sample value to SAMPLES, or the option to NOT_PIPELINE")


def settings(args) -> tuple:
    from core.cli.options import draw_style_from_args, pipeline_config_from_args

    return pipeline_config_from_args(args), draw_style_from_args(args)


@pytest.mark.parametrize("command", ["track", "gui"])
def test_every_option_reaches_the_pipeline_config_or_says_where_it_goes(command):
    """The `gui --precision` class of bug (an option parsed, then dropped on the way): for every option
    the parser accepts, changing it changes the configuration (or the drawing style), unless
    NOT_PIPELINE says why not."""
    parser = command_parsers()[command]
    base = settings(parser.parse_args(REQUIRED[command]))
    dropped = []
    for action in parser._actions:
        if action.dest in NOT_PIPELINE:
            continue
        words = changed_value(action)
        if settings(parser.parse_args([*REQUIRED[command], *words])) == base:
            dropped.append(" ".join(words))
    assert dropped == [], f"run.py {command}: options that never reach the PipelineConfig: {dropped}"


def test_the_keypoint_threshold_is_a_drawing_setting_not_a_pipeline_one():
    from core.cli.options import draw_style_from_args, pipeline_config_from_args
    from core.cli.track import build_parser

    args = build_parser().parse_args([*REQUIRED["track"], "--kpt-threshold", "0.05"])
    assert draw_style_from_args(args).kpt_threshold == 0.05
    assert pipeline_config_from_args(args) == pipeline_config_from_args(
        build_parser().parse_args(REQUIRED["track"])
    )


def test_the_list_of_options_outside_the_pipeline_names_only_options_that_exist():
    dests = {action.dest for parser in command_parsers().values() for action in parser._actions}
    assert set(NOT_PIPELINE) - dests == set()


def test_the_config_carries_what_the_options_say_checked_and_canonical():
    from core.cli.options import pipeline_config_from_args
    from core.cli.track import build_parser

    parser = build_parser()
    words = ["--input-size", "288x384", "--backend", "PLAIN", "--precision", "FP32", "--batch-size", "4"]
    args = parser.parse_args([*REQUIRED["track"], *words, "--max-age", "1.5s", "--detector", "hog"])
    config = pipeline_config_from_args(args, device="cpu")
    assert config.input_size == (288, 384) and config.batch_size == 4 and config.device == "cpu"
    assert config.backend == "eager-plain" and config.precision == "fp32"  # canonical names
    assert config.tracker.max_age == 1.5 and config.detector == "hog"
    for words, message in [
        (["--precision", "fp99"], "unknown precision"),
        (["--backend", "nope"], "unknown backend"),
        (["--device", "tpu"], "device"),
        (["--backend", "eager-plain", "--precision", "bf16"], "cannot run bf16"),
        (["--preset", "nope"], "preset"),
        (["--input-size", "100x100"], "100"),
    ]:
        with pytest.raises(UserError, match=message):
            pipeline_config_from_args(parser.parse_args([*REQUIRED["track"], *words]))


def test_options_a_command_lacks_keep_the_config_defaults():
    import argparse

    from core.cli.options import pipeline_config_from_args
    from core.pipeline import PipelineConfig

    assert pipeline_config_from_args(argparse.Namespace()) == PipelineConfig()
    assert pipeline_config_from_args(argparse.Namespace(detector=None, width=8)).detector == "hog"
