"""The trackers the MOT bench runs side by side, each a `TrackerRun` (core.bench.sequences): ours, SORT
as abewley/sort has it (core.bench.sort_reference), and the peers of roboflow's `trackers` package
(SORT, ByteTrack, OC-SORT, BoT-SORT) at their defaults, told the sequence's frame rate and each frame's
time. The peers see boxes and scores only, as ours does here: BoT-SORT's camera-motion compensation
needs the pictures (it skips itself without them) and none of them gets appearance features.

`trackers` is in the `bench` extra, not a runtime dependency; `peers_unavailable_reason()` says in one
line what is missing and how to install it.
"""

import importlib
import importlib.util

import numpy as np

from core.bench.sequences import TrackerRun, results_table
from core.bench.sort_reference import Sort
from core.track import MotTable, Tracker, TrackerConfig, detections_by_frame
from core.track.offline import Journal, offline_tracks

# Row name -> class of the `trackers` package (2.6.1 measured).
PEERS = {
    "SORT": "SORTTracker",
    "ByteTrack": "ByteTrackTracker",
    "OC-SORT": "OCSORTTracker",
    "BoT-SORT": "BoTSORTTracker",
}
# The bench extra's package, installed without its opencv-python (which would replace our headless OpenCV).
INSTALL = "pip install --no-deps trackers==2.6.1 supervision==0.31.2, then its imports: see docs/tracking.md"


def ours(config: TrackerConfig | None = None, offline: bool = False) -> TrackerRun:
    """Our tracker with `config`: online, the boxes it reports as it goes; `offline`, the offline pass's
    (core.track.offline) after the online pass has seen every kept frame."""

    def run(detections: MotTable, kept: np.ndarray, fps: float) -> MotTable:
        settings = config or TrackerConfig()
        journal = Journal() if offline else None
        tracker = Tracker(settings, journal)
        frames = dict(detections_by_frame(detections, int(kept.max(initial=0))))
        rows = []
        for number in kept.tolist():
            for track in tracker.update(frames.get(number, []), timestamp=(number - 1) / fps):
                rows.append((number, track.id, *track.box))
        if offline:
            rows = [
                (int(kept[index]), track.id, *track.box)
                for index, tracks in offline_tracks(journal, settings).by_frame()
                for track in tracks
            ]
        return results_table(rows)

    return run


def sort_reference(detections: MotTable, kept: np.ndarray, fps: float) -> MotTable:
    """abewley/sort (max_age 1, min_hits 3, IoU 0.3): counts frames, so it ignores the rate."""
    sort = Sort(max_age=1, min_hits=3, iou_threshold=0.3)
    frames = dict(detections.by_frame(int(kept.max(initial=0))))
    rows = []
    for number in kept.tolist():
        for x1, y1, x2, y2, track_id in sort.update(frames[number].boxes):
            rows.append((number, track_id, x1, y1, x2, y2))
    return results_table(rows)


def peers_unavailable_reason() -> str | None:
    """None when the `trackers` package imports, else one line saying what to install."""
    for module in ("trackers", "supervision"):
        if importlib.util.find_spec(module) is None:
            return f"peers skipped: `{module}` is not installed (the bench extra: {INSTALL})"
    try:
        importlib.import_module("trackers")
    except ImportError as error:
        return f"peers skipped: `trackers` does not import ({error}; the bench extra: {INSTALL})"
    return None


def peer(name: str) -> TrackerRun:
    """The `trackers` package's tracker `name` (a key of PEERS) at its defaults."""
    class_name = PEERS[name]

    def run(detections: MotTable, kept: np.ndarray, fps: float) -> MotTable:
        import supervision
        import trackers

        tracker = getattr(trackers, class_name)(frame_rate=fps)
        frames = dict(detections.by_frame(int(kept.max(initial=0))))
        # Every frame: the peers' fixed-rate mode (one frame period a call), the mode they are tuned
        # in; with frames dropped, each frame's time, so they predict across the gap.
        stamped = len(kept) > 0 and kept[-1] - kept[0] + 1 != len(kept)
        rows = []
        for number in kept.tolist():
            frame = frames[number]
            found = supervision.Detections(
                xyxy=frame.boxes.reshape(-1, 4).astype(np.float32), confidence=frame.scores.astype(np.float32)
            )
            result = tracker.update(found, timestamp=(number - 1) / fps if stamped else None)
            for box, track_id in zip(result.xyxy, result.tracker_id, strict=True):
                if track_id >= 0:
                    rows.append((number, int(track_id), *box))
        return results_table(rows)

    return run
