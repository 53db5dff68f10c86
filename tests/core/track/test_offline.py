"""The offline pass for recorded files: linking tracklets of one person across an occlusion, filling the
gap, smoothing boxes and keypoints both ways, never joining two people seen at the same time."""

import numpy as np
import pytest

from core.records import Detection, Pose
from core.track import Tracker, TrackerConfig
from core.track.offline import Journal, offline_tracks, rts, smooth_boxes

FPS = 25.0


def box_at(x: float, y: float, h: float = 200.0) -> np.ndarray:
    return np.array([x - 0.2 * h, y - h / 2, x + 0.2 * h, y + h / 2])


def walker(t: float) -> np.ndarray:
    """A person 200 px tall walking right at 0.8 body heights per second."""
    return box_at(100 + 160 * t, 300)


def journal_of(
    pieces: list[tuple[int, list[tuple[float, np.ndarray]]]],
    seconds: float,
    scores: dict[int, float] | None = None,
) -> Journal:
    """A journal as the online pass leaves it: each (id, [(time, box)]) a confirmed track, its boxes
    scored `scores[id]` (default 0.9)."""
    journal = Journal()
    by_time: dict[int, list[tuple[int, int, np.ndarray]]] = {}
    for key, (track_id, observations) in enumerate(pieces, start=1):
        for time, box in observations:
            by_time.setdefault(round(time * FPS), []).append((key, track_id, box))
    for frame in range(round(seconds * FPS) + 1):
        journal.frame(frame / FPS)
        for key_, track_id, box in by_time.get(frame, []):
            journal.observe(key_, box, (scores or {}).get(track_id, 0.9), None)
            journal.name(key_, track_id)
    return journal


def test_two_tracklets_of_one_walker_across_a_1s_occlusion_are_joined_and_the_gap_is_the_straight_path():
    before = [(k / FPS, walker(k / FPS)) for k in range(0, 50)]  # 0 - 2 s
    after = [(k / FPS, walker(k / FPS)) for k in range(75, 125)]  # 3 - 5 s: hidden for 1 s
    result = offline_tracks(journal_of([(1, before), (2, after)], 5.0), TrackerConfig(fill_time=1.5))
    (track,) = result.tracks
    assert track.id == 1 and track.frames.tolist() == list(range(0, 125))
    gap = ~track.observed
    assert gap.sum() == 25
    truth = np.stack([walker(f / FPS) for f in track.frames[gap]])
    assert np.abs(track.boxes[gap] - truth).max() < 1.0
    assert (track.scores[gap] == 0).all() and (track.scores[~gap] == pytest.approx(0.9))


def test_the_online_tracker_loses_the_walker_in_the_occlusion_and_the_offline_pass_joins_it():
    config = TrackerConfig(max_age=0.5, relink=False, fill_time=1.5)
    journal = Journal()
    tracker = Tracker(config, journal)
    online_ids = set()
    for k in range(125):
        seen = [] if 50 <= k < 75 else [Detection(walker(k / FPS), 0.9)]
        online_ids |= {t.id for t in tracker.update(seen, timestamp=k / FPS)}
    assert len(online_ids) == 2
    offline = {t.id for _, tracks in offline_tracks(journal, config).by_frame() for t in tracks}
    assert len(offline) == 1


def test_two_people_seen_at_the_same_time_are_never_joined():
    # B starts where A's path leads, but A is still visible then: two people, not one.
    first = [(k / FPS, walker(k / FPS)) for k in range(0, 60)]
    second = [(k / FPS, walker(k / FPS) + np.array([0, 0, 0, 2])) for k in range(55, 120)]
    result = offline_tracks(journal_of([(1, first), (2, second)], 5.0), TrackerConfig())
    assert sorted(t.id for t in result.tracks) == [1, 2]
    frames = [set(t.frames.tolist()) for t in result.tracks]
    assert frames[0] & frames[1]  # both reported where both were seen


