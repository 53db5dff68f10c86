"""The manoeuvre scene and its table of ids."""

import numpy as np

from core.bench.manoeuvres import format_manoeuvres, manoeuvre


def test_the_manoeuvre_scene_changes_velocity_over_half_a_second_and_the_table_counts_ids():
    frames = manoeuvre("reverse", fps=10, speed=1.0)
    centres = np.array([(d[0].box[0] + d[0].box[2]) / 2 for _, d in frames])
    assert len(frames) == 60 and centres[19] > centres[0] + 300  # 200 px/s to the right for 2 s
    assert centres[-1] < centres[30] - 300  # then back to the left
    table = format_manoeuvres(speeds=(1.0,), rates=(25,)).splitlines()
    assert [line.split() for line in table[2:]] == [
        ["stop", "25", "1"],
        ["turn", "25", "1"],
        ["reverse", "25", "1"],
    ]
