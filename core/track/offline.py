"""The offline pass for recorded files: after the online tracker has seen every frame, knowing the future,

1. undo identity swaps where two people touched (core.track.crossings): the tails of two touching
   tracks change hands where that makes both paths likelier under the steady walker's filter;
2. link tracklets that belong to one person: the end of one and the start of a later one, gated by the
   motion model over the gap (squared Mahalanobis distance of the first track's end, moved on across
   the gap, to the second's start: box and velocity) and by box size; one global assignment
   (Hungarian), so each end continues at most one start and each start at most one end, and a link
   always goes forward in time (two people seen at the same moment are never joined);
3. smooth every person's boxes backwards as well as forwards (Rauch-Tung-Striebel, over the constant-
   velocity filter of core.track.kalman), through every frame of their span: frames where the person was
   missed (occluded, or not yet confirmed online) are filled by the smoother, which on a gap between
   two stretches of steady walking is the straight path between them;
4. drop weak tracks: a person whose detections score on average below `weak_track_ratio` times the
   median score of every observation in the file is a false track (a detector scores a person high in
   most frames; a poster or a reflection stays weak throughout, which only the whole track shows);
5. smooth keypoints the same way, each coordinate its own constant-velocity model (a limb changes speed
   fast, so its velocity noise is high); joints seen with a score below keypoint_threshold, and every
   joint of a filled frame, are left to the smoother and keep score 0 (not observed).

The online tracker writes what it matched into a `Journal` (`Tracker(config, journal=Journal())`): per
track, boxes, scores and raw keypoints as float32 arrays, 232 bytes per person and frame (17 joints;
buffers double as they grow, ~320 bytes on average), so a 30-minute video of 10 people at 30 fps holds
~170 MB; frames are never kept. The result holds float32 boxes and keypoints (~220 bytes per person
and frame); the smoother's matrices live for one person at a time.
`offline_tracks(journal, config)` returns the offline result, walked frame by frame with `by_frame()`.
"""

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.boxes import xyah_to_xyxy, xyxy_to_xyah
from core.records import Track, TrackState
from core.track.crossings import resolve_crossings
from core.track.distances import INFEASIBLE, assign
from core.track.kalman import BoxKalman, _step_matrices, predict_states, update_states

_FIRST_ROWS = 64  # a track's buffers start this long and double as needed


class _Rows:
    """Growable float32 rows of one track's observations: frame index, box (4), score, keypoints."""

    def __init__(self, width: int):
        self.data = np.zeros((_FIRST_ROWS, width), np.float32)
        self.frames = np.zeros(_FIRST_ROWS, np.int64)
        self.count = 0

    def add(self, frame: int, row: np.ndarray) -> None:
        if self.count == len(self.frames):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
            self.frames = np.concatenate([self.frames, np.zeros_like(self.frames)])
        self.data[self.count], self.frames[self.count] = row, frame
        self.count += 1


