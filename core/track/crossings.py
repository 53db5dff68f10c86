"""Swaps where two people touch, undone knowing the future (a step of the offline pass).

When two people cross or walk past each other their boxes touch, and an online tracker that must
decide at once sometimes lets each track continue on the other person. Offline both paths are known
on either side of the meeting: the tails (everything from some frame on) of two touching tracks are
exchanged when that makes both paths likelier under the steady walker's filter, judged over
`crossing_window` seconds around the meeting. Likelier means a smaller summed -2 log-likelihood of
the observations (the innovations' Mahalanobis distances and the log-determinants of their
covariances, the first observation of each path starting its filter), so position, heading and pace
across the meeting all count, and the two ways of pairing are compared over the same observations.

Only touching tracks (boxes overlap in a frame both are seen, heights alike) are candidates; a
meeting lasts while they touch again within `crossing_window`, and where in it the tails change hands
is chosen among its frames and the one after it. Meetings longer than LONGEST_MEETING windows are
people together, not a crossing, and are left alone. Ids stay with the heads.
"""

import numpy as np

from core.boxes import iou_matrix, xyxy_to_xyah
from core.track.kalman import BoxKalman, predict_states, update_states

# Meetings longer than this many crossing windows (people standing or walking together) are left as
# the online tracker had them: their paths side by side say nothing about who is who, and the cost of
# settling a meeting grows with the square of its length.
LONGEST_MEETING = 8.0


class _Observations:
    """Every tracklet's observations flat in frame order, each with the tracklet that owns it (changed
    by swaps)."""

    def __init__(self, tracklets: list):
        self.tracklets = tracklets
        frames = np.concatenate([t.frames for t in tracklets]).astype(np.int64)
        order = np.argsort(frames, kind="stable")
        self.frames = frames[order]
        self.boxes = np.concatenate([t.boxes for t in tracklets])[order]
        self.scores = np.concatenate([t.scores for t in tracklets])[order]
        has_keypoints = tracklets[0].keypoints is not None
        self.keypoints = np.concatenate([t.keypoints for t in tracklets])[order] if has_keypoints else None
        self.owner = np.repeat(np.arange(len(tracklets)), [len(t.frames) for t in tracklets])[order]

    def of(self, owner: int, first: int, end: int) -> np.ndarray:
        """Indices of `owner`'s observations in frames [first, end), in frame order."""
        low, high = np.searchsorted(self.frames, [first, end])
        return low + np.flatnonzero(self.owner[low:high] == owner)

    def swap_tails(self, a: int, b: int, frame: int) -> None:
        tail = self.owner[np.searchsorted(self.frames, frame) :]  # a view: written through
        mine, theirs = tail == a, tail == b
        tail[mine], tail[theirs] = b, a

    def result(self) -> list:
        """The tracklets as the swaps left them (ids with their heads), in order of their first frame."""
        by_owner = np.argsort(self.owner, kind="stable")  # frame order kept within each owner
        counts = np.bincount(self.owner, minlength=len(self.tracklets))
        stops = np.cumsum(counts)
        out = []
        for owner, tracklet in enumerate(self.tracklets):
            mine = by_owner[stops[owner] - counts[owner] : stops[owner]]
            keypoints = None if self.keypoints is None else self.keypoints[mine]
            out.append(
                type(tracklet)(tracklet.id, self.frames[mine], self.boxes[mine], self.scores[mine], keypoints)
            )
        return sorted(out, key=lambda t: (t.frames[0], t.id))


def path_costs(times: np.ndarray, paths: list[tuple[np.ndarray, np.ndarray]], config) -> np.ndarray:
    """-2 log-likelihood (constant dropped) of each path (frame indices increasing, xyxy boxes) under
    the steady walker's filter, each started by its first observation; all paths stepped together."""
    first = min(int(frames[0]) for frames, _ in paths)
    last = max(int(frames[-1]) for frames, _ in paths)
    count = len(paths)
    seen = np.zeros((last - first + 1, count), bool)
    measured = np.zeros((last - first + 1, count, 4))
    for i, (frames, boxes) in enumerate(paths):
        seen[frames - first, i] = True
        measured[frames - first, i] = xyxy_to_xyah(boxes)
    noise = (config.velocity_noise, config.position_noise)
    x, covariance = np.zeros((count, 8)), np.tile(np.eye(8), (count, 1, 1))
    started = np.zeros(count, bool)
    cost = np.zeros(count)
    for k in range(last - first + 1):
        if k:
            x, covariance = predict_states(x, covariance, times[first + k] - times[first + k - 1], *noise)
        step = seen[k] & started
        if step.any():
            x[step], covariance[step], residual, inverse = update_states(
                x[step], covariance[step], measured[k, step], config.position_weight
            )
            mahalanobis = np.einsum("ni,nij,nj->n", residual, inverse, residual)
            cost[step] += mahalanobis - np.linalg.slogdet(inverse)[1]
        for i in np.flatnonzero(seen[k] & ~started):
            start = BoxKalman(np.asarray(paths[i][1][0], np.float64), config.position_weight, *noise)
            x[i], covariance[i] = start.x, start.P
        started |= seen[k]
    return cost


