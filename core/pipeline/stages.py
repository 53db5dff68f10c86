"""The worker side of `core.pipeline.Pipeline`: what each stage thread does, and the state they share.

Capture threads (one per source) → detect → pose → track/draw → sink. One thread per stage keeps
every source's frames in order; an item whose `frame` is None is the end marker of its source and
travels the same way, so a source's outputs close after its last frame.

The detect stage takes frames from a `FairInbox` (core.pipeline.fair): a queue per source served in
turn, so a file never holds up a camera, and a live source's newest frame replaces its waiting one
(newest frame wins, counted as dropped). Behind it, bounded FIFO queues. Frames of a removed source
are dropped at every stage at once; only its end marker goes on, to close its outputs.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.detect import DetectionSchedule
from core.pipeline.config import PipelineConfig
from core.pipeline.fair import FairInbox
from core.pipeline.models import Models, frame_boxes, new_tracker
from core.pipeline.offline import journal_of
from core.pipeline.stats import SourceStats, StatsCollector
from core.video.drawing import DEFAULT_STYLE, DrawStyle, annotate

POLL = 0.05  # seconds a blocked stage waits before it looks at the stop flag again


@dataclass
class FrameResult:
    """One processed frame, as the app displays it and the sinks write it."""

    source: str
    frame: Any  # core.video.sources.Frame
    tracks: list
    annotated: np.ndarray | None
    stats: SourceStats
    poses: list = field(default_factory=list)


@dataclass
class Item:
    """A frame on its way through the stages; `frame is None` marks the end of its source."""

    slot: Slot
    frame: Any = None
    started: float = 0.0  # monotonic time the frame left its source
    detections: list | None = None  # None: no detector run on this frame (interval), use the poses
    poses: list = field(default_factory=list)
    tracks: list = field(default_factory=list)
    annotated: np.ndarray | None = None
    holds_place: bool = False  # counted in flight by the FairInbox until it leaves the pose model


class Slot:
    """One source inside the pipeline: its outputs, tracker, detection cadence and statistics."""

    def __init__(self, key: str, source, sinks: list) -> None:
        self.key = key
        self.source = source
        self.live = bool(getattr(source, "is_live", False))
        self.dropped = 0  # live frames replaced by newer ones inside the pipeline
        self.sinks = sinks
        self.stats = StatsCollector(key)
        self.tracker = None
        self.tracker_generation = -1
        self.schedule: DetectionSchedule | None = (
            None  # the detect stage's cadence (+ the pose stage's fallback)
        )
        self.previous_poses: list = []  # the pose stage's last poses: boxes between detections
        self.reader: threading.Thread | None = None
        self.removed = threading.Event()
        self.ended = False  # the end marker reached the sink stage
        self.outputs_closed = False
        self.error: str | None = None
        self.done = threading.Event()


class StageThreads:
    """State shared by the stage threads, and their loops. The Pipeline owns one and starts the threads."""

    def __init__(
        self,
        config: PipelineConfig,
        models: Models | None,
        on_result: Callable | None,
        max_frames: int | None,
        style: DrawStyle = DEFAULT_STYLE,
    ) -> None:
        self.config = config
        self.models = models  # swapped whole by Pipeline.reconfigure; read once per frame or batch
        self.style = style  # how frames are drawn; replaced whole (Pipeline.style), read once per frame
        self.on_result = on_result
        self.max_frames = max_frames
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified when a source ends
        self.stop = threading.Event()
        self.running = threading.Event()  # cleared while paused
        self.running.set()
        self.inbox = FairInbox(config.queue_size)  # the detect stage's: a queue per source, in turn
        self.queues = [queue.Queue(config.queue_size) for _ in range(3)]  # of pose, track, sink
        self.results: queue.Queue | None = None
        self.tracker_generation = 0
        self.pending: Item | None = None  # a frame the pose stage holds back for the next batch
        self.detector_lock = threading.Lock()  # the pose stage may detect too (see estimate)

    def snapshot(self, slot: Slot) -> SourceStats:
        slot.stats.dropped = int(getattr(slot.source, "dropped", 0) or 0) + slot.dropped
        return slot.stats.snapshot()

    def put(self, q: queue.Queue, item) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue):
        while not self.stop.is_set():
            try:
                return q.get(timeout=POLL)
            except queue.Empty:
                continue
        return None

    def read_loop(self, slot: Slot) -> None:
        """Capture stage: pull frames from the source's own decode thread, in order."""
        source, count = slot.source, 0
        while not self.stop.is_set():
            if slot.removed.is_set() or (self.max_frames is not None and count >= self.max_frames):
                source.stop()
                break
            if not self.running.is_set():
                self.running.wait(POLL)
                continue
            waited = time.monotonic()
            frame = source.read(timeout=POLL * 4)
            if frame is None:
                if source.ended:
                    break
                continue  # a timeout: live source between frames
            now, count = time.monotonic(), count + 1
            slot.stats.add_latency("capture", now - waited)
            if not self.inbox.put(Item(slot, frame, now), self.stop):
                return
        if not self.stop.is_set():
            error = getattr(source, "error", None)
            slot.error = slot.error or (str(error) if error else None)
            self.inbox.put(Item(slot), self.stop)

    def detect_loop(self) -> None:
        outbox = self.queues[0]
        while (item := self.inbox.get(self.stop)) is not None:
            item.holds_place = item.frame is not None  # FairInbox.get counted it in flight
            if self.dropped_on_the_way(item):
                continue
            if item.frame is not None:
                models, slot = self.models, item.slot
                if slot.schedule is None or slot.schedule.every != models.config.interval:
                    slot.schedule = DetectionSchedule(models.config.interval)
                if slot.schedule.due():
                    item.detections = self.detect(models, item)
            if not self.put(outbox, item):
                return

    def remove(self, slot: Slot) -> None:
        """A source leaves: its reader stops and its frames still inside are dropped at once (the
        ones waiting here now, the others as each stage meets them); its end marker closes its outputs."""
        slot.removed.set()
        self.inbox.discard(slot)

    def dropped_on_the_way(self, item: Item) -> bool:
        """True for a frame of a removed source (it goes no further); the pose stage's place it held
        is given back. End markers always go on."""
        if item.frame is None or not item.slot.removed.is_set():
            return False
        self.give_back(item)
        return True

    def give_back(self, item: Item) -> None:
        """The frame has left the pose model (or was dropped): its source may send the next one."""
        if item.holds_place:
            item.holds_place = False
            self.inbox.release(item.slot)

    def detect(self, models: Models, item: Item) -> list:
        """Run the detector on the item's frame (the detect stage, or the pose stage when a frame
        without detection has nobody left to follow), timed in the source's "detect" latency."""
        began = time.monotonic()
        with self.detector_lock:
            detections = list(models.detector(item.frame.image, item.frame.index))
        item.slot.stats.add_latency("detect", time.monotonic() - began)
        return detections

    def next_batch(self) -> list[Item] | None:
        """The frames waiting now (at least one): their crops go through the model together.

        A frame without detections needs its source's previous poses, so it never joins a batch
        that already holds a frame of the same source; it waits for the next batch instead, as does
        a second frame of a live source.
        """
        first = self.pending or self.get(self.queues[0])
        self.pending = None
        if first is None:
            return None
        batch = [first]
        while first.frame is not None and len(batch) < self.config.max_batch_frames:
            try:
                item = self.queues[0].get_nowait()
            except queue.Empty:
                break
            same_source = any(b.slot is item.slot for b in batch)
            # A live source never has two frames in one batch (the older one would wait for the newer).
            if item.frame is None or (same_source and (item.detections is None or item.slot.live)):
                self.pending = item
                break
            batch.append(item)
        return batch

    def pose_loop(self) -> None:
        while (batch := self.next_batch()) is not None:
            batch = [item for item in batch if not self.dropped_on_the_way(item)]
            frames = [item for item in batch if item.frame is not None]
            if frames:
                self.estimate(frames)
            for item in batch:
                if not self.put(self.queues[1], item):
                    return

    def estimate(self, items: list[Item]) -> None:
        models = self.models
        boxes, scores = [], []
        for item in items:
            b, s = frame_boxes(
                item.slot.schedule,
                item.detections,
                item.slot.previous_poses,
                item.frame.image,
                lambda item=item: self.detect(models, item),
            )
            boxes.append(b)
            scores.append(s)
        began = time.monotonic()
        if any(len(b) for b in boxes):
            poses = models.estimator.estimate_batch([item.frame.image for item in items], boxes, scores)
        else:
            poses = [[] for _ in items]
        elapsed = time.monotonic() - began
        for item, item_poses in zip(items, poses, strict=True):
            item.poses = list(item_poses)
            item.slot.previous_poses = item.poses
            item.slot.stats.add_latency("pose", elapsed)
            self.give_back(item)

    def track_loop(self) -> None:
        inbox, outbox = self.queues[1], self.queues[2]
        while (item := self.get(inbox)) is not None:
            if self.dropped_on_the_way(item):
                continue
            if item.frame is not None:
                slot, models = item.slot, self.models
                if slot.tracker is None or slot.tracker_generation != self.tracker_generation:
                    if slot.tracker is not None:
                        slot.stats.forget_ids()
                    slot.tracker = new_tracker(models.config, journal_of(slot.sinks))
                    slot.tracker_generation = self.tracker_generation
                began = time.monotonic()
                item.tracks = list(slot.tracker.update(item.poses, timestamp=item.frame.time))
                drawn = time.monotonic()
                slot.stats.add_latency("track", drawn - began)
                if models.config.draw:
                    style = self.style
                    fps = slot.stats.fps() if style.hud else None
                    item.annotated = annotate(item.frame.image, item.tracks, models.trained, fps, style)
                    slot.stats.add_latency("draw", time.monotonic() - drawn)
            if not self.put(outbox, item):
                return

    def sink_loop(self) -> None:
        while (item := self.get(self.queues[2])) is not None:
            slot = item.slot
            if item.frame is None:
                self.end_slot(slot)
                continue
            if self.dropped_on_the_way(item):
                continue
            began = time.monotonic()
            # The frame counts as shown now: its outputs (the JSONL's "fps" included) carry the FPS
            # that counts it, the same number the stats, the overlay and the summary report.
            slot.stats.frame_done(len(item.tracks), [t.id for t in item.tracks], began)
            item.frame.fps = slot.stats.fps(began)
            for sink in slot.sinks:
                sink.write(item.frame, item.tracks, item.annotated)
            now = time.monotonic()
            slot.stats.add_latency("sink", now - began)
            slot.stats.add_latency("total", now - item.started)
            result = FrameResult(
                slot.key, item.frame, item.tracks, item.annotated, self.snapshot(slot), item.poses
            )
            if self.on_result is not None:
                self.on_result(result)
            if self.results is not None and not self.put(self.results, result):
                return

    def end_slot(self, slot: Slot) -> None:
        """The last frame of a source has been written: finalise its outputs (or discard a failure)."""
        keep = slot.error is None or bool(getattr(slot.source, "is_live", False))
        self.close_outputs(slot, keep)
        slot.source.stop()
        slot.ended = True
        with self.changed:
            slot.done.set()
            self.changed.notify_all()

    def close_outputs(self, slot: Slot, keep: bool) -> None:
        if slot.outputs_closed:
            return
        slot.outputs_closed = True
        errors = []
        for sink in slot.sinks:
            try:
                sink.close() if keep else sink.abort()
            except Exception as error:
                errors.append(error)
                with contextlib.suppress(Exception):
                    sink.abort()
        if errors:
            slot.error = slot.error or f"could not write outputs: {errors[0]}"
