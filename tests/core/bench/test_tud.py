"""The TUD sequences: loading, and SORT vs our tracker on them."""

import pytest

from core.bench.tud import SEQUENCES, accuracy, load_sequences
from core.errors import UserError


def test_both_sequences_load_with_detections_and_ground_truth(shared_data):
    loaded = load_sequences(shared_data / "mot15")
    assert [name for name, _, _ in loaded] == list(SEQUENCES)
    assert all(len(detections) > 0 and len(gt) > 0 for _, detections, gt in loaded)


def test_a_missing_sequence_is_one_error_naming_its_folder(tmp_path):
    with pytest.raises(UserError, match=r"missing det\.txt or gt\.txt under .*TUD-Campus"):
        load_sequences(tmp_path)


def test_our_tracker_beats_sort_on_identity_and_both_get_an_overall_row(shared_data):
    tables = accuracy(shared_data / "mot15")
    assert [name for name, _ in tables["ours"]] == [*SEQUENCES, "OVERALL"]
    sort, ours = tables["SORT"][-1][1], tables["ours"][-1][1]
    assert ours.idf1 > sort.idf1 + 0.05 and ours.idsw < sort.idsw and ours.mota > 0.7
