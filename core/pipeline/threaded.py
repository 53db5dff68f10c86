"""The threaded pipeline: capture → detect → pose → track/draw → sinks, one thread per stage.

Why threads: torch releases the GIL inside its kernels and OpenCV inside decode, warp, HOG and
encode, so while the pose model runs on frame t the capture thread decodes t+1 and the sink thread
encodes t−1. Bounded queues between the stages keep memory flat and apply back-pressure; a single
thread per stage with FIFO queues keeps every source's frames in order.

Several sources share one pipeline: the pose stage takes every frame waiting (from any source) and
sends all their person crops through one `PoseEstimator.estimate_batch` call; the detect stage takes
the sources in turn (core.pipeline.fair), so each gets an equal share and a file never holds up a
camera; each source keeps its own tracker, outputs and statistics. The same `Pipeline` serves
`run.py track` (files, to the end) and the desktop app (live cameras: pause, swap sources or model
while running, a result stream).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from core.pipeline.config import PipelineConfig
from core.pipeline.models import Models, build_models, rebuild_models
from core.pipeline.stages import POLL, FrameResult, Slot, StageThreads
from core.pipeline.stats import SourceStats
from core.video.drawing import DEFAULT_STYLE, DrawStyle
from core.video.sinks import abort_all

log = logging.getLogger(__name__)


class Pipeline:
    """Runs sources through detect → pose → track → sinks on worker threads.

    `sink_factory(source) -> list[Sink]` opens each source's outputs when the source joins (none by
    default); `models` reuses loaded parts (see build_models); `style` is how frames are drawn.
    Results reach `on_result(FrameResult)` (called on the sink thread: keep it quick) and, once
    `results()` has been asked for, a bounded queue that applies back-pressure.
    """

    def __init__(
        self,
        config: PipelineConfig,
        sources: list | None = None,
        on_result: Callable[[FrameResult], None] | None = None,
        *,
        sink_factory: Callable[[Any], list] | None = None,
        models: Models | None = None,
        max_frames: int | None = None,
        style: DrawStyle = DEFAULT_STYLE,
    ) -> None:
        # max_frames: per source; a file counts as complete after this many frames.
        self._work = StageThreads(config, models, on_result, max_frames, style)
        self.sink_factory = sink_factory
        self._initial_sources = list(sources or [])
        self._slots: list[Slot] = []
        self._lock = self._work.lock
        self._changed = self._work.changed
        self._stop = self._work.stop
        self._running = self._work.running
        self._threads: list[threading.Thread] = []
        self._started = False
        self._shutdown_lock = threading.Lock()
        self._stopped = threading.Event()
        self.error: BaseException | None = None

    # ----------------------------------------------------------------------------------- control
    @property
    def config(self) -> PipelineConfig:
        return self._work.config

    @property
    def models(self) -> Models | None:
        return self._work.models

    @property
    def style(self) -> DrawStyle:
        """How frames are drawn; set a new one while running and the next frame is drawn with it
        (nothing is rebuilt: drawing settings are not the models')."""
        return self._work.style

    @style.setter
    def style(self, style: DrawStyle) -> None:
        self._work.style = style

    @property
    def trained(self) -> bool:
        return bool(self._work.models and self._work.models.trained)

    @property
    def on_result(self) -> Callable[[FrameResult], None] | None:
        return self._work.on_result

    @on_result.setter
    def on_result(self, callback: Callable[[FrameResult], None] | None) -> None:
        self._work.on_result = callback

    def start(self) -> Pipeline:
        if self._started:
            raise RuntimeError("a pipeline starts once; make a new one to run again")
        self._started = True
        if self._work.models is None:
            self._work.models = build_models(self.config)
        work = self._work
        stages = (
            ("detect", work.detect_loop),
            ("pose", work.pose_loop),
            ("track", work.track_loop),
            ("sink", work.sink_loop),
        )
        for name, loop in stages:
            thread = threading.Thread(target=self._guard, args=(loop,), name=f"pipeline-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        try:
            for source in self._initial_sources:
                self.add_source(source)
        except BaseException:
            self.stop(discard_incomplete=True)
            raise
        return self

    def __enter__(self) -> Pipeline:
        return self.start() if not self._started else self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(discard_incomplete=exc_type is not None)

    def pause(self) -> None:
        """Stop taking frames (live sources keep dropping their oldest; files wait)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def add_source(self, source) -> str:
        """Start a source (and open its outputs) while the pipeline runs; returns its key in stats()."""
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the pipeline has stopped")
            key = self._unique_key(getattr(source, "name", str(source)))
            sinks = list(self.sink_factory(source)) if self.sink_factory else []
            slot = Slot(key, source, sinks)
            try:
                source.start()
                self._work.inbox.add(slot)  # served first at the next turn
                slot.reader = threading.Thread(
                    target=self._guard,
                    args=(self._work.read_loop, slot),
                    name=f"pipeline-read-{key}",
                    daemon=True,
                )
                self._slots.append(slot)
            except BaseException:  # Ctrl-C included: no slot, so nobody else would abort these
                abort_all(sinks)
                raise
            slot.reader.start()
            self._changed.notify_all()
            return key

    def remove_source(self, key: str) -> None:
        """Stop a source; its frames still inside are dropped at once (the others never wait behind
        them) and its outputs are finalised with what was written."""
        self._work.remove(self._slot(key))

    def set_sources(self, sources: list) -> None:
        """Make `sources` the running set: new ones start, missing ones finish (matched by identity)."""
        with self._lock:
            wanted = {id(s) for s in sources}
            present = {id(slot.source) for slot in self._slots if not slot.removed.is_set()}
            for slot in self._slots:
                if id(slot.source) not in wanted:
                    self._work.remove(slot)
            for source in sources:
                if id(source) not in present:
                    self.add_source(source)

    def reconfigure(
        self, config: PipelineConfig | None = None, *, models: Models | None = None, **changes
    ) -> None:
        """Swap model, detector or tracker settings between two frames without stopping.

        The new parts are built here, in the caller's thread (loading a model takes a while), or
        come built as `models` (rebuild_models for this config, run elsewhere: the app builds in a
        thread it can give up on), then swapped in one assignment; the stages pick them up at their
        next frame. A tracker change starts new trackers (new IDs). Queue sizes apply only to a new
        pipeline.
        """
        new = replace(config or self.config, **changes)
        work = self._work
        if work.models is None:  # not started yet: start() builds from the new config
            work.config, work.models = new, models
            return
        if models is None:
            models, restart_trackers = rebuild_models(work.models, new)
        else:
            restart_trackers = models.config.tracker != work.models.config.tracker
        work.config, work.models = new, models  # the stages read `models` once per frame
        if restart_trackers:
            work.tracker_generation += 1

    def stats(self) -> dict[str, SourceStats]:
        """A snapshot per source: per-stage latency p50/p95, FPS, people per frame, dropped frames.
        A removed source that is still draining gives way to a running one of the same name."""
        with self._lock:
            slots = sorted(self._slots, key=lambda s: not s.removed.is_set())
        return {slot.key: self._work.snapshot(slot) for slot in slots}

    def source_errors(self) -> dict[str, str]:
        with self._lock:
            slots = sorted(self._slots, key=lambda s: not s.removed.is_set())
        return {slot.key: slot.error for slot in slots if slot.error}

    def results(self, timeout: float | None = None) -> Iterator[FrameResult]:
        """Yield results in order until every source has ended or the pipeline stops.

        The queue exists from the first call on (ask before start() to see every frame); a slow
        consumer slows the pipeline rather than losing frames.
        """
        with self._lock:
            if self._work.results is None:
                self._work.results = queue.Queue(max(2, self.config.queue_size))
            results = self._work.results
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                yield results.get(timeout=POLL)
                continue
            except queue.Empty:
                pass
            if self._stop.is_set() or (self._started and self._all_done()):
                while not results.empty():  # what arrived just before the end
                    yield results.get_nowait()
                return
            if deadline is not None and time.monotonic() > deadline:
                return

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every source has ended (or the pipeline stopped); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not (self._stop.is_set() or self._all_done()):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(POLL if remaining is None else min(remaining, POLL))
        if self.error is not None:
            raise self.error
        return True

    def run(self) -> dict[str, SourceStats]:
        """start(), wait for the end of every source, stop(); Ctrl-C discards unfinished file outputs."""
        try:
            self.start()
            self.wait()
        except BaseException:
            self.stop(discard_incomplete=True)
            raise
        self.stop()
        return self.stats()

    def stop(self, discard_incomplete: bool = False) -> None:
        """End every thread and close every output.

        Outputs are finalised (atomic rename), except with `discard_incomplete`: then a file source
        that has not reached its end has its outputs aborted, so no complete-looking partial file is
        left for `--resume` to skip. Live sources have no end, so their outputs are always kept.
        """
        self._shutdown(discard_incomplete=discard_incomplete)
        if self.error is not None:
            raise self.error

    # ---------------------------------------------------------------------------------- internals
    def _unique_key(self, name: str) -> str:
        """The source's name; "name (2)" only while another running source has the same name. A
        re-opened source keeps its plain name: a removed one no longer counts (and leaves the list
        once its end marker is through)."""
        self._slots = [slot for slot in self._slots if not (slot.removed.is_set() and slot.done.is_set())]
        keys = {slot.key for slot in self._slots if not slot.removed.is_set()}
        key, n = name, 1
        while key in keys:
            n += 1
            key = f"{name} ({n})"
        return key

    def _slot(self, key: str) -> Slot:
        """The running source of that key (a removed one of the same name is still draining)."""
        with self._lock:
            for slot in sorted(self._slots, key=lambda s: s.removed.is_set()):
                if slot.key == key:
                    return slot
        raise KeyError(key)

    def _all_done(self) -> bool:
        with self._lock:
            return all(slot.done.is_set() for slot in self._slots)

    def _guard(self, loop, *args) -> None:
        """Run a stage loop; an exception fails the whole pipeline and discards its outputs."""
        try:
            loop(*args)
        except BaseException as error:
            if self.error is None:
                self.error = error
            # The caller reports `self.error` (run.py as one `error:` line); --verbose adds the trace.
            log.info("pipeline stage %s failed", threading.current_thread().name, exc_info=True)
            self._stop.set()
            threading.Thread(
                target=self._shutdown, kwargs={"discard_incomplete": True, "abort_all": True}, daemon=True
            ).start()

    def _shutdown(self, discard_incomplete: bool = False, abort_all: bool = False) -> None:
        with self._shutdown_lock:
            if self._stopped.is_set():
                return
            self._stop.set()
            self._running.set()
            with self._lock:
                slots = list(self._slots)
            for slot in slots:
                try:
                    slot.source.stop()
                except Exception as error:
                    log.warning("stopping %s: %s", slot.key, error)
            current = threading.current_thread()
            for thread in [*self._threads, *(s.reader for s in slots if s.reader)]:
                if thread is not current and thread.is_alive():
                    thread.join()
            for slot in slots:
                if not slot.ended:
                    live = bool(getattr(slot.source, "is_live", False))
                    keep = not abort_all and (live or not discard_incomplete)
                    self._work.close_outputs(slot, keep)
                slot.done.set()
            self._stopped.set()
            with self._changed:
                self._changed.notify_all()