class Journal:
    """What the online tracker matched, per track, for the offline pass (frames are never kept)."""

    def __init__(self) -> None:
        self.times: list[float] = []  # seconds of every frame the tracker saw, by frame index
        self._rows: dict[int, _Rows] = {}  # the tracker's private track key -> observations
        self._ids: dict[int, int] = {}  # track key -> public id (once confirmed)
        self._joints: int | None = None

    @property
    def nbytes(self) -> int:
        """Memory the kept observations take (their buffers, spare room included)."""
        kept = sum(rows.data.nbytes + rows.frames.nbytes for rows in self._rows.values())
        return kept + 8 * len(self.times)

    def frame(self, time: float) -> None:
        """The tracker saw one more frame, at `time` seconds."""
        self.times.append(float(time))

    def observe(self, key: int, box: np.ndarray, score: float, keypoints: np.ndarray | None) -> None:
        """Track `key` matched an observation in the latest frame."""
        joints = 0 if keypoints is None else len(keypoints)
        if self._joints is None:
            self._joints = joints
        row = np.empty(5 + 3 * self._joints, np.float32)
        row[:4], row[4] = box, score
        if self._joints:
            row[5:] = keypoints.reshape(-1) if keypoints is not None else 0.0
        if key not in self._rows:
            self._rows[key] = _Rows(len(row))
        self._rows[key].add(len(self.times) - 1, row)

    def name(self, key: int, track_id: int) -> None:
        """Track `key` reports under `track_id` (confirmed, or relinked to a lost track's id)."""
        self._ids[key] = track_id

    def drop(self, key: int) -> None:
        """Track `key` died before it was confirmed: its observations never belonged to anyone."""
        self._rows.pop(key, None)

    def tracklets(self) -> list["Tracklet"]:
        """One tracklet per public id (a track relinked online shares its id), in time order; tracks
        never confirmed are left out."""
        parts: dict[int, list[_Rows]] = {}
        for key, rows in self._rows.items():
            if key in self._ids and rows.count:
                parts.setdefault(self._ids[key], []).append(rows)
        tracklets = []
        for track_id, group in parts.items():
            frames = np.concatenate([rows.frames[: rows.count] for rows in group])
            data = np.concatenate([rows.data[: rows.count] for rows in group]).astype(np.float64)
            order = np.argsort(frames, kind="stable")
            frames, data = frames[order], data[order]
            keep = np.r_[True, np.diff(frames) > 0]  # one observation a frame
            frames, data = frames[keep], data[keep]
            keypoints = data[:, 5:].reshape(len(data), -1, 3) if self._joints else None
            tracklets.append(Tracklet(track_id, frames, data[:, :4], data[:, 4], keypoints))
        return sorted(tracklets, key=lambda t: (t.frames[0], t.id))


@dataclass
class Tracklet:
    """One person's observations: frame indices (into the journal's times), boxes, scores, keypoints."""

    id: int
    frames: np.ndarray  # (L,) increasing
    boxes: np.ndarray  # (L, 4) xyxy
    scores: np.ndarray  # (L,)
    keypoints: np.ndarray | None  # (L, J, 3)


@dataclass
class Smoothed:
    """Forward-filtered and RTS-smoothed states of a box filter at every frame of a span."""

    frames: np.ndarray  # (F,) every frame index from the first observation to the last
    observed: np.ndarray  # (F,) bool
    filtered: np.ndarray  # (F, 8) forward filter after each frame
    filtered_cov: np.ndarray  # (F, 8, 8)
    predicted: np.ndarray  # (F, 8) forward filter before each frame's observation
    predicted_cov: np.ndarray  # (F, 8, 8)
    transitions: np.ndarray  # (F, 8, 8) from the previous frame into this one
    states: np.ndarray  # (F, 8) smoothed
    covariances: np.ndarray  # (F, 8, 8)

    @property
    def boxes(self) -> np.ndarray:
        return xyah_to_xyxy(self.states[:, :4])


def smooth_boxes(times: np.ndarray, tracklet: Tracklet, config) -> Smoothed:
    """The constant-velocity filter (config's position_weight, velocity_noise, position_noise) forwards
    over every frame of the tracklet's span, updated where it was observed, then the RTS smoother back."""
    frames = np.arange(tracklet.frames[0], tracklet.frames[-1] + 1)
    observed = np.zeros(len(frames), bool)
    observed[tracklet.frames - frames[0]] = True
    measured = np.zeros((len(frames), 4))
    measured[observed] = xyxy_to_xyah(tracklet.boxes)
    noise = (config.velocity_noise, config.position_noise)
    start = BoxKalman(tracklet.boxes[0], config.position_weight, *noise)
    x, covariance = start.x[None], start.P[None]
    filtered = np.zeros((len(frames), 8))
    filtered_cov = np.zeros((len(frames), 8, 8))
    predicted = np.zeros((len(frames), 8))
    predicted_cov = np.zeros((len(frames), 8, 8))
    transitions = np.zeros((len(frames), 8, 8))
    for k in range(len(frames)):
        dt = times[frames[k]] - times[frames[k - 1]] if k else 0.0
        transitions[k] = _step_matrices(max(float(dt), 0.0), *noise)[0]
        x, covariance = predict_states(x, covariance, dt, *noise)
        predicted[k], predicted_cov[k] = x[0], covariance[0]
        if observed[k]:
            x, covariance, _, _ = update_states(x, covariance, measured[k][None], config.position_weight)
        filtered[k], filtered_cov[k] = x[0], covariance[0]
    states, covariances = rts(filtered, filtered_cov, predicted, predicted_cov, transitions)
    return Smoothed(
        frames,
        observed,
        filtered,
        filtered_cov,
        predicted,
        predicted_cov,
        transitions,
        states,
        covariances,
    )


