"""Swaps where two people touch, undone offline: the tails of two touching tracks change hands when
both paths become likelier under the steady walker's filter."""

import numpy as np

from core.track import TrackerConfig
from core.track.crossings import path_costs, resolve_crossings
from core.track.offline import Tracklet

FPS = 10.0
TIMES = np.arange(40) / FPS  # 4 s


def box_at(x: float, y: float, h: float = 200.0) -> np.ndarray:
    return np.array([x - 0.2 * h, y - h / 2, x + 0.2 * h, y + h / 2])


def path(x0: float, vx: float, y: float, frames: range) -> np.ndarray:
    return np.stack([box_at(x0 + vx * f / FPS, y) for f in frames])


def tracklet(track_id: int, frames: range, boxes: np.ndarray) -> Tracklet:
    return Tracklet(track_id, np.array(frames), boxes, np.full(len(frames), 0.9), None)


def x_centres(track: Tracklet) -> np.ndarray:
    return (track.boxes[:, 0] + track.boxes[:, 2]) / 2


# Two people cross at 2 s: one walks right, the other left, 20 px apart vertically (their boxes overlap
# from about 1.5 s to 2.5 s).
RIGHT = path(100, 160, 300, range(40))
LEFT = path(740, -160, 320, range(40))


def test_two_people_whose_tracks_swapped_where_they_crossed_get_their_own_paths_back():
    swapped = [
        tracklet(1, range(40), np.r_[RIGHT[:20], LEFT[20:]]),
        tracklet(2, range(40), np.r_[LEFT[:20], RIGHT[20:]]),
    ]
    first, second = sorted(resolve_crossings(TIMES, swapped, TrackerConfig()), key=lambda t: t.id)
    assert np.allclose(first.boxes, RIGHT) and np.allclose(second.boxes, LEFT)
    assert first.frames.tolist() == second.frames.tolist() == list(range(40))


def test_tracks_that_crossed_correctly_and_people_walking_side_by_side_are_left_alone():
    crossed = [tracklet(1, range(40), RIGHT), tracklet(2, range(40), LEFT)]
    kept = sorted(resolve_crossings(TIMES, crossed, TrackerConfig()), key=lambda t: t.id)
    assert np.allclose(kept[0].boxes, RIGHT) and np.allclose(kept[1].boxes, LEFT)
    together = [
        tracklet(1, range(40), path(100, 160, 300, range(40))),
        tracklet(2, range(40), path(130, 160, 310, range(40))),
    ]
    kept = sorted(resolve_crossings(TIMES, together, TrackerConfig()), key=lambda t: t.id)
    assert np.allclose(x_centres(kept[0]), 100 + 16 * np.arange(40))
    assert np.allclose(x_centres(kept[1]), 130 + 16 * np.arange(40))


def test_with_the_window_at_zero_nothing_changes_hands():
    swapped = [
        tracklet(1, range(40), np.r_[RIGHT[:20], LEFT[20:]]),
        tracklet(2, range(40), np.r_[LEFT[:20], RIGHT[20:]]),
    ]
    result = resolve_crossings(TIMES, swapped, TrackerConfig(crossing_window=0))
    assert result is swapped


def test_a_hidden_stretch_moves_with_the_tail_and_ids_stay_with_the_heads():
    # Person 2 is not seen for 0.5 s right after the meeting; the swap still pairs heads and tails.
    seen = [f for f in range(40) if not 21 <= f < 26]
    swapped = [
        tracklet(7, range(40), np.r_[RIGHT[:20], LEFT[20:]]),
        tracklet(3, seen, np.r_[LEFT[:20], RIGHT[seen[20:]]]),
    ]
    result = {t.id: t for t in resolve_crossings(TIMES, swapped, TrackerConfig())}
    assert np.allclose(result[7].boxes, RIGHT[result[7].frames])
    assert np.allclose(result[3].boxes, LEFT[result[3].frames])
    assert sorted(result[7].frames.tolist() + result[3].frames.tolist()) == sorted(list(range(40)) + seen)


def test_a_straight_walk_is_likelier_than_one_that_turns_back():
    straight = (np.arange(20), RIGHT[:20])
    turned = (np.arange(20), np.r_[RIGHT[:10], RIGHT[10:0:-1]])
    costs = path_costs(TIMES, [straight, turned], TrackerConfig())
    assert costs[0] < costs[1]
    # Each path is scored by itself: batching does not change a path's cost.
    assert np.isclose(path_costs(TIMES, [straight], TrackerConfig())[0], costs[0])


def test_people_walking_together_for_a_minute_are_left_alone_without_scoring_every_frame(monkeypatch):
    import core.track.crossings as crossings

    scored = []
    real = crossings.path_costs
    monkeypatch.setattr(crossings, "path_costs", lambda *args: scored.append(len(args[1])) or real(*args))
    frames = range(1800)  # 60 s at 30 fps, side by side, touching throughout
    times = np.arange(1800) / 30.0
    together = [
        Tracklet(
            1,
            np.array(frames),
            np.stack([box_at(100 + 5 * f / 30, 300) for f in frames]),
            np.ones(1800),
            None,
        ),
        Tracklet(
            2,
            np.array(frames),
            np.stack([box_at(130 + 5 * f / 30, 310) for f in frames]),
            np.ones(1800),
            None,
        ),
    ]
    result = sorted(crossings.resolve_crossings(times, together, TrackerConfig()), key=lambda t: t.id)
    assert scored == []  # longer than LONGEST_MEETING crossing windows: not a crossing
    assert np.allclose(result[0].boxes, together[0].boxes) and np.allclose(result[1].boxes, together[1].boxes)
