"""The main window: source bar, video view(s), model controls, statistics, snapshot and recording.

The window never does slow work itself: it forwards requests to the PipelineWorker (its own thread)
and shows what comes back — frames, the configuration in force, one-line errors in the status bar.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QEvent, QSignalBlocker, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PyQt6.QtWidgets import (
    QApplication,
    QComboBox,
    QCompleter,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME as APP_TITLE
from app.events import EventLog, NoEventLog
from app.health_watch import WAITING_TEXT, HealthWatch, tile_texts
from app.panels import DisplayPanel, ModelPanel, StatsPanel, precision_choices
from app.recorder import file_stem
from app.video_view import VideoView
from app.worker import ModelsInfo, PipelineWorker
from core.atomic import atomic_path
from core.pipeline import PipelineConfig
from core.redact import redact_text, redact_url
from core.video import DEFAULT_STYLE, UNTRAINED_BANNER, DrawStyle

STATS_INTERVAL_MS = 500
UNTRAINED_TEXT = (
    "⚠  Untrained weights: poses are meaningless. Load a trained checkpoint with Checkpoint ▸ Load… "
    "in the Model panel on the right."
)
VIDEO_FILTER = "Videos and images (*.mp4 *.avi *.mkv *.mov *.webm *.m4v *.jpg *.jpeg *.png);;All files (*)"
ERROR_HOLD_S = 5.0  # an error stays in the status bar at least this long
# White on a dark red: contrast 6.6:1 (WCAG AA asks 4.5:1), on any window background.
ERROR_COLORS = ("#ffffff", "#a4161a")
ERROR_STYLE = f"color: {ERROR_COLORS[0]}; background: {ERROR_COLORS[1]}; font-weight: bold; padding: 1px 6px;"
STATE_STYLE = "color: #000000; background: #ffc83d; font-weight: bold; padding: 1px 6px;"  # 13:1
LOADING_TEXT = "Loading the model…"
IDLE_TEXT = "No video — open a webcam, stream or file above"


@dataclass
class WindowOptions:
    """What the window starts with: the pipeline's configuration (`run.py gui` builds it with
    core.cli.options.pipeline_config_from_args, as `track` does), where recordings go, and how
    results are drawn."""

    config: PipelineConfig
    record_dir: Path = Path("recordings")
    style: DrawStyle = DEFAULT_STYLE  # how results are drawn (draw_style_from_args)
    events: Path | None = None  # --events: each source's events as JSON lines (app.events)


class MainWindow(QMainWindow):
    def __init__(self, options: WindowOptions) -> None:
        super().__init__()
        self.options = options
        self.setWindowTitle(APP_TITLE)
        screen = self.screen().availableGeometry()
        self.resize(min(1440, screen.width()), min(900, screen.height()))
        self.events = EventLog(options.events) if options.events else NoEventLog()
        self.views: dict[str, VideoView] = {}
        self.watch = HealthWatch()  # slow cameras pointed out once, numbers logged once a second
        self.last_error = ""
        self._error_time = -math.inf
        self.worker = PipelineWorker(options.config, options.style)

        self._build_source_bar()
        self._build_center()
        self._build_side_panel(options.config)
        self._build_status_bar()
        self._connect_worker()
        self.worker.start()  # after the connections: none of its signals may go unheard

        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(STATS_INTERVAL_MS)
        self._stats_timer.timeout.connect(self.refresh_stats)
        self._stats_timer.start()
        self._set_running(False)
        QApplication.instance().installEventFilter(self)  # Space, wherever the focus is (eventFilter)

    # ----------------------------------------------------------------------------------- layout
    def _build_source_bar(self) -> None:
        bar = QToolBar("Source")
        bar.setObjectName("source-bar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        bar.addWidget(QLabel(" Source "))
        self.source_box = QComboBox()
        self.source_box.setEditable(True)
        self.source_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.source_box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.source_box.setMinimumContentsLength(16)  # the whole toolbar fits a 1000 px wide window
        self.source_box.lineEdit().setPlaceholderText(
            "webcam index (0), rtsp:// or http(s):// URL, or a video file"
        )
        self.source_box.lineEdit().returnPressed.connect(self.open_typed)
        # History is offered in a list as you type, never filled in: /data/cam1 must not open /data/cam10.
        self.source_box.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.source_box.completer().setFilterMode(Qt.MatchFlag.MatchContains)
        bar.addWidget(self.source_box)

        icon = QStyle.StandardPixmap
        action = self._action
        self.browse_action = action(
            bar, "File…", "Ctrl+O", "Choose a video or image file", self.browse, icon.SP_DirOpenIcon
        )
        self.open_action = action(
            bar, "Open", None, "Show this source, replacing the others", self.open_typed, icon.SP_MediaPlay
        )
        self.add_action = action(bar, "Add", None, "Show this source beside the others", self.add_typed, "+")
        self.stop_action = action(bar, "Stop", "Ctrl+.", "Stop every source", self.stop, icon.SP_MediaStop)
        bar.addSeparator()
        # Space is no QAction shortcut: a focused text field would take it as text (eventFilter).
        self.pause_action = action(
            bar, "Pause", None, "Pause / resume (Space)", self.toggle_pause, icon.SP_MediaPause
        )
        self.pause_action.setCheckable(True)
        self.snapshot_action = action(
            bar, "Snapshot", "Ctrl+S", "Save the shown frames as PNG", self.snapshot, icon.SP_DialogSaveButton
        )
        self.record_action = action(
            bar, "Record", "Ctrl+R", "Record annotated video + JSONL tracks", self.toggle_recording, "●"
        )
        self.record_action.setCheckable(True)
        action(
            bar, "Folder…", None, "Where recordings and snapshots go", self.choose_record_dir, icon.SP_DirIcon
        )
        full = QAction("Full screen", self)
        full.setShortcut(QKeySequence("F11"))
        full.triggered.connect(lambda: self.showNormal() if self.isFullScreen() else self.showFullScreen())
        self.addAction(full)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        self.addAction(quit_action)

    def _action(self, bar: QToolBar, text: str, shortcut: str | None, tip: str, slot, icon=None) -> QAction:
        action = QAction(text, self)
        if isinstance(icon, str):
            action.setIcon(glyph_icon(icon, "#d93025" if icon == "●" else "#3c3c3c"))
        elif icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            tip = f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        bar.addAction(action)
        return action

    def _build_center(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.banner = QLabel(UNTRAINED_TEXT)
        self.banner.setObjectName("untrained-banner")
        self.banner.setStyleSheet("background: #b3261e; color: white; font-weight: bold; padding: 6px 10px;")
        self.banner.setWordWrap(True)
        layout.addWidget(self.banner)
        self.grid_host = QWidget()
        self.grid_host.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click on the video takes the keyboard
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(2, 2, 2, 2)
        self.grid.setSpacing(2)
        layout.addWidget(self.grid_host, 1)
        self.setCentralWidget(central)
        self._placeholder = VideoView()
        self._placeholder.set_message(LOADING_TEXT)
        self.grid.addWidget(self._placeholder, 0, 0)
        self.banner.setVisible(self.options.config.checkpoint is None)

    def _build_side_panel(self, config: PipelineConfig) -> None:
        self.model_panel = ModelPanel(config)
        self.model_panel.changed.connect(self._model_changed)
        self.model_panel.cancel_build.connect(self.worker.cancel_build)
        self.display_panel = DisplayPanel(self.options.style)
        self.display_panel.changed.connect(self._style_changed)
        self.stats_panel = StatsPanel()
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.addWidget(self.model_panel)
        layout.addWidget(self.display_panel)
        layout.addWidget(self.stats_panel)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        dock = QDockWidget("Controls", self)
        dock.setObjectName("controls")
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        dock.setWidget(scroll)
        dock.setMinimumWidth(330)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

    def _build_status_bar(self) -> None:
        self.status_label = QLabel()
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy_label = QLabel(LOADING_TEXT)
        self.record_label = QLabel("● REC")
        self.record_label.setStyleSheet(ERROR_STYLE)
        self.record_label.setVisible(False)  # an empty label would still paint its red padding
        status = self.statusBar()
        status.addWidget(self.status_label, 1)
        status.addPermanentWidget(self.busy_label)
        status.addPermanentWidget(self.record_label)
        self.show_message("Loading the model… you can open a webcam, stream or file meanwhile.")

    def _connect_worker(self) -> None:
        worker = self.worker
        worker.frame_ready.connect(self._show_frame)
        worker.sources_changed.connect(self._sources_changed)
        worker.source_ended.connect(self._source_ended)
        worker.config_changed.connect(self._config_changed)
        worker.busy.connect(self._busy)
        worker.source_state.connect(self._source_state)
        worker.error.connect(self.show_error)
        worker.info.connect(self.show_message)
        worker.recording_changed.connect(self._recording_changed)
        worker.stopped.connect(self._stopped)

    # ----------------------------------------------------------------------------------- actions
    def source_text(self) -> str:
        """The spec to open: history items display redacted URLs and keep the real one as item data."""
        text = self.source_box.currentText().strip()
        index = self.source_box.findText(text)
        spec = self.source_box.itemData(index) if index >= 0 else None
        return spec or text

    def open_sources(self, specs: list[str], add: bool = False) -> None:
        specs = [s.strip() for s in specs if s and s.strip()]
        if not specs:
            self.show_error("type a webcam index, a stream URL or a file path first")
            return
        with QSignalBlocker(self.source_box):
            for spec in specs:  # history shows redacted URLs; the real spec stays in the item data
                shown = redact_url(spec)
                index = self.source_box.findText(shown)
                if index >= 0:
                    self.source_box.removeItem(index)
                self.source_box.insertItem(0, shown, spec)
            self.source_box.setCurrentIndex(0)
        self.source_box.lineEdit().setModified(False)  # what it shows is open: Space pauses again
        self.grid_host.setFocus()  # the keyboard goes to the video, not on typing into the field
        names = ", ".join(redact_text(s) for s in specs)
        self.show_message(f"connecting to {names}…")
        if not self.views:
            self._placeholder.set_message(f"Connecting to {names}…")
        self.stop_action.setEnabled(True)  # Stop cancels a pending connect
        self.events.write("open", specs=[redact_text(s) for s in specs], add=add)
        self.worker.open_sources(specs, add=add)

    def open_typed(self) -> None:
        self.open_sources([self.source_text()])

    def add_typed(self) -> None:
        self.open_sources([self.source_text()], add=True)

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.source_box.setCurrentText(path)
            self.open_sources([path])

    def stop(self) -> None:
        self.worker.stop()

    def toggle_pause(self) -> None:
        if not self.worker.running:
            self.pause_action.setChecked(False)
            return
        if self.worker.paused:
            self.worker.resume()
            self.show_message("resumed")
        else:
            self.worker.pause()
            self.show_message("paused — Space resumes")
        self._show_paused(self.worker.paused)
        self.events.write("paused", on=self.worker.paused)

    def snapshot(self) -> list[Path]:
        """Save what each view shows (its frame at full resolution with the HUD and, for untrained
        weights, the banner) as PNG, atomically; returns the paths."""
        banner = UNTRAINED_BANNER if self.banner.isVisible() else ""
        pictures = [(key, view.snapshot(banner)) for key, view in self.views.items()]
        shown = [(key, picture) for key, picture in pictures if picture is not None]
        if not shown:
            self.show_error("nothing to save yet")
            return []
        folder = self.options.record_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            paths = [save_png(image, folder / f"{file_stem(key)}-{stamp}.png") for key, image in shown]
        except OSError as error:
            self.show_error(f"snapshot not saved: {error}")
            return []
        self.show_message(f"saved {', '.join(p.name for p in paths)} in {folder}")
        return paths

    def toggle_recording(self) -> None:
        if self.worker.recording:
            self.worker.stop_recording()
        else:
            self.worker.start_recording(self.options.record_dir)
        self.record_action.setChecked(self.worker.recording)  # the worker's answer sets the final state

    def choose_record_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for recordings", str(self.options.record_dir))
        if folder:
            self.options.record_dir = Path(folder)
            self.show_message(f"recordings and snapshots go to {folder}")

    def refresh_stats(self) -> None:
        """One snapshot per source feeds the panel and each view's FPS: they always agree. Each
        tile says how fresh its picture is, a reconnecting stream counts down to its next try, and
        a camera far slower on screen than its own rate is pointed out once."""
        stats = self.worker.stats()
        finished = self.worker.finished()
        health = self.worker.health()
        screen = {key: view.latency for key, view in self.views.items()}
        self.stats_panel.show_stats(stats, finished, screen, health)
        self.model_panel.show_build(self.worker.build_status())
        now, paused = time.monotonic(), self.worker.paused
        for key, view in self.views.items():
            snapshot = stats.get(key)
            view.set_fps(snapshot.fps if snapshot is not None else None)
            message, notice = tile_texts(view, snapshot, now, paused or key in finished)
            view.set_message(message or view.message())
            view.set_notice(notice)
            state = health[key].state if key in health else None
            if state is not None and state.phase == "reconnecting" and view.stale():
                view.set_badge(capitalized(state.describe()), stale=True)  # the countdown counts
        for message in self.watch.slow_cameras(stats, health, now, paused, self.options.config):
            self.show_message(message)
        self.watch.log(self.events, self.views, stats, health, now)

    # ------------------------------------------------------------------------------ worker signals
    def _show_frame(self, key: str) -> None:
        view = self.views.get(key)
        if view is None:  # the frame beat the sources_changed signal: it waits in the mailbox
            return
        shown = self.worker.take_frame(key)
        if shown is not None:
            view.set_image(shown.image, shown.captured, shown.tags)

    def _sources_changed(self, keys: list[str], fresh: list[str]) -> None:
        """`keys` run now; `fresh` ones were opened just now (a source opened again gets a new tile)."""
        for view in self.views.values():
            self.grid.removeWidget(view)
        for key in [k for k in self.views if k not in keys or k in fresh]:
            self.views.pop(key).deleteLater()
        self.watch.forget(fresh)
        for key in keys:
            if key not in self.views:
                self.views[key] = VideoView(key)
                self.views[key].set_message(WAITING_TEXT)
                self.views[key].set_badge("PAUSED" if self.worker.paused else "")
        self._placeholder.setVisible(not keys)
        if not keys:
            self._placeholder.set_message(IDLE_TEXT)
        columns = max(1, math.ceil(math.sqrt(len(keys))))
        for index, key in enumerate(keys):
            self.grid.addWidget(self.views[key], index // columns, index % columns)
            self._show_frame(key)
        self.events.write("sources", keys=keys, fresh=fresh)
        names = ", ".join(keys)
        self.setWindowTitle(f"{names} — {APP_TITLE}" if names else APP_TITLE)
        self._set_running(bool(keys))
        if keys:
            self.show_message(f"showing {names}")
        self.refresh_stats()

    def _source_ended(self, key: str, reason: str) -> None:
        self.events.write("ended", source=key, reason=reason)
        view = self.views.get(key)
        if view is not None:
            view.set_badge("FAILED" if reason else "FINISHED", stale=bool(reason))
        if reason:
            self.show_error(f"{key}: {reason}")
        else:
            self.show_message(f"{key}: end of file")
        self.refresh_stats()

    def _source_state(self, key: str, phase: str, text: str) -> None:
        """A stream's state on its view (badge; the last frame greyed while it is gone) and below."""
        source = self.worker.health().get(key)
        age = None if source is None or source.last_frame_age is None else round(source.last_frame_age, 2)
        self.events.write("state", source=key, phase=phase, text=text, age_s=age)
        view = self.views.get(key)
        if view is None or phase in ("ended", "failed"):  # _source_ended says those, once complete
            return
        if phase == "showing":
            view.set_badge("PAUSED" if self.worker.paused else "")
            self.show_message(f"showing {key}")
            return
        if phase == "reconnected":
            view.set_badge("RECONNECTED")
            self.show_state(f"{key}: reconnected")
            return
        view.set_badge(text.upper() if phase == "lost" else text[:1].upper() + text[1:], stale=True)
        self.show_state(f"{key}: {text}")

    def _busy(self, text: str) -> None:
        self.busy_label.setText(text)
        if not self.views and text:
            self._placeholder.set_message(text[:1].upper() + text[1:])

    def _placeholder_is_loading(self) -> bool:
        """The empty view says the model is loading: the window's own text or the worker's busy line."""
        return self._placeholder.message().lower().startswith("loading")

    def _stopped(self) -> None:
        self._set_running(False)
        self.show_message("stopped")

    def _config_changed(self, config: PipelineConfig, info: ModelsInfo) -> None:
        self.options.config = config
        self.model_panel.show_config(config, info)
        self.banner.setVisible(not info.trained)
        if self._placeholder_is_loading():  # the model is in: ready for a source
            self._placeholder.set_message(IDLE_TEXT)
            if not self.views:
                self.show_message("Open a webcam, stream or file to start.")

    def _recording_changed(self, recording: bool, text: str) -> None:
        self.events.write("recording", on=recording, text=text)
        self.record_action.setChecked(recording)
        self.record_action.setText("Recording" if recording else "Record")
        self.record_label.setVisible(recording)
        self.show_message(f"recording to {text}" if recording else text)

    def _model_changed(self, name: str, value) -> None:
        changes = {name: value}
        if name in ("backend", "device"):  # a precision the new backend cannot compute in goes back to auto
            config = self.options.config
            backend, device = changes.get("backend", config.backend), changes.get("device", config.device)
            if dict(precision_choices(backend, device)).get(config.precision):
                changes["precision"] = "auto"
        self.worker.reconfigure(**changes)

    def _style_changed(self, style: DrawStyle) -> None:
        self.options.style = style
        self.worker.set_style(style)
        self.show_message(f"showing joints scored {style.kpt_threshold:.2f} or more")

    def _set_running(self, running: bool) -> None:
        for action in (self.stop_action, self.pause_action, self.add_action):
            action.setEnabled(running)
        if not running:
            self._show_paused(False)
            if not self.views:
                self._placeholder.setVisible(True)

    def _show_paused(self, paused: bool) -> None:
        for view in self.views.values():
            view.set_badge("PAUSED" if paused else "")
        self.pause_action.setChecked(paused)
        self.pause_action.setText("Resume" if paused else "Pause")
        pixmap = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
        self.pause_action.setIcon(self.style().standardIcon(pixmap))

    # ------------------------------------------------------------------------------------ status
    def show_message(self, text: str) -> None:
        """Information; within a few seconds of an error it is added after the error, not over it."""
        if time.monotonic() - self._error_time < ERROR_HOLD_S:
            self.status_label.setText(f"error: {self.last_error}   ·   {text}")
            return
        self.status_label.setStyleSheet("")
        self.status_label.setText(text)

    def show_state(self, text: str) -> None:
        """A source's trouble (lost, reconnecting): highlighted, yet not an error the user caused."""
        self.show_message(text)
        if time.monotonic() - self._error_time >= ERROR_HOLD_S:
            self.status_label.setStyleSheet(STATE_STYLE)

    def show_error(self, text: str) -> None:
        """One line, never a traceback."""
        self.last_error = text
        self._error_time = time.monotonic()
        if not self.views and self._placeholder.message().startswith("Connecting"):
            self._placeholder.set_message(IDLE_TEXT)
        self.status_label.setStyleSheet(ERROR_STYLE)
        self.status_label.setText(f"error: {text}")
        self.status_label.setToolTip(text)

    def status_text(self) -> str:
        return self.status_label.text()

    def eventFilter(self, watched, event) -> bool:
        """Space pauses and resumes from anywhere in the window, except in a text field the user is
        typing into (a path may hold a space); installed on the application, so it sees the key
        before the focused widget does."""
        if (
            event.type() == QEvent.Type.KeyPress
            and event.key() == Qt.Key.Key_Space
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            and isinstance(watched, QWidget)
            and watched.window() is self
            and not typing_in(watched)
        ):
            if not event.isAutoRepeat():
                self.toggle_pause()
            return True
        return super().eventFilter(watched, event)

    def closeEvent(self, event: QCloseEvent) -> None:
        QApplication.instance().removeEventFilter(self)
        self._stats_timer.stop()
        self.events.write("closed")
        self.hide()  # at once; finishing a model load and joining threads may take a moment
        self.worker.shutdown()
        event.accept()


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def typing_in(widget: QWidget) -> bool:
    """A text field whose text the user has changed since it was last set (a space is text there)."""
    return isinstance(widget, QLineEdit) and widget.isModified() and not widget.isReadOnly()


def glyph_icon(glyph: str, color: str, size: int = 32) -> QIcon:
    """A toolbar icon drawn from one character, for actions the Qt style has no standard icon for."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = painter.font()
    font.setPixelSize(int(size * 0.9))
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor(color))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, glyph)
    painter.end()
    return QIcon(pixmap)


def save_png(image, path: Path) -> Path:
    """QImage -> PNG, atomically (never a half file under the final name)."""
    with atomic_path(path) as temp:
        if not image.save(str(temp), "PNG"):
            raise OSError(f"cannot write {path}")
    return path
