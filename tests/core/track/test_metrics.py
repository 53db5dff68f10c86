"""CLEAR-MOT and IDF1 on small hand-computed cases, and SORT on MOT15 against py-motmetrics' figures."""

import numpy as np
import pytest

from core.errors import UserError
from core.track.metrics import MotCounts, evaluate_sequence, format_table
from core.track.motchallenge import MotTable


def table(rows: list[tuple[int, int, float, float]]) -> MotTable:
    """Rows (frame, id, x, y) of 10×10 boxes at (x, y)."""
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    boxes = np.stack([a[:, 2], a[:, 3], a[:, 2] + 10, a[:, 3] + 10], axis=1)
    return MotTable(a[:, 0].astype(int), a[:, 1].astype(int), boxes, np.ones(len(a)))


def test_perfect_tracking_scores_one():
    gt = table([(f, i, 20 * i, f) for f in range(1, 4) for i in (1, 2)])
    c = evaluate_sequence(gt, gt)
    assert (c.tp, c.fp, c.fn, c.idsw, c.frag) == (6, 0, 0, 0, 0)
    assert c.mota == 1.0 and c.idf1 == 1.0 and c.motp == 1.0
    assert (c.mt, c.ml, c.gt_ids) == (2, 0, 2)


def test_id_switch_costs_mota_and_half_the_idf1():
    gt = table([(f, 1, 0, 0) for f in range(1, 5)])
    hyp = table([(1, 7, 0, 0), (2, 7, 0, 0), (3, 8, 0, 0), (4, 8, 0, 0)])
    c = evaluate_sequence(gt, hyp)
    assert (c.tp, c.idsw, c.fp, c.fn) == (4, 1, 0, 0)
    assert c.mota == pytest.approx(1 - 1 / 4)
    assert c.idtp == 2 and c.idf1 == pytest.approx(2 * 2 / (4 + 4))


def test_false_positive_and_false_negative():
    gt = table([(1, 1, 0, 0), (2, 1, 0, 0)])
    hyp = table([(1, 5, 0, 0), (1, 6, 100, 100)])  # frame 2: nothing; frame 1: one far box
    c = evaluate_sequence(gt, hyp)
    assert (c.tp, c.fp, c.fn, c.idsw) == (1, 1, 1, 0)
    assert c.mota == pytest.approx(1 - 2 / 2)
    assert c.idf1 == pytest.approx(2 * 1 / (2 + 2))


def test_fragment_is_an_interruption_between_tracked_frames():
    gt = table([(f, 1, 0, 0) for f in range(1, 6)])
    hyp = table([(1, 3, 0, 0), (2, 3, 0, 0), (4, 3, 0, 0)])  # missed at 3 (fragment) and 5 (end, not one)
    c = evaluate_sequence(gt, hyp)
    assert (c.tp, c.fn, c.frag, c.idsw) == (3, 2, 1, 0)
    assert c.mt == 0 and c.ml == 0  # tracked 3/5 = 60 %


def test_switch_counts_across_a_gap():
    gt = table([(1, 1, 0, 0), (2, 1, 0, 0), (3, 1, 0, 0)])
    hyp = table([(1, 4, 0, 0), (3, 9, 0, 0)])
    assert evaluate_sequence(gt, hyp).idsw == 1


def test_previous_correspondence_is_kept_while_valid():
    # Frame 1: hypothesis 1 sits on the object, 2 overlaps it by IoU 0.6. Frame 2: they trade places.
    # CLEAR-MOT keeps 1 (still IoU >= 0.5) instead of switching to the closer 2.
    gt = MotTable(
        np.array([1, 2]), np.array([1, 1]), np.array([[0, 0, 10, 10], [0, 0, 10, 10.0]]), np.ones(2)
    )
    shifted = [0, 0, 10, 10 / 0.6]  # IoU with the object = 0.6
    hyp = MotTable(
        np.array([1, 1, 2, 2]),
        np.array([1, 2, 1, 2]),
        np.array([[0, 0, 10, 10], shifted, shifted, [0, 0, 10, 10]], dtype=float),
        np.ones(4),
    )
    c = evaluate_sequence(gt, hyp)
    assert (c.tp, c.idsw, c.fp) == (2, 0, 2)
    assert c.motp == pytest.approx((1.0 + 0.6) / 2)


def test_iou_of_exactly_one_half_matches():
    gt = MotTable(np.array([1]), np.array([1]), np.array([[0, 0, 10, 10.0]]), np.ones(1))
    hyp = MotTable(np.array([1]), np.array([1]), np.array([[0, 0, 10, 20.0]]), np.ones(1))  # IoU 100/200
    assert evaluate_sequence(gt, hyp).tp == 1


def test_idf1_uses_one_global_assignment():
    # Two objects; each hypothesis follows one for 3 frames and the other for the 4th (a swap).
    gt = table([(f, i, 50 * i, 0) for f in range(1, 5) for i in (1, 2)])
    hyp = table([(f, 1 if (f < 4) == (i == 1) else 2, 50 * i, 0) for f in range(1, 5) for i in (1, 2)])
    c = evaluate_sequence(gt, hyp)
    assert c.idsw == 2 and c.mota == pytest.approx(1 - 2 / 8)
    assert c.idtp == 6 and c.idf1 == pytest.approx(12 / 16)


def test_sequences_combine_by_counts_not_by_mean():
    a = MotCounts(gt=100, hyp=100, tp=90, fp=10, fn=10, idtp=90)
    b = MotCounts(gt=10, hyp=10, tp=0, fp=10, fn=10, idtp=0)
    total = a + b
    assert total.mota == pytest.approx(1 - 40 / 110)
    assert total.idf1 == pytest.approx(2 * 90 / 220)
    assert total.mota != pytest.approx((a.mota + b.mota) / 2)


def test_duplicate_ids_in_a_frame_are_rejected():
    gt = table([(1, 1, 0, 0)])
    with pytest.raises(UserError, match="same id twice"):
        evaluate_sequence(gt, table([(1, 3, 0, 0), (1, 3, 50, 0)]))


def test_empty_results_are_all_misses():
    gt = table([(1, 1, 0, 0), (2, 1, 0, 0)])
    c = evaluate_sequence(gt, table([]))
    assert (c.fn, c.tp, c.fp) == (2, 0, 0) and c.mota == 0.0 and c.ml == 1


def test_table_has_one_row_per_sequence():
    text = format_table([("A", MotCounts(gt=1, hyp=1, tp=1, idtp=1, iou_sum=1.0)), ("OVERALL", MotCounts())])
    assert text.splitlines()[2].split()[:3] == ["A", "100.0", "100.0"]
    assert "OVERALL" in text


def test_sort_on_tud_reproduces_py_motmetrics(shared_data):
    """py-motmetrics 1.4.0 (numpy 1.26) scored abewley/sort at MOTA 69.6, IDF1 70.5, 16 IDSW."""
    from core.bench.peers import sort_reference
    from core.bench.sequences import load_sequences, score

    total = MotCounts()
    for sequence in load_sequences(shared_data / "mot15", ["TUD-Campus", "TUD-Stadtmitte"]):
        total = total + score(sort_reference, sequence)
    assert round(100 * total.mota, 1) == 69.6
    assert round(100 * total.idf1, 1) == 70.5
    assert (total.idsw, total.fp, total.fn) == (16, 37, 408)
