"""Command-line options shared by several commands (the model's, the runtime's, the detector's and
the tracker's), the one place numeric options are checked (`whole_number` and `number` are argparse
types that turn anything outside an option's documented range, nan and inf included, into one
`error:` line), and the one route from parsed options to the pipeline: `pipeline_config_from_args`,
used by `run.py track`, `run.py gui` and the bench scripts alike (and `draw_style_from_args` for how
results are drawn)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    from core.pipeline import PipelineConfig
    from core.track import TrackerConfig
    from core.video import DrawStyle

TRACKER_OPTIONS = "tracker_options"  # set in a namespace whose parser has add_tracker_arguments' options


NAME_MAX, PATH_MAX = 255, 4096  # bytes in one part of a path, and in a whole path (Linux)


class CommandParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one UserError line (run.py prints it, exit 2).

    Every option of `type=Path` is read by `path_argument`, so an empty path or one the system
    cannot hold is refused once, here, for every command."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", Path, path_argument)

    def error(self, message: str):
        command = self.prog if self.prog.startswith("python ") else f"run.py {self.prog.split()[-1]}"
        raise UserError(f"{message} (see {command} --help)")


def path_argument(text: str) -> Path:
    """A path option's value: not empty (`--out ""` would mean the current folder), and short enough
    for the system (a longer one fails with ENAMETOOLONG at its first use, wherever that is)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    encoded = os.fsencode(text)
    longest = max(len(part) for part in encoded.split(b"/"))
    if len(encoded) >= PATH_MAX or longest > NAME_MAX:
        raise argparse.ArgumentTypeError(
            f"path too long ({len(encoded)} bytes, a name of {longest}; the system allows "
            f"{PATH_MAX - 1} and {NAME_MAX}): {text[:40]}…"
        )
    return Path(text)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--checkpoint",
        type=Path,
        help="a model name (`run.py weights list`: downloaded on first use, brings its input size and "
        "decoder), our checkpoint (carries its own config), an official HRNet / mmpose file, or none "
        "(the untrained --width/--preset model even when weights are cached)",
    )
    group.add_argument(
        "--width", type=whole_number("--width", 1), default=32, help="HRNet width when no checkpoint is given"
    )
    group.add_argument("--preset", default="baseline", help="attention preset or positions like 1.1,2.1")
    group.add_argument(
        "--input-size",
        help="crop width x height, e.g. 192x256 or 288x384 (default 192x256; ours carry their own)",
    )


def names_no_checkpoint(checkpoint: Path | str | None) -> bool:
    """`--checkpoint none`: the untrained --width/--preset model, in every command that takes the
    option (a file called `none` is still a file)."""
    return checkpoint is not None and str(checkpoint).lower() == "none" and not Path(checkpoint).exists()


def apply_zoo_defaults(args: argparse.Namespace, say=None) -> None:
    """Fill an absent --checkpoint / --detector with the cached default (core.zoo), saying so in one
    line each; `--checkpoint none` keeps the untrained model of --width/--preset. Reads only the
    cache, never the network. A given --checkpoint that is neither a file nor a model name fails here,
    before anything loads."""
    from core.detect import default_detector
    from core.model import check_checkpoint_spec, default_checkpoint

    say = say or (lambda line: print(line, file=sys.stderr))
    if names_no_checkpoint(args.checkpoint):
        args.checkpoint = None
        say("--checkpoint none: the model is untrained, poses are meaningless")
    elif args.checkpoint is None:
        name, line = default_checkpoint()
        args.checkpoint = name
        say(line)
    else:
        check_checkpoint_spec(args.checkpoint)
    if getattr(args, "detector", "") is None:
        args.detector, line = default_detector()
        say(line)


def whole_number(name: str, minimum: int, maximum: int | None = None):
    """An argparse `type` for a whole-number option in [minimum, maximum]: a bad value is one line."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise UserError(f"{name} must be a whole number, got {text!r}") from None
        if value < minimum:
            raise UserError(f"{name} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise UserError(f"{name} must be at most {maximum}, got {value}")
        return value

    return parse


def number(name: str, minimum: float | None = None, maximum: float | None = None, *, above: bool = False):
    """An argparse `type` for a finite real option in [minimum, maximum] ((minimum, maximum] with
    `above`): nan, inf and anything outside the range is one line naming the range."""
    low = "" if minimum is None else f"{'>' if above else '>='} {minimum:g}"
    high = "" if maximum is None else f"<= {maximum:g}"
    rule = " and ".join(part for part in (low, high) if part)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"{name} must be a number, got {text!r}") from None
        inside = math.isfinite(value)
        if inside and minimum is not None:
            inside = value > minimum if above else value >= minimum
        if inside and maximum is not None:
            inside = value <= maximum
        if not inside:
            range_text = f" {rule}" if rule else ""
            raise UserError(f"{name} must be a finite number{range_text}, got {text!r}")
        return value

    return parse


def add_device_argument(group: argparse._ActionsContainer, default: str | None = "auto") -> None:
    group.add_argument(
        "--device", default=default, help="auto | cpu | cuda | cuda:N (auto: CUDA when present)"
    )


def add_runtime_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--backend, --device, --precision: how the pose model runs (core.runtime's table of backends)."""
    from core.runtime import backend_help, precision_help

    group = parser.add_argument_group("runtime")
    group.add_argument("--backend", default="auto", help=backend_help())
    add_device_argument(group)
    group.add_argument("--precision", default="auto", help=precision_help())
    return group


