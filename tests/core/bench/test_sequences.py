"""MOT sequences for the bench: finding and loading them, replaying some frames, the side-by-side table."""

import numpy as np
import pytest

from core.bench.peers import ours, sort_reference
from core.bench.sequences import accuracy, format_comparison, load_sequences, score, select_frames
from core.errors import UserError
from core.track import MotTable

TUD = ["TUD-Campus", "TUD-Stadtmitte"]


def test_every_sequence_folder_loads_with_its_real_frame_rate(shared_data):
    sequences = load_sequences(shared_data / "mot15")
    rates = {s.name: s.fps for s in sequences}
    assert len(rates) >= 6 and rates["TUD-Campus"] == 25 and rates["PETS09-S2L1"] == 7
    assert all(len(s.detections) > 0 and len(s.gt) > 0 for s in sequences)
    assert [s.name for s in load_sequences(shared_data / "mot15", TUD)] == TUD


def test_a_missing_sequence_or_frame_rate_is_one_error_naming_its_folder(tmp_path):
    with pytest.raises(UserError, match=r"missing det\.txt or gt\.txt under .*TUD-Campus"):
        load_sequences(tmp_path, ["TUD-Campus"])
    folder = tmp_path / "A"
    folder.mkdir()
    (folder / "det.txt").write_text("1,-1,0,0,10,20,0.9,-1,-1,-1\n")
    (folder / "gt.txt").write_text("1,1,0,0,10,20,1,-1,-1,-1\n")
    with pytest.raises(UserError, match="no frameRate"):
        load_sequences(tmp_path)


def test_kept_frames_are_renumbered_and_the_rest_dropped():
    table = MotTable(np.array([1, 2, 3, 5]), np.array([7, 7, 8, 7]), np.zeros((4, 4)), np.ones(4))
    kept = select_frames(table, np.array([2, 5]))
    assert kept.frames.tolist() == [1, 2] and kept.ids.tolist() == [7, 7]


def test_only_kept_frames_are_scored(shared_data):
    (campus,) = load_sequences(shared_data / "mot15", ["TUD-Campus"])
    half = score(ours(), campus, np.arange(1, campus.num_frames + 1, 2))
    assert half.frames == (campus.num_frames + 1) // 2
    assert half.gt == pytest.approx(len(campus.gt) / 2, rel=0.05)


def test_our_tracker_beats_sort_on_identity_and_the_table_has_every_tracker_per_sequence(shared_data):
    sequences = load_sequences(shared_data / "mot15", TUD)
    tables = accuracy(sequences, {"ours": ours(), "SORT (abewley)": sort_reference})
    assert [name for name, _ in tables["ours"]] == [*TUD, "OVERALL"]
    sort, mine = tables["SORT (abewley)"][-1][1], tables["ours"][-1][1]
    assert mine.idf1 > sort.idf1 + 0.05 and mine.idsw < sort.idsw and mine.mota > 0.7
    lines = format_comparison(tables, {s.name: s.fps for s in sequences}).splitlines()
    assert lines[2].split()[:3] == ["TUD-Campus", "25", "ours"]
    assert lines[3].split()[0] == "SORT" and lines[-2].split()[:2] == ["OVERALL", "ours"]
