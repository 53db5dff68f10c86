"""Multi-person tracker: Kalman prediction, Hungarian association on IoU (+ OKS for poses), life cycle.

Per frame (`Tracker.update(observations, timestamp)`):
1. every track's Kalman filter (core.track.kalman) predicts its box across the seconds since the last
   frame the tracker saw (frames a live source dropped are simply not seen: they are no misses);
2. round 1: confident observations (score >= high_score) against confirmed tracks, then what is left
   against lost tracks (the cascade); cost 1 - IoU, blended with OKS where both sides have keypoints;
   pairs are gated by minimum IoU (or OKS), by box height ratio and, for lost tracks, by the Kalman
   Mahalanobis distance; a pair costs more the more it would turn the track's observed heading
   (OC-SORT's momentum, over observations direction_time seconds apart); a lost track matched again
   reruns its filter along the straight path from its last observation (OC-SORT's re-update);
3. round 2 (ByteTrack): weak observations (low_score <= score < high_score) against confirmed tracks
   still unmatched, with a stricter IoU; weak boxes are often the half-hidden person a track follows,
   but they never start a track;
4. round 3: remaining confident observations against tentative tracks;
5. leftovers start tentative tracks if they score at least new_track_score and new_track_ratio times
   the median score of the last RECENT_SCORES detections (confident for this detector and scene);
6. a track reaching min_hits consecutive matches is confirmed; if it continues the extrapolated path
   of a lost track it takes that track's id (relinking after long occlusions), else a new id.
Each round is one Hungarian assignment that maximises the summed similarity of the pairs it takes
(`UNMATCHED`); the pair costs of all rounds are computed once a frame.

Life cycle: tentative --(min_hits matches in a row among the frames seen)--> confirmed --(missed)-->
lost --(matched)--> confirmed with the same id; a tentative track missed once, or a lost one unseen for
more than max_age seconds, is removed. Ids are handed out on confirmation, counting up, never reused.

Time is in seconds throughout (Kalman velocities and noise, max_age, relink growth), from the
timestamps given to `update` (capture time for live sources, presentation time for files, frame / fps
for MOTChallenge files), so the tracker behaves the same at 5 or 50 frames per second and across
irregular gaps.

Every track owns one box filter (core.track.kalman), stepped for all tracks of a frame in one numpy
call; keypoints of Pose observations are smoothed per joint by a One-Euro filter (core.track.smoothing).
"""

import math
from dataclasses import dataclass

import numpy as np

from core.boxes import iou_matrix, validate_boxes
from core.errors import UserError
from core.records import Detection, Pose, Track, TrackState
from core.track.config import TrackerConfig
from core.track.distances import INFEASIBLE, assign, combined_cost, direction_cost, oks_matrix
from core.track.kalman import box_estimates, mahalanobis_all
from core.track.motion import engine, new_filter
from core.track.offline import Journal
from core.track.smoothing import OneEuroFilter

# What leaving a track or an observation unmatched costs in a matching round: half of a pair without any
# similarity (cost 1), so each pair taken must be worth its cost and the round maximises the summed
# similarity, instead of first matching as many pairs as the gates allow.
UNMATCHED = 0.5

# How many of the latest detection scores the start threshold is relative to: a few seconds of a busy
# scene, so it follows the detector and the scene but not one frame's crowd.
RECENT_SCORES = 1000


class _RecentScores:
    """The latest RECENT_SCORES detection scores in a ring, and their median on demand."""

    def __init__(self) -> None:
        self.values = np.zeros(RECENT_SCORES)
        self.count = 0  # scores ever added

    def add(self, scores: np.ndarray) -> None:
        scores = scores[-RECENT_SCORES:]
        slots = (self.count + np.arange(len(scores))) % RECENT_SCORES
        self.values[slots] = scores
        self.count += len(scores)

    def median(self) -> float:
        return float(np.median(self.values[: min(self.count, RECENT_SCORES)])) if self.count else 0.0


