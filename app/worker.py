"""The bridge between Qt and core.pipeline.threaded: slow work off the GUI thread, frames back as Qt signals.

`PipelineWorker` lives in its own QThread. Everything that can take seconds — probing a stream
(up to the connect timeout), loading a model, swapping a detector, joining the pipeline's threads —
runs there, so the window never freezes. The pipeline calls `_on_result` on its sink thread; that
converts the annotated frame to a QImage that owns its pixels and puts it in a one-slot mailbox per
source. A signal is emitted only when the mailbox was empty, so a busy GUI thread never collects a
backlog of queued frames: it simply shows the newest one when it gets to it.

The app's pipeline draws skeletons and boxes only (`hud=False`): the view paints FPS and ID tags at
screen size. Each source's state (lost, reconnecting, reconnected, showing) comes back as a signal.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QImage

from app.builds import SLOW_BACKENDS, ModelBuild, built_parts, describe_change
from app.recorder import Recorder
from app.video_view import Tag
from core.errors import UserError, one_line
from core.pipeline import (
    BUILT_FIELDS,
    FrameResult,
    Pipeline,
    PipelineConfig,
    build_models,
    list_inputs,
    rebuild_models,
)
from core.redact import redact_text
from core.video import DEFAULT_STYLE, DrawStyle

log = logging.getLogger(__name__)

HEALTH_INTERVAL_MS = 250


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A QImage that owns a copy of the pixels of a BGR (or grey) uint8 frame.

    QImage(buffer, ...) only borrows the numpy memory; the pipeline may reuse or free that array
    once the callback returns, so the copy() here is what makes handing the image to the GUI safe.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an H×W×3 or H×W uint8 image, got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    fmt = QImage.Format.Format_BGR888 if image.ndim == 3 else QImage.Format.Format_Grayscale8
    return QImage(image.data, width, height, image.strides[0], fmt).copy()


@dataclass(frozen=True)
class ModelsInfo:
    trained: bool
    model: object | None = None  # core.model.hrnet.ModelConfig of the loaded model (None before loading)
    backend: str = ""  # e.g. "eager · bf16 · cpu"


@dataclass(frozen=True)
class SourceHealth:
    """What the window shows of a source's capture beside its statistics."""

    live: bool
    rate: float | None  # the source's own frame rate (camera or container), None when unknown
    last_frame_age: float | None  # seconds since the source captured its newest frame
    state: object | None  # core.video.SourceState: a reconnecting stream's countdown is read from it


@dataclass(frozen=True)
class Shown:
    """What the view needs of one result: the picture, its HUD and when it was captured."""

    image: QImage
    stats: object  # core.pipeline.SourceStats
    tags: list[Tag]
    captured: float


