"""Command-line options shared by several commands: the model's and the tracker's."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    from core.tracker import TrackerConfig


class CommandParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one UserError line (run.py prints it, exit 2)."""

    def error(self, message: str):
        raise UserError(f"{message} (see run.py {self.prog.split()[-1]} --help)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--checkpoint",
        type=Path,
        help="our checkpoint (carries its own config), or an official HRNet / mmpose one",
    )
    group.add_argument("--width", type=int, default=32, help="HRNet width when no checkpoint is given")
    group.add_argument("--preset", default="baseline", help="attention preset or positions like 1.1,2.1")
    group.add_argument(
        "--input-size",
        help="crop width x height, e.g. 192x256 or 288x384 (default 192x256; ours carry their own)",
    )


DEFAULT_INPUT_SIZE = (192, 256)


def parse_size(text: str | None, default: tuple[int, int] = DEFAULT_INPUT_SIZE) -> tuple[int, int]:
    """'192x256' -> (192, 256): width first, as OpenCV orders sizes; None (not given) -> default."""
    if text is None:
        return default
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"size must look like WIDTHxHEIGHT (e.g. 192x256), got {text!r}") from None
    if w <= 0 or h <= 0 or w % 4 or h % 4:
        raise UserError(f"size {text!r}: width and height must be positive multiples of 4")
    return w, h


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrackerConfig field, named like the field with dashes (`run.py mot` and `track`)."""
    from core.tracker import TrackerConfig  # only for the commands that track (scipy, filterpy)

    group = parser.add_argument_group("tracker (defaults and why: core/tracker.py TrackerConfig)")
    defaults = TrackerConfig()
    for field in dataclasses.fields(TrackerConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if isinstance(default, bool):
            group.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=default,
                dest=field.name,
                help=f"(default {default})",
            )
        else:
            group.add_argument(
                flag,
                type=type(default),
                default=default,
                dest=field.name,
                metavar=field.name.upper(),
                help=f"(default {default:g})" if isinstance(default, float) else f"(default {default})",
            )


def tracker_config_from_args(args: argparse.Namespace) -> TrackerConfig:
    """The TrackerConfig that add_tracker_arguments' options describe."""
    from core.tracker import TrackerConfig

    return TrackerConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrackerConfig)})