class _Track:
    """The tracker's private state for one person."""

    def __init__(
        self, key: int, box: np.ndarray, score: float, frame: int, time: float, config: TrackerConfig
    ):
        self.key = key  # private, unique within the tracker (the offline journal's name for it)
        self.kalman = new_filter(box, config)
        self.id = 0  # public id, given on confirmation
        self.state = TrackState.TENTATIVE
        self.hits = self.streak = 1
        self.missed = 0  # frames seen since the last match
        self.score = float(score)
        self.box = box.copy()  # last observed box
        self.first_frame = self.last_frame = frame
        self.first_time = self.last_time = time  # seconds, of the first and the last observation
        self.last_state = self.kalman.snapshot()  # filter state right after the last observation
        self.lost_prior = self.last_state  # filter state predicted at the first frame missed since
        self.history = [(time, (box[:2] + box[2:]) / 2)]  # (seconds, centre) back to direction_time
        self.keypoints: np.ndarray | None = None  # smoothed online (One-Euro)
        self.observed_keypoints: np.ndarray | None = None  # as observed, for the offline journal
        self.smoother = (
            OneEuroFilter(config.min_cutoff, config.beta, config.d_cutoff) if config.smoothing else None
        )

    def remember(self, time: float, centre: np.ndarray, span: float) -> None:
        """Add an observed box centre; forget those before the newest one at least `span` seconds old
        (the first kept and the last are the track's heading, see Tracker._turn_costs)."""
        self.history.append((time, centre))
        while len(self.history) > 2 and time - self.history[1][0] >= span:
            self.history.pop(0)

    def predicted_keypoints(self, predicted_box: np.ndarray) -> np.ndarray | None:
        """Last keypoints moved and scaled with the box from the last observation to the prediction."""
        if self.keypoints is None:
            return None
        old, new = self.box, predicted_box
        old_c, new_c = (old[:2] + old[2:]) / 2, (new[:2] + new[2:]) / 2
        ratio = (new[3] - new[1]) / max(old[3] - old[1], 1e-6)
        moved = self.keypoints.copy()
        moved[:, :2] = (moved[:, :2] - old_c) * ratio + new_c
        return moved


@dataclass
class _Pairs:
    """This frame's tracks (rows) against its observations (columns), shared by the matching rounds."""

    iou: np.ndarray
    oks: np.ndarray | None  # NaN where either side has no pose
    blocked: np.ndarray  # height change too large, or outside a lost track's Kalman gate
    turn: np.ndarray  # extra cost of turning the track's heading


