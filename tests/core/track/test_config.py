"""TrackerConfig: every numeric setting checked against its range, and values from before the switch
to seconds rejected with a message that names the unit change."""

import pytest

from core.errors import UserError
from core.track import TrackerConfig


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_age", float("nan")),
        ("max_age", -1.0),
        ("relink_growth", float("inf")),
        ("min_hits", 0),
        ("min_hits", 2.5),
        ("min_iou", 1.5),
        ("gate_chi2", -1.0),
        ("velocity_noise", 0.0),
        ("position_noise", float("nan")),
        ("fps", 0.0),
        ("beta", -1.0),
        ("keypoint_threshold", float("-inf")),
        ("smoothing", "yes"),
        ("output_box", "kalman"),
        ("kalman", "scipy"),
        ("low_score", 0.8),  # above high_score 0.6
    ],
)
def test_bad_configs_are_rejected_naming_the_field(field, value):
    with pytest.raises(UserError, match=field):
        TrackerConfig(**{field: value})


@pytest.mark.parametrize("field, value", [("max_age", 80.0), ("relink_growth", 5.0)])
def test_frame_counts_from_before_the_switch_to_seconds_are_rejected_naming_the_unit(field, value):
    with pytest.raises(UserError, match=f"{field} must be at most .*counted frames.*seconds"):
        TrackerConfig(**{field: value})


def test_the_defaults_and_the_largest_sane_values_are_accepted():
    assert TrackerConfig().max_age == 3.0
    assert TrackerConfig(max_age=60.0, relink_growth=2.0).max_age == 60.0


def test_every_numeric_setting_states_its_range_and_the_help_shows_it():
    from dataclasses import fields

    from core.cli.options import CommandParser, add_tracker_arguments
    from core.track.config import range_text

    numeric = [f for f in fields(TrackerConfig) if f.type in (int, float)]
    assert numeric and all("range" in f.metadata for f in numeric)
    by_name = {f.name: f for f in numeric}
    assert range_text(by_name["max_age"]) == "0-60" and range_text(by_name["fps"]) == "0.01-1000"
    assert range_text(by_name["min_hits"]) == ">= 1"
    parser = CommandParser(prog="test")
    add_tracker_arguments(parser)
    help_text = " ".join(parser.format_help().split())
    assert "(seconds; it counted frames in earlier versions; 0-60; default 3s)" in help_text
    assert "--min-iou MIN_IOU (0-1; default 0.2)" in help_text