def rts(
    filtered: np.ndarray,
    filtered_cov: np.ndarray,
    predicted: np.ndarray,
    predicted_cov: np.ndarray,
    transitions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rauch-Tung-Striebel backward pass: smoothed states and covariances from the forward filter's
    posteriors (k), its priors (k) and the transition into each step (k), as filterpy's rts_smoother."""
    states, covariances = filtered.copy(), filtered_cov.copy()
    for k in range(len(states) - 2, -1, -1):
        gain = filtered_cov[k] @ transitions[k + 1].T @ np.linalg.inv(predicted_cov[k + 1])
        states[k] = filtered[k] + gain @ (states[k + 1] - predicted[k + 1])
        covariances[k] = filtered_cov[k] + gain @ (covariances[k + 1] - predicted_cov[k + 1]) @ gain.T
    return states, covariances


@dataclass
class Ends:
    """What linking needs of a tracklet: its first and last frame, the forward filter at its end, and
    the smoothed state at its start (informed by everything after it)."""

    first: int
    last: int
    end_state: np.ndarray
    end_cov: np.ndarray
    start_state: np.ndarray
    start_cov: np.ndarray

    @classmethod
    def of(cls, span: Smoothed) -> "Ends":
        observed = span.frames[span.observed]
        return cls(
            int(observed[0]),
            int(observed[-1]),
            span.filtered[-1],
            span.filtered_cov[-1],
            span.states[0],
            span.covariances[0],
        )


# What a link compares of the end moved across the gap and the start: the box (x, y, aspect, height), and
# with link_velocity the velocities of its centre and height too (two people whose paths meet in one
# spot walk on in different directions); the aspect's velocity says nothing of who it is.
_LINKED_BOX = [0, 1, 2, 3]
_LINKED_WITH_VELOCITY = [0, 1, 2, 3, 4, 5, 7]


def link(times: np.ndarray, ends: list[Ends], config) -> list[list[int]]:
    """Chains of tracklet indices, each one person in time order (see the module docstring, step 2)."""
    count = len(ends)
    cost = np.full((count, count), INFEASIBLE)
    noise = (config.velocity_noise, config.position_noise)
    compared = _LINKED_WITH_VELOCITY if config.link_velocity else _LINKED_BOX
    for a, before in enumerate(ends):
        for b, after in enumerate(ends):
            gap = times[after.first] - times[before.last] if after.first > before.last else -1.0
            if not 0.0 < gap <= config.link_time:
                continue
            x, covariance = predict_states(before.end_state[None], before.end_cov[None], gap, *noise)
            height_ratio = np.log(max(after.start_state[3], 1.0) / max(x[0, 3], 1.0))
            if abs(height_ratio) > config.relink_height:
                continue
            difference = after.start_state[compared] - x[0, compared]
            spread = covariance[0][np.ix_(compared, compared)] + after.start_cov[np.ix_(compared, compared)]
            distance = difference @ np.linalg.solve(spread, difference)
            if distance <= config.link_chi2:
                cost[a, b] = distance
    pairs, _, _ = assign(cost, config.link_chi2)  # a link costs its distance; none costs the gate
    following = dict(pairs)
    preceded = set(following.values())
    chains = []
    for first in range(count):
        if first in preceded:
            continue
        chain = [first]
        while chain[-1] in following:
            chain.append(following[chain[-1]])
        chains.append(chain)
    return chains


def smooth_keypoints(
    times: np.ndarray, frames: np.ndarray, observed_frames: np.ndarray, keypoints: np.ndarray, heights, config
) -> np.ndarray:
    """(F, J, 3) keypoints at every frame of `frames`: each coordinate a constant-velocity Kalman filter
    (noise in box heights, `heights` (F,)) forwards, RTS backwards; joints below keypoint_threshold and
    frames without an observation are not measured and get score 0."""
    span, joints = len(frames), keypoints.shape[1]
    measured = np.zeros((span, joints, 3))
    measured[observed_frames - frames[0]] = keypoints
    seen = measured[:, :, 2] >= config.keypoint_threshold  # (F, J)
    values = measured[:, :, :2].reshape(span, -1)  # (F, J·2) coordinates
    seen = np.repeat(seen, 2, axis=1)
    heights = np.maximum(np.asarray(heights, np.float64), 1.0)
    first = np.argmax(seen, axis=0)  # each coordinate starts at its first measurement
    mean = np.zeros((span, values.shape[1], 2))
    cov = np.zeros((span, values.shape[1], 2, 2))
    prior = np.zeros_like(mean)
    prior_cov = np.zeros_like(cov)
    steps = np.zeros((span, 2, 2))
    x = np.stack([values[first, np.arange(values.shape[1])], np.zeros(values.shape[1])], axis=1)
    p = np.zeros((values.shape[1], 2, 2))
    p[:, 0, 0] = (config.keypoint_noise * heights[0]) ** 2
    p[:, 1, 1] = heights[0] ** 2  # velocity unknown: about a body height per second
    for k in range(span):
        dt = max(float(times[frames[k]] - times[frames[k - 1]]), 0.0) if k else 0.0
        step = np.array([[1.0, dt], [0.0, 1.0]])
        q = (config.keypoint_velocity_noise * heights[k]) ** 2 * np.array(
            [[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]]
        )
        steps[k] = step
        x = x @ step.T
        p = step @ p @ step.T + q
        prior[k], prior_cov[k] = x, p
        r = (config.keypoint_noise * heights[k]) ** 2
        innovation = p[:, 0, 0] + r
        gain = p[:, :, 0] / innovation[:, None] * seen[k][:, None]  # (C, 2); 0 where not measured
        x = x + gain * (values[k] - x[:, 0])[:, None]
        p = p - gain[:, :, None] * p[:, None, 0, :]
        mean[k], cov[k] = x, p
    for k in range(span - 2, -1, -1):
        inverse = np.linalg.inv(prior_cov[k + 1])
        gain = cov[k] @ steps[k + 1].T @ inverse  # (C, 2, 2)
        mean[k] = mean[k] + (gain @ (mean[k + 1] - prior[k + 1])[:, :, None])[:, :, 0]
        cov[k] = cov[k] + gain @ (cov[k + 1] - prior_cov[k + 1]) @ gain.transpose(0, 2, 1)
    out = np.zeros((span, joints, 3))
    out[:, :, :2] = mean[:, :, 0].reshape(span, joints, 2)
    out[:, :, 2] = np.where(seen[:, ::2], measured[:, :, 2], 0.0)
    return out


@dataclass
class OfflineTrack:
    """One person after the offline pass: every frame index of the span, with box, score, keypoints."""

    id: int
    frames: np.ndarray  # (F,)
    boxes: np.ndarray  # (F, 4)
    scores: np.ndarray  # (F,) the observation's score; 0 on filled frames
    observed: np.ndarray  # (F,) bool
    keypoints: np.ndarray | None  # (F, J, 3)


class OfflineTracks:
    """The offline pass's result for a whole file; `by_frame()` walks it in frame order."""

    def __init__(self, times: np.ndarray, tracks: list[OfflineTrack]):
        self.times = times
        self.tracks = tracks

    def by_frame(self) -> Iterator[tuple[int, list[Track]]]:
        """(frame index, tracks in that frame) for every frame the tracker saw, in order."""
        heap = [(int(t.frames[0]), k, 0) for k, t in enumerate(self.tracks)]
        heapq.heapify(heap)
        for index in range(len(self.times)):
            out = []
            while heap and heap[0][0] == index:
                _, k, row = heapq.heappop(heap)
                out.append(self._record(self.tracks[k], row))
                if row + 1 < len(self.tracks[k].frames):
                    heapq.heappush(heap, (int(self.tracks[k].frames[row + 1]), k, row + 1))
            yield index, sorted(out, key=lambda track: track.id)

    def _record(self, track: OfflineTrack, row: int) -> Track:
        now = self.times[track.frames[row]]
        last_seen = track.frames[: row + 1][track.observed[: row + 1]][-1]
        return Track(
            id=track.id,
            box=track.boxes[row].astype(np.float64),
            score=float(track.scores[row]),
            keypoints=None if track.keypoints is None else track.keypoints[row].astype(np.float64),
            state=TrackState.CONFIRMED,
            age=float(now - self.times[track.frames[0]]),
            hits=int(track.observed[: row + 1].sum()),
            time_since_update=float(now - self.times[last_seen]),
        )


def offline_tracks(journal: Journal, config) -> OfflineTracks:
    """Link, fill and smooth what the online pass found (module docstring); ids stay the online ones of
    each chain's first tracklet. Memory: the smoother's matrices live for one person at a time; what
    stays is float32 boxes and keypoints of the result."""
    times = np.asarray(journal.times)
    tracklets = resolve_crossings(times, journal.tracklets(), config)
    ends, alone = [], []
    for tracklet in tracklets:
        span = smooth_boxes(times, tracklet, config)
        ends.append(Ends.of(span))
        alone.append(_track(times, tracklet, span, config))  # used if the tracklet links to nothing
    tracks = []
    for chain in link(times, ends, config):
        if len(chain) == 1:
            tracks.append(alone[chain[0]])
            continue
        parts = [tracklets[k] for k in chain]
        merged = Tracklet(
            parts[0].id,
            np.concatenate([p.frames for p in parts]),
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            None if parts[0].keypoints is None else np.concatenate([p.keypoints for p in parts]),
        )
        tracks.append(_track(times, merged, smooth_boxes(times, merged, config), config))
    return OfflineTracks(times, without_weak(tracks, config.weak_track_ratio))


def without_weak(tracks: list["OfflineTrack"], ratio: float) -> list["OfflineTrack"]:
    """The tracks whose mean observed score reaches `ratio` times the median of all observed scores
    (module docstring, step 4); all of them when scores are not positive (a file without scores)."""
    if not tracks or ratio <= 0:
        return tracks
    observed = [track.scores[track.observed] for track in tracks]
    typical = float(np.median(np.concatenate(observed)))
    if typical <= 0:
        return tracks
    return [track for track, scores in zip(tracks, observed, strict=True) if scores.mean() >= ratio * typical]


def _track(times: np.ndarray, tracklet: Tracklet, span: Smoothed, config) -> OfflineTrack:
    """One person's reported frames: observed ones and filled gaps, boxes and keypoints smoothed."""
    scores = np.zeros(len(span.frames))
    scores[tracklet.frames - span.frames[0]] = tracklet.scores
    keypoints = None
    if tracklet.keypoints is not None and tracklet.keypoints.shape[1]:
        keypoints = smooth_keypoints(
            times, span.frames, tracklet.frames, tracklet.keypoints, span.states[:, 3], config
        )
    shown = _filled_within(times, span.frames, span.observed, config.fill_time)
    return OfflineTrack(
        tracklet.id,
        span.frames[shown],
        span.boxes[shown].astype(np.float32),
        scores[shown].astype(np.float32),
        span.observed[shown],
        None if keypoints is None else keypoints[shown].astype(np.float32),
    )


def _filled_within(
    times: np.ndarray, frames: np.ndarray, observed: np.ndarray, fill_time: float
) -> np.ndarray:
    """Which frames of a span to report: the observed ones, and those of gaps of at most fill_time
    seconds between two observations."""
    shown = observed.copy()
    seen = np.flatnonzero(observed)
    for before, after in itertools.pairwise(seen):
        if after - before > 1 and times[frames[after]] - times[frames[before]] <= fill_time:
            shown[before + 1 : after] = True
    return shown
