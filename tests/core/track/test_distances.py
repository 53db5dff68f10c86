"""Association costs: IoU, OKS, gating and the assignment."""

import numpy as np
import pytest

from core.boxes import iou_matrix, nms, validate_boxes, xyah_to_xyxy, xyxy_to_xyah
from core.errors import UserError
from core.keypoints import OKS_SIGMAS
from core.track.distances import INFEASIBLE, assign, combined_cost, direction_cost, iou_cost, oks_matrix


def test_iou_of_known_boxes():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])
    assert np.allclose(iou_cost(a, b), [[0.0, 1 - 50 / 150, 1.0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_box_conversions_round_trip():
    boxes = np.array([[10.0, 20, 50, 120], [0, 0, 1, 2]])
    assert np.allclose(xyah_to_xyxy(xyxy_to_xyah(boxes)), boxes)
    assert np.allclose(xyxy_to_xyah(boxes[:1]), [[30, 70, 0.4, 100]])


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]])
    assert nms(boxes, [0.5, 0.9, 0.7], 0.5).tolist() == [1, 2]


@pytest.mark.parametrize("box", [[0, 0, 0, 10], [5, 5, 1, 10], [np.nan, 0, 1, 1]])
def test_invalid_boxes_are_rejected(box):
    with pytest.raises(UserError):
        validate_boxes(np.array([box], dtype=float))


def test_oks_is_one_for_identical_poses_and_falls_with_distance():
    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.uniform(0, 100, (17, 2)), np.ones((17, 1))], axis=1)
    box = np.array([[0.0, 0, 100, 100]])
    assert oks_matrix(pose[None], pose[None], box)[0, 0] == pytest.approx(1.0)
    moved = pose.copy()
    moved[:, 0] += 5
    # Hand-computed COCO OKS: mean over joints of exp(-d² / (2 s² k²)), s² = area, k = 2σ.
    expected = np.mean(np.exp(-25 / (2 * 100 * 100 * (2 * OKS_SIGMAS) ** 2)))
    assert oks_matrix(pose[None], moved[None], box)[0, 0] == pytest.approx(expected)


def test_oks_ignores_low_score_joints_and_is_unknown_without_any():
    a = np.zeros((17, 3))
    b = np.zeros((17, 3))
    a[0] = b[0] = [10, 10, 0.9]
    b[1] = [500, 500, 0.9]  # far, but a's joint 1 is invisible
    box = np.array([[0.0, 0, 50, 50]])
    assert oks_matrix(a[None], b[None], box)[0, 0] == pytest.approx(1.0)
    assert np.isnan(oks_matrix(np.zeros((1, 17, 3)), b[None], box)[0, 0])


def test_combined_cost_gates_and_blends():
    iou = np.array([[0.8, 0.1], [0.2, 0.6]])
    cost = combined_cost(iou, None, min_iou=0.3)
    assert cost[0, 0] == pytest.approx(0.2) and cost[0, 1] == INFEASIBLE and cost[1, 0] == INFEASIBLE
    oks = np.array([[0.9, 0.7], [np.nan, np.nan]])
    cost = combined_cost(iou, oks, oks_weight=0.5, min_iou=0.3, min_oks=0.5)
    assert cost[0, 0] == pytest.approx(1 - 0.85)
    assert cost[0, 1] == pytest.approx(1 - 0.4)  # IoU too low, but the poses agree
    assert cost[1, 1] == pytest.approx(0.4)  # no OKS: IoU alone


def test_assign_drops_infeasible_pairs():
    cost = np.array([[0.1, INFEASIBLE], [INFEASIBLE, INFEASIBLE]])
    pairs, rows, cols = assign(cost)
    assert pairs == [(0, 0)] and rows.tolist() == [1] and cols.tolist() == [1]
    pairs, rows, cols = assign(np.zeros((0, 3)))
    assert pairs == [] and cols.tolist() == [0, 1, 2]


def test_a_good_pair_is_not_given_up_to_match_more_pairs():
    # Track 0 fits observation 0 well and observation 1 poorly; observation 1 fits nobody else, and
    # track 1 fits observation 0 poorly. Matching as many pairs as possible swaps them; leaving a side
    # unmatched at half a zero-similarity pair keeps the good pair and leaves the rest alone.
    cost = np.array([[0.2, 0.8], [0.65, INFEASIBLE]])
    swapped, _, _ = assign(cost)
    assert sorted(swapped) == [(0, 1), (1, 0)]
    pairs, rows, cols = assign(cost, unmatched=0.5)
    assert pairs == [(0, 0)] and rows.tolist() == [1] and cols.tolist() == [1]
    # Two fair pairs still beat one good pair when together they are worth more.
    fair = np.array([[0.3, 0.4], [0.35, 0.9]])
    assert sorted(assign(fair, unmatched=0.5)[0]) == [(0, 1), (1, 0)]


def test_direction_cost_is_the_turn_as_a_fraction_of_a_u_turn():
    moves = np.array([[[10.0, 0.0], [0.0, 3.0], [-5.0, 0.0], [0.0, 0.0]]])
    cost = direction_cost(np.array([[2.0, 0.0]]), moves)
    assert cost.shape == (1, 4)
    assert cost[0] == pytest.approx([0.0, 0.5, 1.0, 0.5])  # no move at all: no preference either way