def test_a_link_needs_a_plausible_path_and_size():
    before = [(k / FPS, walker(k / FPS)) for k in range(0, 50)]
    shift = np.array([600, 0, 600, 0])  # 3 body heights off
    far = [(k / FPS, walker(k / FPS) + shift) for k in range(75, 125)]
    small = [(k / FPS, box_at(100 + 160 * k / FPS, 300, 100)) for k in range(75, 125)]  # half the height
    for other in (far, small):
        result = offline_tracks(journal_of([(1, before), (2, other)], 5.0), TrackerConfig())
        assert sorted(t.id for t in result.tracks) == [1, 2]


def test_the_smoothed_path_of_a_noisy_walker_is_closer_to_the_truth_than_the_online_one():
    rng = np.random.default_rng(0)
    config = TrackerConfig()
    journal = Journal()
    tracker = Tracker(config, journal)
    online, truth = {}, {}
    for k in range(100):
        truth[k] = walker(k / FPS)
        noisy = truth[k] + rng.normal(0, 6, 4)  # 3 % of the height
        for track in tracker.update([Detection(noisy, 0.9)], timestamp=k / FPS):
            online[k] = track.box
    offline = {index: tracks[0].box for index, tracks in offline_tracks(journal, config).by_frame() if tracks}
    frames = sorted(online)
    error = {
        name: np.sqrt(np.mean([(boxes[k] - truth[k]) ** 2 for k in frames]))
        for name, boxes in (("online", online), ("offline", offline))
    }
    assert error["offline"] < 0.7 * error["online"]
    assert set(offline) >= set(online) and min(offline) == 0  # tentative frames reported too


def test_keypoints_are_smoothed_both_ways_and_joints_not_seen_keep_score_zero():
    rng = np.random.default_rng(1)
    config = TrackerConfig()
    journal = Journal()
    tracker = Tracker(config, journal)
    raw, truth = [], []
    for k in range(60):
        box = walker(k / FPS)
        joints = np.zeros((17, 3))
        joints[:, 0] = (box[0] + box[2]) / 2 + np.linspace(-30, 30, 17)
        joints[:, 1] = np.linspace(box[1], box[3], 17)
        joints[:, 2] = 0.9
        joints[3, 2] = 0.1  # one joint never seen well
        noisy = joints.copy()
        noisy[:, :2] += rng.normal(0, 4, (17, 2))
        raw.append(noisy)
        truth.append(joints)
        tracker.update([Pose(box, 0.9, noisy)], timestamp=k / FPS)
    (track,) = offline_tracks(journal, config).tracks
    smoothed = track.keypoints
    seen = np.arange(17) != 3
    error_raw = np.abs(np.stack(raw)[:, seen, :2] - np.stack(truth)[:, seen, :2]).mean()
    error_smoothed = np.abs(smoothed[:, seen, :2] - np.stack(truth)[:, seen, :2]).mean()
    assert error_smoothed < 0.6 * error_raw
    assert (smoothed[:, 3, 2] == 0).all() and (smoothed[:, seen, 2] == pytest.approx(0.9))


def test_the_rts_pass_equals_filterpys_smoother():
    from filterpy.kalman import KalmanFilter

    config = TrackerConfig()
    journal = journal_of([(1, [(k / FPS, walker(k / FPS) + 3 * np.sin(k)) for k in range(0, 40, 2)])], 2.0)
    times = np.asarray(journal.times)
    (tracklet,) = journal.tracklets()
    span = smooth_boxes(times, tracklet, config)
    # filterpy's rts_smoother from the same forward posteriors, transitions and process noise.
    transitions = np.stack([np.eye(8)] + [np.eye(8) + np.eye(8, k=4) * (1 / FPS)] * (len(span.frames) - 1))
    priors = [span.filtered_cov[k - 1] if k else span.filtered_cov[0] for k in range(len(span.frames))]
    noise = np.stack(
        [np.zeros((8, 8))]
        + [
            span.predicted_cov[k] - transitions[k] @ priors[k] @ transitions[k].T
            for k in range(1, len(span.frames))
        ]
    )
    reference, _, _, _ = KalmanFilter(dim_x=8, dim_z=4).rts_smoother(
        span.filtered[:, :, None], span.filtered_cov, Fs=transitions, Qs=noise
    )
    ours, _ = rts(span.filtered, span.filtered_cov, span.predicted, span.predicted_cov, transitions)
    assert np.allclose(ours, reference[:, :, 0], atol=1e-9)