class PipelineWorker(QObject):
    """Owns the Pipeline; call its public methods from the GUI thread, they return at once.

    Its thread starts, and the model starts loading, at `start()`: after the window has connected its
    signals, so that a model which loads faster than the window builds itself is not announced to
    nobody (the window would say "Loading the model…" forever)."""

    frame_ready = pyqtSignal(str)  # source key: a new image waits in the mailbox (take_frame)
    sources_changed = pyqtSignal(list, list)  # keys of the running sources in display order, new ones
    source_ended = pyqtSignal(str, str)  # key, reason ("" at a normal end of file)
    source_state = pyqtSignal(str, str, str)  # key, phase (core.video.SourceState), one-line text
    config_changed = pyqtSignal(object, object)  # the PipelineConfig in force, its ModelsInfo
    busy = pyqtSignal(str)  # "loading model…" etc.; "" when idle
    error = pyqtSignal(str)  # one line for the status bar
    info = pyqtSignal(str)
    recording_changed = pyqtSignal(bool, str)  # recording?, folder or final message
    stopped = pyqtSignal()

    _open_requested = pyqtSignal(list, bool)
    _stop_requested = pyqtSignal()
    _reconfigure_requested = pyqtSignal(dict)
    _record_requested = pyqtSignal(bool, str)
    _shutdown_requested = pyqtSignal()
    _cancel_build_requested = pyqtSignal()

    def __init__(self, config: PipelineConfig, style: DrawStyle = DEFAULT_STYLE) -> None:
        super().__init__()
        self.config = config
        self._style = replace(style, hud=False)  # the view paints the HUD at screen size
        self._cancel = threading.Event()  # set by stop(): gives up a stream's pending connect
        self._pipeline: Pipeline | None = None
        self._models = None  # kept across Stop/Open so a model loads once
        self._sources: dict[str, object] = {}  # key -> FrameSource
        self._ended: set[str] = set()
        self._mailbox: dict[str, tuple[QImage, object]] = {}
        self._lock = threading.Lock()  # the mailbox, shared with the pipeline's sink thread
        self._recording: Recorder | None = None
        self._build: ModelBuild | None = None  # a new model being built for a changed setting
        self._frames = 0
        self._shut_down = threading.Event()

        self._thread = QThread()
        self._thread.setObjectName("pipeline-worker")
        self.moveToThread(self._thread)
        self._health = QTimer()
        self._health.setInterval(HEALTH_INTERVAL_MS)
        self._health.moveToThread(self._thread)
        self._health.timeout.connect(self._check_health)
        self._thread.started.connect(self._health.start)
        self._thread.started.connect(self._preload)
        self._open_requested.connect(self._open)
        self._stop_requested.connect(self._stop)
        self._reconfigure_requested.connect(self._reconfigure)
        self._record_requested.connect(self._record)
        self._shutdown_requested.connect(self._shutdown)
        self._cancel_build_requested.connect(self._give_up_build)

    def start(self) -> None:
        """Start the worker thread, which loads the model at once; connect the signals first."""
        self._thread.start()

    # ------------------------------------------------------------------ GUI-thread API (non-blocking)
    def open_sources(self, specs: list[str], add: bool = False) -> None:
        """Open sources (replacing the running ones unless `add`); errors come back as `error`."""
        self._open_requested.emit([str(s) for s in specs], add)

    def stop(self) -> None:
        """Stop every source; a stream still connecting gives up at once (it may take 10 s else)."""
        self._cancel.set()
        self._end_recording_now()
        self._stop_requested.emit()

    @property
    def style(self) -> DrawStyle:
        """How frames are drawn (the app's pipeline draws skeletons and boxes; the view the HUD)."""
        return self._style

    def set_style(self, style: DrawStyle) -> None:
        """Draw the next frames in `style`, at once: no model is touched, nothing is rebuilt."""
        self._style = replace(style, hud=False)
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.style = self._style

    def reconfigure(self, **changes) -> None:
        """Change PipelineConfig fields; model/detector rebuilds happen on the worker thread."""
        self._reconfigure_requested.emit(changes)

    def cancel_build(self) -> None:
        """Give up the model being built: the controls return to what runs."""
        self._cancel_build_requested.emit()

    def start_recording(self, folder: str | Path) -> None:
        self._record_requested.emit(True, str(folder))

    def stop_recording(self) -> None:
        self._end_recording_now()
        self._record_requested.emit(False, "")

    def _end_recording_now(self) -> None:
        """The recording ends now, when asked, not when the worker thread gets to closing it."""
        recording = self._recording
        if recording is not None:
            recording.end_at(time.monotonic())

    def pause(self) -> None:
        if self._pipeline is not None:
            self._pipeline.pause()

    def resume(self) -> None:
        if self._pipeline is not None:
            self._pipeline.resume()

    @property
    def paused(self) -> bool:
        pipeline = self._pipeline
        return bool(pipeline is not None and pipeline.paused)

    @property
    def running(self) -> bool:
        return self._pipeline is not None

    @property
    def recording(self) -> bool:
        return self._recording is not None

    @property
    def frames_received(self) -> int:
        return self._frames

    def stats(self) -> dict:
        """SourceStats of the sources shown now ({} when stopped): sources that were replaced or
        removed leave; one that reached its end stays, listed in `finished()`."""
        pipeline = self._pipeline
        if pipeline is None:
            return {}
        shown = list(self._sources)
        stats = pipeline.stats()
        return {key: stats[key] for key in shown if key in stats}

    def health(self) -> dict[str, SourceHealth]:
        """Capture-side health of the sources shown now: frame age, own rate, state."""
        health = {}
        for key, source in list(self._sources.items()):
            state = source.state() if callable(getattr(source, "state", None)) else None
            health[key] = SourceHealth(bool(source.is_live), source.fps, source.last_frame_age(), state)
        return health

    def finished(self) -> set[str]:
        """Keys of the shown sources that have ended (end of file, or a failure)."""
        return set(self._ended)

    def take_frame(self, key: str) -> Shown | None:
        """The newest result of `key`, or None; empties the mailbox."""
        with self._lock:
            return self._mailbox.pop(key, None)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop everything and end the worker thread; blocks until done (window close, tests)."""
        if self._thread.isRunning():
            self._end_recording_now()
            self._shutdown_requested.emit()
            self._shut_down.wait(timeout_ms / 1000)
            self._thread.quit()
            return self._thread.wait(timeout_ms)
        return True

    # -------------------------------------------------------------------------- worker-thread slots
    @pyqtSlot(list, bool)
    def _open(self, specs: list[str], add: bool) -> None:
        from core.video import open_source

        opened, errors = [], []
        for spec in expand_specs(specs, errors):
            if self._cancel.is_set():
                break
            self.busy.emit(f"connecting to {redact_text(spec)}…")
            try:
                opened.append(open_source(spec, cancel=self._cancel))
            except UserError as error:
                errors.append(one_line(error))
            except Exception as error:  # OpenCV/FFmpeg oddities must not kill the app
                errors.append(f"cannot open {redact_text(spec)}: {one_line(error)}")
        self.busy.emit("")
        if self._cancel.is_set():  # Stop was pressed meanwhile: nothing opened starts
            for source in opened:
                source.stop()
            self.info.emit("stopped: connection cancelled")
            return
        if opened:
            try:
                if self._pipeline is None or self._pipeline.error is not None:
                    self._start_pipeline()
                if not add:
                    self._remove_all()
            except Exception as error:  # a model or detector that cannot load
                if not isinstance(error, UserError):
                    log.exception("starting the pipeline failed")
                errors.append(one_line(error))
                for source in opened:
                    source.stop()
                opened = []
            fresh = []
            for source in opened:
                try:
                    key = self._pipeline.add_source(source)
                    self._sources[key] = source
                    fresh.append(key)
                    source.on_state = lambda state, key=key: self._state_changed(key, state)
                except Exception as error:
                    errors.append(f"cannot start {source.name}: {one_line(error)}")
                    source.stop()
            self._emit_sources(fresh)
        if errors:  # one line, after the "showing …" message so that it stays visible
            self.error.emit("; ".join(errors))

    @pyqtSlot()
    def _preload(self) -> None:
        """Load the model while the user picks a source: the first Open is quick, and a bad
        checkpoint or detector is reported at once."""
        if self._models is not None:
            return
        self.busy.emit("loading model…")
        try:
            self._models = build_models(self.config)
        except Exception as error:
            if not isinstance(error, UserError):
                log.exception("loading the model failed")
            self.error.emit(one_line(error))
        finally:
            self.busy.emit("")
        self.config_changed.emit(self.config, self.models_info())

    def _start_pipeline(self) -> None:
        if self._pipeline is not None:  # a failed pipeline: let it go
            self._stop()
        if self._models is None:
            self.busy.emit("loading model…")
        try:
            pipeline = Pipeline(
                self.config, [], on_result=self._on_result, models=self._models, style=self._style
            )
            pipeline.start()
        finally:
            self.busy.emit("")
        self._pipeline = pipeline
        pipeline.style = self._style  # a style set while it was starting
        self._models = pipeline.models
        self.config_changed.emit(self.config, self.models_info())

    def _remove_all(self) -> None:
        for key in list(self._sources):
            with contextlib.suppress(KeyError):
                self._pipeline.remove_source(key)
        self._close_recording_sinks(list(self._sources))
        self._sources.clear()
        self._ended.clear()
        with self._lock:
            self._mailbox.clear()

    @pyqtSlot()
    def _stop(self) -> None:
        self._finish_recording()  # first: the recording ends when asked, not after the threads join
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            try:
                pipeline.stop()
            except Exception as error:  # a stage that failed earlier re-raises here
                self.error.emit(f"pipeline stopped: {one_line(error)}")
        self._sources.clear()
        self._ended.clear()
        self._cancel.clear()
        self._emit_sources()
        self.stopped.emit()

    @pyqtSlot(dict)
    def _reconfigure(self, changes: dict) -> None:
        """Settings that need no new model apply at once; a new model or detector is built in a
        ModelBuild beside the running pipeline, which goes on meanwhile (the panel keeps showing
        what runs); the build's target takes later changes on top."""
        build = self._build
        try:
            target = replace(build.target if build is not None else self.config, **changes)
        except UserError as error:
            self.error.emit(one_line(error))
            self.config_changed.emit(self.config, self.models_info())
            return
        rebuilt = {name for name in BUILT_FIELDS if getattr(target, name) != getattr(self.config, name)}
        other = {name: value for name, value in changes.items() if name not in BUILT_FIELDS}
        if other:
            self._apply(replace(self.config, **other), describe_change(other))
        if build is not None and (not rebuilt or built_parts(build.target) != built_parts(target)):
            self._give_up_build(quiet=True)  # replaced by the new target, or no longer wanted
        if rebuilt and (self._build is None):
            self._start_build(target, {name: getattr(target, name) for name in sorted(rebuilt)})

    def _apply(self, new: PipelineConfig, said: str, models=None) -> bool:
        """Put `new` in force (with `models` built for it already, or what it needs built here)."""
        try:
            if self._pipeline is not None:
                self._pipeline.reconfigure(new, models=models)
                self._models = self._pipeline.models
            elif models is not None:
                self._models = models
            elif self._models is not None:  # stopped: update the kept models the same way
                self._models = rebuild_models(self._models, new)[0]
            self.config = new
            self.info.emit(said)
            return True
        except UserError as error:
            self.error.emit(one_line(error))
        except Exception as error:
            log.exception("reconfigure failed")
            self.error.emit(f"cannot apply: {one_line(error)}")
        finally:
            self.config_changed.emit(self.config, self.models_info())
        return False

    def _start_build(self, target: PipelineConfig, rebuilt: dict) -> None:
        said = describe_change(rebuilt).removeprefix("applied: ")
        slow = SLOW_BACKENDS.get(target.backend) if "backend" in rebuilt else None
        models = self._models

        def build():
            return rebuild_models(models, target)[0] if models is not None else build_models(target)

        self._build = ModelBuild(build, f"{said} ({slow})" if slow else said, target)
        self._build.done.connect(self._build_done)
        self._build.start()
        self.busy.emit(f"building {said}…")
        self.config_changed.emit(self.config, self.models_info())  # the controls show what runs

    @pyqtSlot(object, object)
    def _build_done(self, models, error) -> None:
        build = self._build
        if build is None or self.sender() is not build:  # given up on meanwhile
            return
        self._build = None
        self.busy.emit("")
        if error is not None:
            if isinstance(error, UserError):
                self.error.emit(one_line(error))
            else:
                log.error("building the model failed", exc_info=error)
                self.error.emit(f"cannot apply: {one_line(error)}")
            self.config_changed.emit(self.config, self.models_info())
            return
        # Settings changed during the build (drawing, tracking) stay; the built parts come in.
        new = replace(self.config, **built_parts(build.target))
        self._apply(new, f"applied: {build.describe}", replace(models, config=new))

    @pyqtSlot()
    def _give_up_build(self, quiet: bool = False) -> None:
        build, self._build = self._build, None
        if build is None:
            return
        build.cancel()
        self.busy.emit("")
        if not quiet:
            self.info.emit(f"cancelled building {build.describe}; still running {self.models_info().backend}")
        self.config_changed.emit(self.config, self.models_info())

    def build_status(self) -> tuple[str, float] | None:
        """(what is being built, seconds so far), or None when nothing is."""
        build = self._build
        return None if build is None else (build.describe, build.elapsed())

    def _trained(self) -> bool:
        if self._models is not None:
            return bool(self._models.trained)
        return self.config.checkpoint is not None

    def models_info(self) -> ModelsInfo:
        """What is loaded: a checkpoint's own architecture and the backend actually chosen."""
        models = self._models
        if models is None:
            return ModelsInfo(self.config.checkpoint is not None)
        estimator = models.estimator
        backend = " · ".join(
            str(v) for v in (estimator.backend_name, estimator.precision, estimator.device) if v is not None
        )
        return ModelsInfo(bool(models.trained), getattr(estimator, "config", None), backend)

    @pyqtSlot(bool, str)
    def _record(self, start: bool, folder: str) -> None:
        if not start:
            self._finish_recording()
            return
        if self._recording is not None:
            return
        path = Path(folder).expanduser().resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self.error.emit(f"cannot record to {path}: {error.strerror or error}")
            self.recording_changed.emit(False, "")
            return
        weights = "trained" if self._trained() else "untrained"
        self._recording = Recorder(path, weights, present=set(self._sources))
        self.recording_changed.emit(True, str(path))

    def _finish_recording(self) -> None:
        recording, self._recording = self._recording, None
        if recording is None:
            return
        try:
            message = recording.close()
        except Exception as error:
            self.error.emit(f"recording not saved: {one_line(error)}")
            message = "recording not saved"
        self.recording_changed.emit(False, message)

    def _close_recording_sinks(self, keys: list[str]) -> None:
        """Sources leaving while recording: finalise their files, keep recording the others."""
        if self._recording is not None:
            self._recording.finish(keys)

    @pyqtSlot()
    def _check_health(self) -> None:
        """Report sources that ended and a pipeline whose stage failed (polled: no callback exists)."""
        pipeline = self._pipeline
        if pipeline is None:
            return
        if pipeline.error is not None:
            self._stop()  # Pipeline.stop() re-raises the stage's error: _stop reports it once
            return
        errors = pipeline.source_errors()
        stats = pipeline.stats()
        for key, source in list(self._sources.items()):
            done = stats.get(key)
            # ended = capture finished and every captured frame reached the outputs (or was dropped)
            finished = source.ended and done is not None and done.frames + done.dropped >= source.captured
            if key not in self._ended and finished:
                self._ended.add(key)
                self._close_recording_sinks([key])
                self.source_ended.emit(key, redact_text(errors.get(key) or source.error or ""))

    @pyqtSlot()
    def _shutdown(self) -> None:
        self._give_up_build(quiet=True)
        self._health.stop()
        self._stop()
        self._shut_down.set()

    def _emit_sources(self, fresh: list[str] | None = None) -> None:
        self.sources_changed.emit(list(self._sources), list(fresh or []))

    # ---------------------------------------------------------------------- pipeline's sink thread
    def _on_result(self, result: FrameResult) -> None:
        """Called by the pipeline for every frame; must be quick and must never raise."""
        try:
            image = result.annotated if result.annotated is not None else result.frame.image
            self._write_recording(result, image)
            shown = Shown(
                bgr_to_qimage(image), result.stats, track_tags(result.tracks), result.frame.captured
            )
        except Exception as error:
            log.exception("displaying a frame failed")
            self.error.emit(one_line(error))
            return
        with self._lock:
            self._frames += 1
            waiting = result.source in self._mailbox
            self._mailbox[result.source] = shown
        if not waiting:
            self.frame_ready.emit(result.source)

    def _write_recording(self, result: FrameResult, image: np.ndarray) -> None:
        """Append this frame to the recording; a failure (disk full…) ends the recording once."""
        recording = self._recording
        if recording is None or recording.failed:
            return
        fps = getattr(self._sources.get(result.source), "fps", None)
        try:
            recording.write(result.source, result.frame, result.tracks, image, fps)
        except Exception as error:
            self.error.emit(f"recording stopped: {one_line(error)}")
            self._record_requested.emit(False, "")  # the worker thread closes it and tells the window

    def _state_changed(self, key: str, state) -> None:
        """A source's capture thread reports a new state (core.video.SourceState): to the window."""
        if key in self._sources:
            self.source_state.emit(key, state.phase, redact_text(state.describe()))


def expand_specs(specs: list[str], errors: list[str]) -> list[str]:
    """A glob or folder of videos opens every video in it (a grid); anything else stays as it is
    (core.video.open_source judges it). Failures go to `errors` as one line each."""
    expanded = []
    for spec in specs:
        if any(ch in spec for ch in "*?[") and "://" not in spec:
            try:
                expanded += [job.spec for job in list_inputs([spec])]
            except UserError as error:
                errors.append(one_line(error))
        else:
            expanded.append(spec)
    return expanded


def track_tags(tracks: list) -> list[Tag]:
    """ID tags at the tracks' top-left corners, in the colours the skeletons and boxes are drawn in."""
    from core.video import id_color

    tags = []
    for track in tracks:
        box = np.asarray(track.box, dtype=np.float64)
        if box.shape == (4,) and np.isfinite(box).all():
            tags.append(Tag(float(box[0]), float(box[1]), str(track.id), id_color(track.id)))
    return tags