class Tracker:
    """`update(observations, timestamp) -> confirmed tracks matched in this frame`; one call per frame
    the tracker sees (frames dropped before it are never passed, so they never count as misses)."""

    def __init__(self, config: TrackerConfig | None = None, journal: Journal | None = None):
        """`journal`: where to keep every match for the offline pass (core.track.offline); None for
        live sources, which keep nothing."""
        self.config = config or TrackerConfig()
        self.journal = journal
        self.frame = 0  # frames seen
        self.time = 0.0  # seconds, on the tracker's clock (see _advance_clock)
        self._offset = 0.0  # added to timestamps after a source's clock went backwards
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._next_key = 1
        self._recent_scores = _RecentScores()
        self._frame_times: dict[int, float] = {}  # frame seen -> its time, back to the oldest track's last
        self._engine = engine(self.config)

    @property
    def tracks(self) -> list[Track]:
        """Every live track at its box estimate; tentative ones have id 0 (ids come on confirmation)."""
        return [self._record(t, t.kalman.box) for t in self._tracks]

    def update(self, observations: list[Detection | Pose], timestamp: float | None = None) -> list[Track]:
        """Advance to the frame taken at `timestamp` seconds (default: one frame period, 1 / fps, after
        the previous one): predict every track across the time since the last frame, then match."""
        c = self.config
        boxes, scores, keypoints = _validate(observations)
        dt = self._advance_clock(timestamp)
        time = self.time
        self._remember_frame_time()
        for track in self._tracks:
            track.missed += 1
        self._engine.predict_all([t.kalman for t in self._tracks], dt)
        table = self._pair_table(box_estimates([t.kalman for t in self._tracks]), boxes, keypoints)
        high = np.flatnonzero(scores >= c.high_score)
        low = np.flatnonzero((scores >= c.low_score) & (scores < c.high_score))
        recent = [i for i, t in enumerate(self._tracks) if t.state == TrackState.CONFIRMED]  # seen last frame
        lost = [i for i, t in enumerate(self._tracks) if t.state == TrackState.LOST]
        tentative = [i for i, t in enumerate(self._tracks) if t.state == TrackState.TENTATIVE]

        # Round 1: confident observations vs confirmed and lost tracks (cascade: confirmed first).
        if c.cascade:
            matches, rest_recent, rest = self._match(recent, high, table, c.min_iou)
            pairs, _, rest = self._match(lost, rest, table, c.min_iou)
            matches += pairs
        else:
            matches, rest_all, rest = self._match(recent + lost, high, table, c.min_iou)
            rest_recent = [t for t in rest_all if self._tracks[t].state == TrackState.CONFIRMED]
        # Round 2 (ByteTrack): weak observations vs confirmed tracks still unmatched.
        pairs, _, _ = self._match(rest_recent, low, table, c.low_min_iou, poses=False)
        matches += pairs
        # Round 3: remaining confident observations vs tentative tracks.
        pairs, _, rest = self._match(tentative, rest, table, c.min_iou)
        matches += pairs

        self._observe([self._tracks[t] for t, _ in matches], [o for _, o in matches], boxes, time)
        confirming: list[_Track] = []
        for t, o in matches:
            track = self._tracks[t]
            track.score = float(scores[o])
            if keypoints is not None:
                self._set_keypoints(track, keypoints[o], time)
            if track.state == TrackState.TENTATIVE and track.streak >= c.min_hits:
                confirming.append(track)
        self._relink(confirming)
        self._recent_scores.add(scores)
        rest = [o for o in rest if scores[o] >= c.new_track_score]
        if rest and c.new_track_ratio > 0:
            typical = max(self._recent_scores.median(), 0.0)  # scores below 0 (SVMs): the floor rules
            rest = [o for o in rest if scores[o] >= c.new_track_ratio * typical]
        for o in rest:
            track = _Track(self._next_key, boxes[o], scores[o], self.frame, time, c)
            self._next_key += 1
            if keypoints is not None:
                self._set_keypoints(track, keypoints[o], time)
            if self.frame <= c.min_hits:  # nothing to confirm against at the start of a stream
                self._confirm(track)
            self._tracks.append(track)
        survivors = [t for t in self._tracks if self._survives(t)]
        if self.journal is not None:
            alive = {t.key for t in survivors}
            self._write_journal(time, [t for t in self._tracks if t.id == 0 and t.key not in alive])
        self._tracks = survivors

        shown = [t for t in self._tracks if t.state == TrackState.CONFIRMED and t.missed == 0]
        observed = np.array([t.box for t in shown]).reshape(-1, 4)
        filtered = box_estimates([t.kalman for t in shown]) if c.output_box != "detection" else observed
        boxes = {"detection": observed, "filter": filtered, "mean": (observed + filtered) / 2}[c.output_box]
        return [self._record(track, box) for track, box in zip(shown, boxes, strict=True)]

    def _advance_clock(self, timestamp: float | None) -> float:
        """Move the clock to this frame; the seconds since the previous frame seen (0 for the first).

        A timestamp that does not move forward (a repeated frame, a file looping, a stream whose clock
        restarted) counts as one nominal frame period 1 / fps, and later timestamps are shifted by the
        same amount, so time never runs backwards and a clock reset is not a gap of hours."""
        self.frame += 1
        period = 1.0 / self.config.fps
        if timestamp is None:
            now = self.time + period if self.frame > 1 else 0.0
        else:
            stamp = float(timestamp)
            if not math.isfinite(stamp):
                raise UserError(f"tracker timestamp must be a finite number of seconds, got {timestamp!r}")
            now = stamp + self._offset
            if self.frame == 1:
                self._offset, now = 0.0, stamp
            elif now <= self.time:
                self._offset += self.time + period - now
                now = self.time + period
        dt = now - self.time if self.frame > 1 else 0.0
        self.time = now
        return dt

    def _remember_frame_time(self) -> None:
        """Keep the times of the frames a lost track may replay (core of the re-update): those since the
        oldest last observation of a live track."""
        self._frame_times[self.frame] = self.time
        oldest = min((t.last_frame for t in self._tracks), default=self.frame)
        for frame in [f for f in self._frame_times if f < oldest]:
            del self._frame_times[frame]

    def _survives(self, track: _Track) -> bool:
        """Life cycle after this frame's matching: missed tentative tracks die, missed confirmed ones
        become lost, lost ones die once unseen for more than max_age seconds."""
        if track.state == TrackState.MERGED:
            return False
        if track.missed == 0:
            return True
        if track.state == TrackState.TENTATIVE:
            return False
        if track.missed == 1 and self.config.reupdate:
            track.lost_prior = track.kalman.snapshot()  # where a re-update's replay starts
        track.state, track.streak = TrackState.LOST, 0
        return self.time - track.last_time <= self.config.max_age

    def _pair_table(self, predicted: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None) -> _Pairs:
        """Every track (at its predicted box) against every observation, once a frame for all rounds."""
        c = self.config
        iou = iou_matrix(predicted, boxes)
        oks = None
        if keypoints is not None and len(self._tracks) and len(boxes):
            poses = [t.predicted_keypoints(box) for t, box in zip(self._tracks, predicted, strict=True)]
            with_pose = [k for k, pose in enumerate(poses) if pose is not None]
            if with_pose:
                oks = np.full(iou.shape, np.nan)
                oks[with_pose] = oks_matrix(
                    np.stack([poses[k] for k in with_pose]), keypoints, boxes, c.keypoint_threshold
                )
        blocked = np.zeros(iou.shape, bool)
        if c.max_height_change > 0 and iou.size:
            heights = boxes[:, 3] - boxes[:, 1], predicted[:, 3] - predicted[:, 1]
            ratio = np.log(heights[0][None, :] / heights[1][:, None])
            blocked |= np.abs(ratio) > c.max_height_change
        if c.gate_chi2 > 0 and iou.size:
            gated = [
                row
                for row, track in enumerate(self._tracks)
                if track.state == TrackState.LOST or (c.gate_tracked and track.state == TrackState.CONFIRMED)
            ]
            distances = mahalanobis_all([self._tracks[row].kalman for row in gated], boxes)
            blocked[gated] |= distances > c.gate_chi2
        turn = self._turn_costs(boxes) if c.direction_weight > 0 and iou.size else np.zeros(iou.shape)
        return _Pairs(iou, oks, blocked, turn)

    def _match(
        self, track_idx: list[int], obs_idx: np.ndarray, table: _Pairs, min_iou: float, poses: bool = True
    ) -> tuple[list[tuple[int, int]], list[int], np.ndarray]:
        """Hungarian matching of some tracks to some observations (`poses`: blend in OKS where known).

        Returns (pairs of indices into self._tracks and observations, unmatched tracks, unmatched
        observations).
        """
        obs_idx = np.asarray(obs_idx, dtype=np.int64)
        if len(track_idx) == 0 or len(obs_idx) == 0:
            return [], list(track_idx), obs_idx
        c = self.config
        block = np.ix_(track_idx, obs_idx)
        oks = table.oks[block] if poses and table.oks is not None else None
        cost = combined_cost(table.iou[block], oks, c.oks_weight, min_iou, c.min_oks)
        cost[table.blocked[block]] = INFEASIBLE
        cost = np.where(cost < INFEASIBLE, cost + table.turn[block], cost)
        pairs, rows, cols = assign(cost, UNMATCHED)
        return (
            [(track_idx[r], int(obs_idx[o])) for r, o in pairs],
            [track_idx[r] for r in rows],
            obs_idx[cols],
        )

    def _turn_costs(self, boxes: np.ndarray) -> np.ndarray:
        """Momentum (tracks, observations): a pair costs more the more the box would turn the track's
        observed heading; tracks without a heading yet cost nothing extra."""
        c = self.config
        extra = np.zeros((len(self._tracks), len(boxes)))
        # A track's heading: from its oldest kept observed centre (at least direction_time before the
        # last one, or the oldest) to its last; none after a single observation.
        rows = [row for row, track in enumerate(self._tracks) if len(track.history) > 1]
        if not rows:
            return extra
        with_heading = [self._tracks[row] for row in rows]
        starts = np.array([track.history[0][1] for track in with_heading])
        heading_ = np.array([track.history[-1][1] for track in with_heading]) - starts
        last = np.array([track.box for track in with_heading])
        heights = last[:, 3] - last[:, 1]
        noise = c.position_weight * np.maximum(heights, 1.0)
        # A displacement between two observations has noise √2·noise; count the heading in full once
        # the track moved three of those (a standing person has no direction).
        confidence = np.minimum(1.0, np.linalg.norm(heading_, axis=1) / (3 * math.sqrt(2) * noise))
        moves = ((boxes[:, :2] + boxes[:, 2:]) / 2)[None] - starts[:, None]
        extra[rows] = c.direction_weight * confidence[:, None] * direction_cost(heading_, moves)
        return extra

    def _observe(self, tracks: list[_Track], observed: list[int], boxes: np.ndarray, time: float) -> None:
        """Correct the matched tracks' filters with their boxes (all in one step) and note the match."""
        c = self.config
        if c.reupdate:
            # OC-SORT's re-update: a track matched after missing frames replays the gap with boxes
            # interpolated in time between its last observation and this one, one per frame seen in
            # between, so the velocity learnt while lost reflects the real motion, not a guess; its
            # filter ends predicted to this frame, as the others. All such tracks replay together:
            # each frame of the gaps steps every track that was lost at that frame.
            # A replay starts from the prediction made at the first frame it missed (`lost_prior`: the
            # same step from the same state), so each track predicts from the frame after that on.
            replays = [
                (t, boxes[o]) for t, o in zip(tracks, observed, strict=True) if self.frame - t.last_frame > 1
            ]
            for track, _ in replays:
                track.kalman.restore(track.lost_prior)
            first = min((track.last_frame for track, _ in replays), default=self.frame)
            for frame in range(first + 1, self.frame + 1):
                group = [(track, box) for track, box in replays if track.last_frame < frame]
                self._engine.predict_all(
                    [t.kalman for t, _ in group if t.last_frame < frame - 1],
                    self._frame_times[frame] - self._frame_times[frame - 1],
                )
                if frame < self.frame:
                    share = np.array(
                        [(self._frame_times[frame] - t.last_time) / (time - t.last_time) for t, _ in group]
                    )
                    starts, ends = np.array([t.box for t, _ in group]), np.array([box for _, box in group])
                    self._engine.update_all(
                        [t.kalman for t, _ in group], starts + (ends - starts) * share[:, None]
                    )
        self._engine.update_all([t.kalman for t in tracks], boxes[observed])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        for track, o in zip(tracks, observed, strict=True):
            track.last_state = track.kalman.snapshot() if c.reupdate else (track.kalman.x.copy(), None)
            track.last_frame, track.last_time = self.frame, time
            track.remember(time, centres[o], c.direction_time)
            track.box = boxes[o].copy()
            track.hits += 1
            track.streak += 1
            track.missed = 0
            if track.state == TrackState.LOST:
                track.state = TrackState.CONFIRMED

    def _relink(self, confirming: list[_Track]) -> None:
        """Tracks confirmed this frame take the id of a lost track whose extrapolated path they continue.

        A lost track qualifies when it was last seen before the new track's first frame, its last box
        moved on with its last velocity lands within relink_distance + relink_growth × seconds lost (in
        box heights) of the new box, and the heights differ by at most e^relink_height. Closest wins.
        """
        c = self.config
        lost = [t for t in self._tracks if t.state == TrackState.LOST and t.missed > 0]
        if c.relink and confirming and lost:
            cost = np.full((len(confirming), len(lost)), INFEASIBLE)
            for j, old in enumerate(lost):
                gap = self.time - old.last_time
                old_h = old.box[3] - old.box[1]
                expected = (old.box[:2] + old.box[2:]) / 2 + old.last_state[0][4:6] * gap
                for i, new in enumerate(confirming):
                    if old.last_frame >= new.first_frame:
                        continue
                    new_h = new.box[3] - new.box[1]
                    distance = np.linalg.norm((new.box[:2] + new.box[2:]) / 2 - expected) / old_h
                    if (
                        abs(np.log(new_h / old_h)) <= c.relink_height
                        and distance <= c.relink_distance + c.relink_growth * gap
                    ):
                        cost[i, j] = distance
            # As many relinks as the gates allow (no `unmatched` cost): each one keeps an id that would
            # otherwise break; weighing a close relink against two far ones cost 4 IDF1 points on TUD.
            pairs, _, _ = assign(cost)
            for i, j in pairs:
                confirming[i].state, confirming[i].id = TrackState.CONFIRMED, lost[j].id
                lost[j].state = TrackState.MERGED
        for track in confirming:
            if track.state == TrackState.TENTATIVE:
                self._confirm(track)

    def _write_journal(self, time: float, died: list[_Track]) -> None:
        """This frame's matches into the offline journal; tentative tracks that died are struck out."""
        self.journal.frame(time)
        for track in self._tracks:
            if track.missed == 0:
                self.journal.observe(track.key, track.box, track.score, track.observed_keypoints)
            if track.id:
                self.journal.name(track.key, track.id)
        for track in died:
            self.journal.drop(track.key)

    def _set_keypoints(self, track: _Track, keypoints: np.ndarray, time: float) -> None:
        track.observed_keypoints = keypoints
        smoothed = keypoints.copy()
        if track.smoother is not None:
            height = max(float(track.box[3] - track.box[1]), 1.0)
            smoothed[:, :2] = track.smoother(keypoints[:, :2], time, scale=height)
        track.keypoints = smoothed

    def _confirm(self, track: _Track) -> None:
        track.state = TrackState.CONFIRMED
        track.id = self._next_id
        self._next_id += 1

    def _record(self, track: _Track, box: np.ndarray) -> Track:
        return Track(
            id=track.id,
            box=box.copy(),
            score=track.score,
            keypoints=None if track.keypoints is None else track.keypoints.copy(),
            state=track.state,
            age=self.time - track.first_time,
            hits=track.hits,
            time_since_update=self.time - track.last_time,
        )


