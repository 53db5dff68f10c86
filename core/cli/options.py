"""Command-line options shared by several commands: the model's and the tracker's."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    from core.track import TrackerConfig


class CommandParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one UserError line (run.py prints it, exit 2)."""

    def error(self, message: str):
        command = self.prog if self.prog.startswith("python ") else f"run.py {self.prog.split()[-1]}"
        raise UserError(f"{message} (see {command} --help)")


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


def whole_number(name: str, minimum: int):
    """An argparse `type` for a whole-number option with a lower bound: a bad value is one line."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise UserError(f"{name} must be a whole number, got {text!r}") from None
        if value < minimum:
            raise UserError(f"{name} must be at least {minimum}, got {value}")
        return value

    return parse


def add_device_argument(group: argparse._ActionsContainer, default: str | None = "auto") -> None:
    group.add_argument(
        "--device", default=default, help="auto | cpu | cuda | cuda:N (auto: CUDA when present)"
    )


def add_runtime_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--backend, --device, --precision: how the pose model runs (core.runtime)."""
    group = parser.add_argument_group("runtime")
    group.add_argument(
        "--backend", default="auto", help="auto | eager | eager-plain | compile | onnxruntime | tensorrt"
    )
    add_device_argument(group)
    group.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16")
    return group


def add_detection_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--detector and --interval: who finds the people, and how often (core.detect)."""
    from core.detect import DETECTOR_HELP

    group = parser.add_argument_group("detection")
    group.add_argument("--detector", default="hog", help=DETECTOR_HELP)
    group.add_argument(
        "--interval",
        type=whole_number("--interval", 1),
        default=1,
        help="detect every N frames; in between, boxes follow the poses",
    )
    return group


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrackerConfig field, named like the field with dashes (`run.py mot` and `track`)."""
    from core.track import TrackerConfig  # only for the commands that track (scipy, filterpy)

    group = parser.add_argument_group(
        "tracker (defaults and why: core/track/config.py TrackerConfig; times are in seconds, "
        "--max-age (at most 60) and --relink-growth (at most 2) counted frames in earlier versions)"
    )
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
        else:
            group.add_argument(
                flag,
                type=type(default),
                default=default,
                dest=field.name,
                metavar=field.name.upper(),
                help=f"({unit}default {default:g})"
                if isinstance(default, float)
                else f"({unit}default {default})",
            )


def tracker_config_from_args(args: argparse.Namespace) -> TrackerConfig:
    """The TrackerConfig that add_tracker_arguments' options describe."""
    from core.track import TrackerConfig

    return TrackerConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrackerConfig)})