def _touching(observations: _Observations, max_height_change: float) -> dict[int, list[tuple[int, int]]]:
    """frame -> pairs of observations whose boxes overlap in it and whose heights differ by at most
    e^max_height_change (the online tracker never moves a track onto a box of another size)."""
    pairs: dict[int, list[tuple[int, int]]] = {}
    frames = observations.frames  # in frame order
    starts = np.flatnonzero(np.r_[True, np.diff(frames) > 0])
    for begin, end in zip(starts, np.r_[starts[1:], len(frames)], strict=True):
        if end - begin < 2:
            continue
        boxes = observations.boxes[begin:end]
        heights = np.log(np.maximum(boxes[:, 3] - boxes[:, 1], 1.0))
        alike = np.abs(heights[:, None] - heights[None, :]) <= max_height_change
        overlap = np.triu((iou_matrix(boxes, boxes) > 0) & alike, 1)
        pairs[int(frames[begin])] = [(begin + int(i), begin + int(j)) for i, j in np.argwhere(overlap)]
    return pairs


def resolve_crossings(times: np.ndarray, tracklets: list, config) -> list:
    """The tracklets with the tails of touching ones exchanged where that is likelier (module
    docstring); unchanged when config.crossing_window is 0."""
    if config.crossing_window <= 0 or len(tracklets) < 2:
        return tracklets
    observations = _Observations(tracklets)
    touching = _touching(observations, config.max_height_change)

    def owners_at(frame: int) -> set[tuple[int, int]]:
        owner = observations.owner
        return {tuple(sorted((int(owner[i]), int(owner[j])))) for i, j in touching.get(frame, [])}

    settled: dict[tuple[int, int], int] = {}  # pair -> the last frame of its meeting already settled
    for frame in range(len(times)):
        for a, b in sorted(owners_at(frame)):
            if settled.get((a, b), -1) >= frame:
                continue
            last = frame  # the meeting goes on while they touch again within crossing_window
            ahead = frame + 1
            while ahead < len(times) and times[ahead] - times[last] <= config.crossing_window:
                last = ahead if (a, b) in owners_at(ahead) else last
                ahead += 1
            settled[(a, b)] = last
            if times[last] - times[frame] <= LONGEST_MEETING * config.crossing_window:
                _settle(times, observations, a, b, frame, last, config)
    return observations.result()


def _settle(times, observations: _Observations, a: int, b: int, first: int, last: int, config) -> None:
    """Exchange the tails of `a` and `b` at the frame of the meeting [first, last] (or the one after
    it) where both paths are likeliest, if that beats keeping them."""
    low = int(np.searchsorted(times, times[first] - config.crossing_window))
    high = int(np.searchsorted(times, times[last] + config.crossing_window, side="right"))
    mine, theirs = observations.of(a, low, high), observations.of(b, low, high)
    frames_a, frames_b = observations.frames[mine], observations.frames[theirs]
    paths = [(frames_a, observations.boxes[mine]), (frames_b, observations.boxes[theirs])]
    cuts = []
    for cut in range(first, last + 2):
        head_a, head_b = frames_a < cut, frames_b < cut
        if min(head_a.sum(), head_b.sum()) < 2 or head_a.all() or head_b.all():
            continue  # each head needs a velocity, each tail an observation
        cuts.append(cut)
        for head, tail in ((mine[head_a], theirs[~head_b]), (theirs[head_b], mine[~head_a])):
            joined = np.r_[head, tail]
            paths.append((observations.frames[joined], observations.boxes[joined]))
    if not cuts:
        return
    cost = path_costs(times, paths, config)
    swapped = cost[2::2] + cost[3::2]
    best = int(np.argmin(swapped))
    if swapped[best] < cost[0] + cost[1]:
        observations.swap_tails(a, b, cuts[best])