def test_tentative_tracks_that_die_leave_nothing_and_frames_come_back_in_order():
    journal = Journal()
    tracker = Tracker(TrackerConfig(), journal)
    for k in range(30):
        seen = [Detection(walker(k / FPS), 0.9)]
        if k in (10, 11):  # a false box seen twice, never confirmed
            seen.append(Detection(box_at(600, 100, 80), 0.9))
        tracker.update(seen, timestamp=k / FPS)
    assert [t.id for t in journal.tracklets()] == [1]
    indices = [index for index, _ in offline_tracks(journal, TrackerConfig()).by_frame()]
    assert indices == list(range(30))


def test_the_journal_keeps_a_few_hundred_bytes_per_person_and_frame():
    journal = Journal()
    keypoints = np.ones((17, 3))
    for frame in range(3000):
        journal.frame(frame / FPS)
        for person in range(10):
            journal.observe(person + 1, walker(frame / FPS) + 300 * person, 0.9, keypoints)
            journal.name(person + 1, person + 1)
    per_observation = journal.nbytes / 30_000
    assert per_observation < 2 * (4 * (5 + 51) + 8) + 1  # float32 row + frame index, at most doubled
    # A 30-minute video of 10 people at 30 fps: 540 000 observations.
    assert per_observation * 540_000 < 300e6


def three_walkers(scores: dict[int, float]) -> set[int]:
    """Ids the offline pass keeps of three people walking apart for 2 s, scored `scores`."""
    pieces = [(i, [(k / FPS, box_at(100 + 160 * k / FPS, 300 * i)) for k in range(50)]) for i in (1, 2, 3)]
    result = offline_tracks(journal_of(pieces, 2.0, scores), TrackerConfig())
    return {track.id for track in result.tracks}


def test_a_track_weak_throughout_is_dropped_relative_to_the_files_typical_score():
    assert three_walkers({1: 0.95, 2: 0.97, 3: 0.7}) == {1, 2}  # 0.7 < 0.88 x 0.95
    # The same people seen by a detector whose scores sit lower (HOG's sigmoid): the same decision.
    assert three_walkers({1: 0.6, 2: 0.62, 3: 0.45}) == {1, 2}
    assert three_walkers({1: 0.6, 2: 0.62, 3: 0.55}) == {1, 2, 3}  # 0.55 >= 0.88 x 0.6


def test_weak_tracks_are_kept_when_the_rule_is_off_or_the_file_has_no_scores():
    pieces = [(i, [(k / FPS, box_at(100 + 160 * k / FPS, 300 * i)) for k in range(50)]) for i in (1, 2)]
    off = offline_tracks(journal_of(pieces, 2.0, {1: 0.95, 2: 0.3}), TrackerConfig(weak_track_ratio=0))
    assert {track.id for track in off.tracks} == {1, 2}
    unscored = offline_tracks(journal_of(pieces, 2.0, {1: -1.0, 2: -1.0}), TrackerConfig())
    assert {track.id for track in unscored.tracks} == {1, 2}


def test_a_link_follows_the_walkers_heading_not_only_where_paths_meet():
    before = [(k / FPS, walker(k / FPS)) for k in range(50)]  # walking right, 0 - 2 s
    # After 0.4 s hidden two people appear where she would be: one right on her path walking down,
    # one a little off it walking on to the right.
    down = [(k / FPS, box_at(100 + 160 * k / FPS, 300 + 160 * (k - 60) / FPS)) for k in range(60, 110)]
    right = [(k / FPS, box_at(100 + 160 * k / FPS, 340)) for k in range(60, 110)]
    pieces = [(1, before), (2, down), (3, right)]

    def continued_by(config: TrackerConfig) -> int:
        result = offline_tracks(journal_of(pieces, 4.4, {}), config)
        ids = {track.id for track in result.tracks}
        assert 1 in ids and len(ids) == 2  # one of the two continues her track under her id
        return ({2, 3} - ids).pop()

    assert continued_by(TrackerConfig(link_velocity=False)) == 2  # nearest box
    assert continued_by(TrackerConfig()) == 3  # the one who walks on the way she walked
