"""Reading and writing MOTChallenge files."""

import numpy as np
import pytest

from core.errors import UserError
from core.records import Track
from core.track.motchallenge import (
    has_class_columns,
    load_detections,
    load_ground_truth,
    load_results,
    read_table,
    sequence_file,
    write_results,
)


def test_det_txt_boxes_become_xyxy(shared_data):
    det = load_detections(shared_data / "mot15" / "TUD-Campus" / "det.txt")
    assert det.num_frames == 71 and len(det) == 321
    first = det.frame(1)
    # first row: 1,-1,281.931,187.466,79.93,209.537,0.997784
    assert np.allclose(first.boxes[0], [281.931, 187.466, 281.931 + 79.93, 187.466 + 209.537])
    assert first.scores[0] == pytest.approx(0.997784)


def test_mot15_ground_truth_is_not_class_filtered(shared_data):
    # TUD-Stadtmitte's columns 8-10 are world coordinates, not classes: every row stays.
    table = read_table(shared_data / "mot15" / "TUD-Stadtmitte" / "gt.txt")
    assert not has_class_columns(table)
    assert len(load_ground_truth(shared_data / "mot15" / "TUD-Stadtmitte" / "gt.txt")) == len(table) == 1156


def test_mot17_ground_truth_keeps_considered_pedestrians(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text(
        "1,1,10,10,5,10,1,1,1.0\n"  # pedestrian, considered
        "1,2,10,10,5,10,0,1,0.5\n"  # pedestrian, ignored (flag 0)
        "1,3,10,10,5,10,1,3,1.0\n"  # car
        "2,1,11,10,5,10,1,1,0.8\n"
    )
    gt = load_ground_truth(path)
    assert gt.ids.tolist() == [1, 1] and gt.frames.tolist() == [1, 2]


def test_by_frame_yields_empty_frames():
    from core.track.motchallenge import MotTable

    table = MotTable(np.array([1, 3]), np.array([1, 1]), np.zeros((2, 4)), np.ones(2))
    frames = [(number, len(rows)) for number, rows in table.by_frame(4)]
    assert frames == [(1, 1), (2, 0), (3, 1), (4, 0)]


def test_results_round_trip_atomically(tmp_path):
    out = tmp_path / "tracks.txt"
    tracks = [(1, [Track(id=3, box=np.array([10.0, 20.0, 40.0, 80.0]), score=0.9)]), (2, [])]
    write_results(out, tracks)
    assert out.read_text() == "1,3,10.00,20.00,30.00,60.00,0.9000,-1,-1,-1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["tracks.txt"]  # no temporary left behind
    back = load_results(out)
    assert back.ids.tolist() == [3] and np.allclose(back.boxes, [[10, 20, 40, 80]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,2,3\n", "at least 6 columns"),
        ("1,a,3,4,5,6\n", "numbers"),
        ("0,1,3,4,5,6\n", "frame numbers"),
        ("1,1,3,4,0,6\n", "positive width"),
        ("1,1,nan,4,5,6\n", "NaN"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_table(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_table(tmp_path / "none.txt")
    with pytest.raises(UserError, match="folder does not exist"):
        write_results(tmp_path / "no" / "x.txt", [])


def test_sequence_file_finds_both_layouts(tmp_path):
    (tmp_path / "A" / "gt").mkdir(parents=True)
    (tmp_path / "A" / "gt" / "gt.txt").write_text("")
    (tmp_path / "B").mkdir()
    (tmp_path / "B" / "det.txt").write_text("")
    assert sequence_file(tmp_path / "A", "gt") == tmp_path / "A" / "gt" / "gt.txt"
    assert sequence_file(tmp_path / "B", "det") == tmp_path / "B" / "det.txt"
    assert sequence_file(tmp_path / "B", "gt") is None


def test_frame_rate_comes_from_seqinfo(tmp_path):
    from core.track.motchallenge import sequence_frame_rate

    assert sequence_frame_rate(tmp_path) is None
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=TUD-Campus\nframeRate=25\nseqLength=71\n")
    assert sequence_frame_rate(tmp_path) == 25.0
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nframeRate=fast\n")
    with pytest.raises(UserError, match="frameRate"):
        sequence_frame_rate(tmp_path)
