"""The frame-drop replay: which frames are kept, how they are scored, one row per start frame."""

import numpy as np
import pytest

from core.bench.frame_drop import KeepRule, format_frame_drop, frame_drop, parse_keep
from core.bench.peers import ours
from core.bench.sequences import load_sequences
from core.errors import UserError

TUD = ["TUD-Campus", "TUD-Stadtmitte"]


def test_keep_rules_choose_frames():
    assert parse_keep("all").frames(5).tolist() == [1, 2, 3, 4, 5]
    assert parse_keep("every:3").frames(8).tolist() == [1, 4, 7]
    half = parse_keep("random:0.5")
    draw = half.frames(1000, seed=1)
    assert 400 < len(draw) < 600 and np.array_equal(draw, half.frames(1000, seed=1))
    assert not np.array_equal(draw, half.frames(1000, seed=2))
    assert not np.array_equal(draw, half.frames(1000, seed=1, stream=1))  # each sequence its own draw
    phases = parse_keep("every:3").phases()
    assert [phase.frames(8).tolist() for phase in phases] == [[1, 4, 7], [2, 5, 8], [3, 6]]
    assert half.phases() == [half]


@pytest.mark.parametrize("text", ["some", "every:0", "every:x", "random:0", "random:1.5", "all:2"])
def test_bad_keep_rules_are_one_error(text):
    with pytest.raises(UserError, match="--keep"):
        parse_keep(text)


def test_frame_drop_table_on_tud(shared_data):
    sequences = load_sequences(shared_data / "mot15", TUD)
    rows = frame_drop(sequences, [KeepRule("all"), parse_keep("every:2")], [0], ours())
    (all_label, all_kept, all_counts), (half_label, half_kept, half_counts) = rows
    assert (all_label, all_kept) == ("all", 1.0) and half_label == "every:2"
    assert half_kept == pytest.approx(0.5, abs=0.01)
    assert half_counts.gt == pytest.approx(all_counts.gt / 2, rel=0.02)  # only kept frames are scored
    assert all_counts.mota > 0.6 and half_counts.mota > 0.6
    table = format_frame_drop(rows)
    assert table.splitlines()[2].split()[0] == "all"


def test_every_nth_frame_from_each_start_gets_a_row_and_a_mean(shared_data):
    sequences = load_sequences(shared_data / "mot15", TUD)
    rows = frame_drop(sequences, [parse_keep("every:2")], [0], ours(), phases=True)
    assert [label for label, _, _ in rows] == ["every:2 from 1", "every:2 from 2"]
    everything = frame_drop(sequences, [KeepRule("all")], [0], ours())[0][2]
    assert rows[0][2].gt + rows[1][2].gt == everything.gt  # the two phases split the frames
    assert format_frame_drop(rows).splitlines()[-1].startswith("every:2 mean of 2")