def _validate(observations: list[Detection | Pose]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(boxes (N, 4), scores (N,), keypoints (N, J, 3) or None); UserError for anything malformed."""
    if not isinstance(observations, list | tuple):
        raise UserError(
            f"tracker input must be a list of Detection or Pose, got {type(observations).__name__}"
        )
    boxes = np.zeros((len(observations), 4))
    scores = np.zeros(len(observations))
    poses = []
    for i, obs in enumerate(observations):
        if not isinstance(obs, Detection | Pose):
            raise UserError(f"tracker input {i} is a {type(obs).__name__}, not a Detection or Pose")
        box = np.asarray(obs.box, dtype=np.float64)
        if box.shape != (4,):
            raise UserError(f"observation {i}: box must have shape (4,), got {box.shape}")
        score = float(obs.score)
        if not np.isfinite(score):
            raise UserError(f"observation {i}: score is {score}")
        boxes[i], scores[i] = box, score
        if isinstance(obs, Pose):
            kp = np.asarray(obs.keypoints, dtype=np.float64)
            if kp.ndim != 2 or kp.shape[1] != 3:
                raise UserError(f"observation {i}: keypoints must have shape (J, 3), got {kp.shape}")
            if not np.isfinite(kp).all():
                raise UserError(f"observation {i}: keypoints contain NaN or infinite values")
            poses.append(kp)
    validate_boxes(boxes, "observation box")
    if poses and len(poses) != len(observations):
        raise UserError("tracker input mixes Detection and Pose in one frame; give all poses or all boxes")
    if poses and len({p.shape for p in poses}) > 1:
        raise UserError("all poses of a frame must have the same number of joints")
    return boxes, scores, (np.stack(poses) if poses else None)