def add_detection_arguments(
    parser: argparse.ArgumentParser, zoo_default: bool = True
) -> argparse._ArgumentGroup:
    """--detector and --interval: who finds the people, and how often (core.detect). With `zoo_default`
    an absent --detector stays None for `apply_zoo_defaults`; else it is hog."""
    from core.detect import DETECTOR_HELP

    group = parser.add_argument_group("detection")
    group.add_argument("--detector", default=None if zoo_default else "hog", help=DETECTOR_HELP)
    group.add_argument(
        "--interval",
        type=whole_number("--interval", 1),
        default=1,
        help="detect every N frames; in between, boxes follow the poses",
    )
    return group


def number_with_unit(name: str, unit: str, note: str, example: float = 3):
    """An argparse `type` for a number whose unit changed between versions: it must be written with the
    unit (`3s`), so a value written for the old unit is one line saying so instead of a silent change
    of meaning (30 frames read as 30 seconds)."""
    parse_number = number(name)

    def parse(text: str) -> float:
        stripped = text.strip()
        value = stripped[: -len(unit)].strip()
        if not stripped.endswith(unit) or not value:
            raise UserError(f"{name} needs its unit, e.g. {name} {example:g}{unit}; {note}, got {text!r}")
        return parse_number(value)

    return parse


def _tracker_type(flag: str, default, field: dataclasses.Field | None = None):
    """The argparse type of one tracker option: a finite number (TrackerConfig checks its range, so the
    ranges live in one place, beside the defaults they bound), written with its unit where the unit
    changed (`cli_unit` in the field's metadata)."""
    if field is not None and "cli_unit" in field.metadata:
        note = field.metadata["unit"].split(";")[-1].strip()
        return number_with_unit(flag, field.metadata["cli_unit"], note, default)
    if isinstance(default, int):
        return whole_number(flag, -(2**62))
    if isinstance(default, float):
        return number(flag)
    return type(default)


def add_tracker_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """One option per TrackerConfig field, named like the field with dashes (`run.py mot` and `track`)."""
    from core.track import TrackerConfig  # only for the commands that track (scipy, filterpy)
    from core.track.config import range_text

    group = parser.add_argument_group(
        "tracker (defaults and why: core/track/config.py TrackerConfig; times are in seconds; "
        "--max-age and --relink-growth counted frames in earlier versions, so they take their unit: "
        "--max-age 3s --relink-growth 0.25/s)"
    )
    parser.set_defaults(**{TRACKER_OPTIONS: True})  # pipeline_config_from_args: build a TrackerConfig
    defaults = TrackerConfig()
    for field in dataclasses.fields(TrackerConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        unit = f"{field.metadata['unit']}; " if "unit" in field.metadata else ""
        if isinstance(default, bool):
            group.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=default,
                dest=field.name,
                help=f"(default {default})",
            )
        elif "choices" in field.metadata:
            group.add_argument(
                flag,
                choices=field.metadata["choices"],
                default=default,
                dest=field.name,
                help=f"(default {default})",
            )
        else:
            limits = f"{range_text(field)}; "
            group.add_argument(
                flag,
                type=_tracker_type(flag, default, field),
                default=default,
                dest=field.name,
                metavar=field.name.upper(),
                help=f"({unit}{limits}default {default:g}{field.metadata.get('cli_unit', '')})"
                if isinstance(default, float)
                else f"({unit}{limits}default {default})",
            )
    return group


def tracker_config_from_args(args: argparse.Namespace) -> TrackerConfig:
    """The TrackerConfig that add_tracker_arguments' options describe."""
    from core.track import TrackerConfig

    return TrackerConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrackerConfig)})


def pipeline_config_from_args(args: argparse.Namespace, **overrides) -> PipelineConfig:
    """The PipelineConfig that a command's parsed options describe, checked whole before anything loads.

    An option sets the PipelineConfig field of its name (`--batch-size` → `batch_size`); one the
    command does not have, or leaves at None, keeps the field's default; the tracker options
    (add_tracker_arguments) make its `tracker`. `overrides` are final values a command decides
    itself (torchrun's device, a bench's fixed detector). Sizes are parsed, backend and precision
    names made canonical, the device, the preset and a named backend's precision checked here, so
    every command refuses the same bad option with the same one line, before a window or a model."""
    from core.pipeline import PipelineConfig

    values = _given(PipelineConfig, args)
    if "input_size" in values:
        from core.model import parse_size

        values["input_size"] = parse_size(values["input_size"])
    if getattr(args, TRACKER_OPTIONS, False):
        values["tracker"] = tracker_config_from_args(args)
    values.update(overrides)
    config = _checked_runtime(PipelineConfig(**values))
    if config.checkpoint is None:  # an untrained model: an unknown preset or a width too large fails now
        from core.model.hrnet import ModelConfig

        ModelConfig(width=config.width, preset=config.preset, input_size=config.input_size)
    return config


def draw_style_from_args(args: argparse.Namespace) -> DrawStyle:
    """How results are drawn (core.video.DrawStyle), from the options named like its fields
    (`--kpt-threshold`); the rest keep the style's defaults. Not a pipeline setting: it goes to
    whatever draws frames, and the app changes it without touching the models."""
    from core.video import DrawStyle

    return DrawStyle(**_given(DrawStyle, args))


def _given(record: type, args: argparse.Namespace) -> dict:
    """{field: value} of the options named like `record`'s fields that `args` has and that are set."""
    return {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(record)
        if getattr(args, field.name, None) is not None
    }


def _checked_runtime(config: PipelineConfig) -> PipelineConfig:
    """`config` with canonical backend and precision names, once the device and a named backend's
    precision on it are known to be good: what building the estimator would refuse, said now."""
    from core.runtime import backend_name, precision_name, resolve_device, resolve_precision

    backend, precision = backend_name(config.backend), precision_name(config.precision)
    device = resolve_device(config.device)
    if backend != "auto":
        resolve_precision(backend, device, precision)
    return dataclasses.replace(config, backend=backend, precision=precision)
