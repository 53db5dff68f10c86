"""The tracker on synthetic scenes: identities through crossings and occlusions, life cycle, input checks."""

import numpy as np
import pytest

from core.errors import UserError
from core.records import Detection, Pose
from core.track.tracker import Tracker, TrackerConfig


def person(x: float, y: float = 300.0, h: float = 200.0, score: float = 0.9) -> Detection:
    w = 0.4 * h
    return Detection(box=np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2]), score=score)


def ids_by_label(tracker: Tracker, frames: list[list[tuple[str, Detection]]]) -> dict[str, set[int]]:
    """Run frames of labelled detections; collect which track ids each label received."""
    seen: dict[str, set[int]] = {}
    for frame in frames:
        tracks = tracker.update([d for _, d in frame])
        for label, detection in frame:
            for track in tracks:
                if np.allclose(track.box, detection.box, atol=15):
                    seen.setdefault(label, set()).add(track.id)
    return seen


def test_crossing_people_keep_their_ids_through_an_occlusion():
    rng = np.random.default_rng(0)
    frames = []
    for t in range(80):
        a = person(100 + 5 * t + rng.normal(0, 1), y=300, h=200)  # walks right, in front
        b = person(500 - 5 * t + rng.normal(0, 1), y=280, h=170)  # walks left, further back
        frame = [("a", a)]
        if not 34 <= t <= 46:  # b is hidden behind a while they cross (t = 40)
            frame.append(("b", b))
        frames.append(frame)
    seen = ids_by_label(Tracker(), frames)
    assert len(seen["a"]) == 1 and len(seen["b"]) == 1
    assert seen["a"] != seen["b"]


def test_a_person_hidden_for_a_second_comes_back_with_the_same_id():
    frames = [[("a", person(100 + 4 * t))] if not 20 <= t < 50 else [] for t in range(80)]
    seen = ids_by_label(Tracker(), frames)
    assert seen == {"a": {1}}


def test_track_lost_past_max_age_is_removed_and_ids_are_not_reused():
    tracker = Tracker(TrackerConfig(max_age=5))
    for _ in range(10):
        first = tracker.update([person(200)])
    assert [t.id for t in first] == [1]
    for _ in range(5):
        tracker.update([])
    assert [t.state for t in tracker.tracks] == ["lost"]
    tracker.update([])  # the sixth missed frame: gone
    assert tracker.tracks == []
    for _ in range(3):
        again = tracker.update([person(600)])
    assert [t.id for t in again] == [2]


def test_empty_frames_are_fine():
    tracker = Tracker()
    assert tracker.update([]) == []
    assert tracker.update([]) == []
    assert tracker.tracks == []


def test_new_tracks_wait_for_min_hits_after_the_first_frames():
    tracker = Tracker(TrackerConfig(min_hits=3))
    for _ in range(5):
        tracker.update([person(100)])
    reported = [len(tracker.update([person(100), person(500)])) for _ in range(3)]
    assert reported == [1, 1, 2]  # the newcomer shows from its third consecutive match
    tentative_then_missed = Tracker(TrackerConfig(min_hits=3))
    for _ in range(4):
        tentative_then_missed.update([])
    tentative_then_missed.update([person(100)])
    tentative_then_missed.update([])
    assert tentative_then_missed.tracks == []  # a tentative track dies at its first miss


def test_weak_detections_continue_tracks_but_never_start_them():
    tracker = Tracker()
    for t in range(5):
        tracker.update([person(100 + 3 * t)])
    kept = [tracker.update([person(115 + 3 * t, score=0.3)]) for t in range(5)]
    assert all([tr.id for tr in tracks] == [1] for tracks in kept)
    fresh = Tracker()
    for _ in range(10):
        assert fresh.update([person(300, score=0.3)]) == []


def test_output_box_is_the_detection_when_asked():
    tracker = Tracker(TrackerConfig(output_box="detection"))
    for t in range(5):
        detection = person(100 + 2 * t)
        tracks = tracker.update([detection])
    assert np.array_equal(tracks[0].box, detection.box)


def pose_of(detection: Detection, rng: np.random.Generator, noise: float) -> Pose:
    x1, y1, x2, y2 = detection.box
    grid = np.stack(np.meshgrid(np.linspace(x1 + 10, x2 - 10, 17), [0]), -1)[0]
    keypoints = np.concatenate([grid[:, :1], np.linspace(y1 + 10, y2 - 10, 17)[:, None], np.ones((17, 1))], 1)
    keypoints[:, :2] += rng.normal(0, noise, (17, 2))
    return Pose(box=detection.box, score=detection.score, keypoints=keypoints)


@pytest.mark.parametrize("smoothing", [True, False])
def test_pose_tracks_carry_keypoints_smoothed_on_request(smoothing):
    rng = np.random.default_rng(1)
    tracker = Tracker(TrackerConfig(smoothing=smoothing))
    raw, out = [], []
    for _ in range(40):
        pose = pose_of(person(300), rng, noise=3.0)
        tracks = tracker.update([pose])
        raw.append(pose.keypoints[:, :2])
        out.append(tracks[0].keypoints[:, :2])
    raw_jitter = np.abs(np.diff(np.array(raw)[10:], axis=0)).mean()
    out_jitter = np.abs(np.diff(np.array(out)[10:], axis=0)).mean()
    if smoothing:
        assert out_jitter < 0.5 * raw_jitter
    else:
        assert np.allclose(out[-1], raw[-1])


@pytest.mark.parametrize(
    "observation, message",
    [
        (Detection(np.array([0.0, 0, np.nan, 10]), 0.9), "NaN"),
        (Detection(np.array([10.0, 0, 5, 10]), 0.9), "x2 > x1"),
        (Detection(np.array([0.0, 0, 10, 0]), 0.9), "x2 > x1"),
        (Detection(np.array([0.0, 0, 10]), 0.9), "shape"),
        (Detection(np.array([0.0, 0, 10, 10]), float("nan")), "score"),
        (Pose(np.array([0.0, 0, 10, 10]), 0.9, np.zeros((17, 2))), "keypoints"),
        ((0, 0, 10, 10), "not a Detection"),
    ],
)
def test_bad_input_is_rejected(observation, message):
    with pytest.raises(UserError, match=message):
        Tracker().update([observation])


def test_bad_configs_are_rejected():
    with pytest.raises(UserError):
        TrackerConfig(output_box="kalman")
    with pytest.raises(UserError):
        TrackerConfig(min_hits=0)
    with pytest.raises(UserError):
        TrackerConfig(low_score=0.8, high_score=0.5)
