"""The side panels of the main window: model controls, how results are drawn, and live statistics.

The model panel only emits `changed(field, value)`; the window forwards that to the worker, and the
worker answers with the configuration actually in force (`show_config`), so a change that fails
(say, a corrupt checkpoint) snaps the controls back instead of leaving them lying.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.downloads import ZooChoosers
from app.worker import ModelsInfo
from core.detect import DETECTORS
from core.errors import one_line
from core.pipeline import STAGES, PipelineConfig
from core.video import DrawStyle
from core.zoo import lookup as zoo_lookup

WIDTHS = (32, 48)
INPUT_SIZES = ((192, 256), (288, 384))
DETECTOR_CHOICES = (  # offered in the Detector box; any spec (core.detect.DETECTORS) can be typed
    "hog",
    "torchvision:fasterrcnn_resnet50_fpn_v2",
    "torchvision:retinanet_resnet50_fpn_v2",
    "torchvision:fcos_resnet50_fpn",
    "torchvision:ssdlite320_mobilenet_v3_large",
)
CHECKPOINT_FILTER = "Checkpoints (*.pt *.pth *.pth.tar *.ckpt);;All files (*)"
DETECTOR_FILTER = "Detections or ONNX detector (*.json *.txt *.onnx);;All files (*)"


def _combo(items: list[str], editable: bool = False) -> QComboBox:
    combo = QComboBox()
    combo.setEditable(editable)
    combo.addItems(items)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(10)
    return combo


def _row(stretched: QWidget, *buttons: QWidget) -> QHBoxLayout:
    """A widget that takes the width, with its buttons beside it."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(stretched, 1)
    for button in buttons:
        row.addWidget(button)
    return row


def _shared(*widgets: QWidget, stretch: tuple[int, ...]) -> QHBoxLayout:
    """Several controls side by side in one form row, sharing its width by `stretch`."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for widget, factor in zip(widgets, stretch, strict=True):
        row.addWidget(widget, factor)
    return row


def _select(combo: QComboBox, text: str) -> None:
    """Show `text` in the combo (a listed choice's text or its data, e.g. a registry name; added when
    it is neither) without emitting signals."""
    with QSignalBlocker(combo):
        index = combo.findText(text)
        if index < 0:
            index = combo.findData(text)
        if index < 0:
            combo.addItem(text)
            index = combo.count() - 1
        combo.setCurrentIndex(index)


def backend_choices() -> list[tuple[str, str | None]]:
    """(name, why it cannot run here or None) for auto and every backend core knows."""
    from core.runtime import BACKENDS, resolve_device, unavailable_reason

    device = resolve_device("auto")
    choices: list[tuple[str, str | None]] = [("auto", None)]
    for name in BACKENDS:
        try:
            choices.append((name, unavailable_reason(name, device)))
        except Exception as error:  # an optional runtime that fails to import
            choices.append((name, one_line(error)))
    return choices


def precision_choices(backend: str, device: str) -> list[tuple[str, str | None]]:
    """(precision, why the backend cannot compute in it on the device or None), "auto" first."""
    from core.runtime import PRECISIONS, resolve_device, supported_precisions

    if backend == "auto":
        return [("auto", None), *((name, None) for name in PRECISIONS)]
    try:
        resolved = resolve_device(device)
        supported = supported_precisions(backend, resolved)
    except Exception as error:
        return [("auto", None), *((name, one_line(error)) for name in PRECISIONS)]
    return [("auto", None)] + [
        (name, None if name in supported else f"{backend} cannot compute in {name} on {resolved.type}")
        for name in PRECISIONS
    ]


def device_choices() -> list[str]:
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


class ModelPanel(QGroupBox, ZooChoosers):
    """Checkpoint, attention preset, width, input size, backend, precision, device, detector,
    interval, flip; while a new model is built, what and for how long, with Cancel."""

    changed = pyqtSignal(str, object)  # PipelineConfig field, new value
    cancel_build = pyqtSignal()  # give up the model being built

    def __init__(self, config: PipelineConfig, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        checkpoint_row = self._build_checkpoint()
        self._build_architecture()
        self._build_runtime()
        detector_row = self._build_detection()
        self._build_zoo_choosers()

        # Two or three controls a row: the whole panel fits a 1280×800 screen without scrolling.
        self.zoo_model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.zoo_model.setMinimumContentsLength(10)
        for combo in (self.zoo_model, self.detector):  # long entry names: a wider list, a narrow box
            combo.view().setMinimumWidth(420)
        small = (self.preset, self.width_box, self.input_size, self.backend, self.precision, self.device)
        for combo in small:
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(4)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Weights", self.zoo_model)
        form.addRow("Checkpoint", checkpoint_row)
        form.addRow("Network", _shared(self.preset, self.width_box, self.input_size, stretch=(2, 1, 2)))
        form.addRow("Backend", _shared(self.backend, QLabel("in"), self.precision, stretch=(3, 0, 2)))
        form.addRow("Device", _shared(self.device, self.flip, stretch=(3, 2)))
        form.addRow("Running", self.running)
        form.addRow("Detector", detector_row)
        form.addRow("Detect every", self.interval)
        form.addRow(self.download_status)
        form.addRow(self.download_bar)
        self._build_build_row(form)
        self.show_config(config)

    def _build_checkpoint(self) -> QHBoxLayout:
        """The loaded checkpoint's name, Load… and × (back to an untrained model)."""
        self.checkpoint = QLineEdit()
        self.checkpoint.setReadOnly(True)
        self.checkpoint.setPlaceholderText("none (untrained)")
        load = QPushButton("Load…")
        load.setToolTip("Load a trained checkpoint (ours, official HRNet or mmpose)")
        load.clicked.connect(self._choose_checkpoint)
        self.clear_checkpoint = QPushButton("×")
        self.clear_checkpoint.setToolTip("Use an untrained model of the preset and width below")
        self.clear_checkpoint.setFixedWidth(28)
        self.clear_checkpoint.clicked.connect(lambda: self.changed.emit("checkpoint", None))
        return _row(self.checkpoint, load, self.clear_checkpoint)

    def _build_architecture(self) -> None:
        """Preset, width and input size: the untrained model's (a checkpoint brings its own)."""
        from core.model import PRESETS

        self.preset = _combo(list(PRESETS))
        self.preset.setToolTip("Attention preset: modules of paper Table I; 'paper' = Sub-1 + Stage-1")
        self.preset.currentTextChanged.connect(lambda text: self.changed.emit("preset", text))
        self.width_box = _combo([f"W{w}" for w in WIDTHS])
        self.width_box.setToolTip("HRNet width: W32 is about 2.5× faster than W48")
        self.width_box.currentTextChanged.connect(lambda text: self.changed.emit("width", int(text[1:])))
        self.input_size = _combo([f"{w}x{h}" for w, h in INPUT_SIZES])
        self.input_size.setToolTip("Input size of the pose model (width x height of each person crop)")
        self.input_size.currentTextChanged.connect(self._input_size_changed)

    def _build_runtime(self) -> None:
        """Backend (the ones that cannot run here are listed, disabled, with the reason), precision
        (likewise for the chosen backend), device, and what actually runs."""
        self.backend = QComboBox()
        self.backend.setToolTip("Inference backend")
        for name, reason in backend_choices():
            self.backend.addItem(name)
            if reason:
                item = self.backend.model().item(self.backend.count() - 1)
                item.setEnabled(False)
                item.setToolTip(f"unavailable: {reason}")
        self.backend.currentTextChanged.connect(lambda text: self.changed.emit("backend", text))
        self.precision = QComboBox()
        self.precision.addItems([name for name, _ in precision_choices("auto", "auto")])
        self.precision.setToolTip("Precision the pose model computes in; auto: the backend's fastest")
        self.precision.currentTextChanged.connect(lambda text: self.changed.emit("precision", text))
        self.running = QLabel("–")
        self.running.setToolTip("Backend, precision and device actually in use")
        self.device = _combo(device_choices())
        self.device.currentTextChanged.connect(lambda text: self.changed.emit("device", text))

    def _build_detection(self) -> QHBoxLayout:
        """Detector spec (editable, with a file picker), detection interval and flip test."""
        self.detector = _combo(list(DETECTOR_CHOICES), editable=True)
        specs = " | ".join(["a model name", *(kind.SPEC for kind in DETECTORS.values())])
        self.detector.setToolTip(f"{specs}; Enter applies")
        self.detector.activated.connect(self._detector_entered)
        self.detector.lineEdit().returnPressed.connect(self._detector_entered)
        pick = QPushButton("…")
        pick.setFixedWidth(28)
        pick.setToolTip("Detections file (COCO JSON / MOT det.txt) or a YOLO ONNX model")
        pick.clicked.connect(self._choose_detector_file)

        self.interval = QSpinBox()
        self.interval.setRange(1, 120)
        self.interval.setSuffix(" frame")
        self.interval.valueChanged.connect(
            lambda n: self.interval.setSuffix(" frame" if n == 1 else " frames")
        )
        self.interval.setToolTip("Run the detector every N frames; in between, the poses carry the boxes")
        self.interval.valueChanged.connect(lambda value: self.changed.emit("interval", value))
        self.flip = QCheckBox("flip test")
        self.flip.setToolTip("Average with the mirrored crop: a bit more accurate, twice the pose cost")
        self.flip.toggled.connect(lambda on: self.changed.emit("flip", on))
        return _row(self.detector, pick)

    def show_config(self, config: PipelineConfig, info: ModelsInfo | None = None) -> None:
        """Make every control show `config` (the configuration in force) without emitting changes;
        with a checkpoint loaded, architecture controls show the checkpoint's own (from `info`)."""
        from core.model import canonical_preset

        untrained = config.checkpoint is None
        self.checkpoint.setText("" if untrained else Path(config.checkpoint).name)
        self.checkpoint.setToolTip("" if untrained else str(config.checkpoint))
        self.clear_checkpoint.setEnabled(not untrained)
        model = info.model if info is not None and info.model is not None and not untrained else config
        try:
            preset = canonical_preset(model.preset)
        except Exception:
            preset = model.preset
        _select(self.preset, preset)
        _select(self.width_box, f"W{model.width}")
        _select(self.input_size, f"{model.input_size[0]}x{model.input_size[1]}")
        if info is not None and info.backend:
            self.running.setText(info.backend)
        for widget in (self.preset, self.width_box, self.input_size):
            widget.setEnabled(untrained)  # a checkpoint carries its own architecture
            widget.setToolTip("" if untrained else "set by the checkpoint")
        _select(self.backend, config.backend)
        _select(self.device, config.device)
        self._offer_precisions(config.backend, config.device)
        _select(self.precision, config.precision)
        _select(self.detector, config.detector)
        with QSignalBlocker(self.zoo_model):
            name = str(config.checkpoint) if zoo_lookup(config.checkpoint, "pose") else None
            self.zoo_model.setCurrentIndex(max(0, self.zoo_model.findData(name)))
        with QSignalBlocker(self.interval), QSignalBlocker(self.flip):
            self.interval.setValue(config.interval)
            self.interval.setSuffix(" frame" if config.interval == 1 else " frames")
            self.flip.setChecked(config.flip)

    def _build_build_row(self, form: QFormLayout) -> None:
        """While a new model is built: what, for how long, and Cancel; hidden otherwise."""
        self.build_status = QLabel("")
        self.build_status.setWordWrap(True)
        self.build_bar = QProgressBar()
        self.build_bar.setRange(0, 0)  # no step count to give: busy, with the elapsed time beside
        self.build_bar.setTextVisible(False)
        self.build_bar.setMaximumHeight(12)
        self.build_cancel = QPushButton("Cancel")
        self.build_cancel.setToolTip("Give up building: the model that runs now stays")
        self.build_cancel.clicked.connect(self.cancel_build.emit)
        self._build_row = QWidget()
        row = QHBoxLayout(self._build_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.build_bar, 1)
        row.addWidget(self.build_cancel)
        form.addRow(self.build_status)
        form.addRow(self._build_row)
        self.show_build(None)

    def show_build(self, status: tuple[str, float] | None) -> None:
        """(what is being built, seconds so far) from the worker, or None when nothing is."""
        for widget in (self.build_status, self._build_row):
            widget.setVisible(status is not None)
        if status is not None:
            what, seconds = status
            minutes, rest = divmod(int(seconds), 60)
            self.build_status.setText(f"Building {what}… {minutes}:{rest:02d}")

    def _offer_precisions(self, backend: str, device: str) -> None:
        """Precisions the backend cannot compute in on the device are shown disabled, with why."""
        model = self.precision.model()
        for index, (name, reason) in enumerate(precision_choices(backend, device)):
            item = model.item(index)
            if item is not None and item.text() == name:
                item.setEnabled(reason is None)
                item.setToolTip(f"unavailable: {reason}" if reason else "")

    def _input_size_changed(self, text: str) -> None:
        width, height = (int(v) for v in text.split("x"))
        self.changed.emit("input_size", (width, height))

    def _detector_entered(self, index: int | None = None) -> None:
        """A registry entry (item data: its name) may need a download first; other text is a spec."""
        if index is not None and isinstance(self.detector.itemData(index), str):
            self._zoo_chosen("detector", self.detector, index)
            return
        text = self.detector.currentText().strip()
        if text:
            self.changed.emit("detector", text)

    def _choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.changed.emit("checkpoint", Path(path))

    def _choose_detector_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Detector file", "", DETECTOR_FILTER)
        if path:
            spec = f"{'onnx' if path.lower().endswith('.onnx') else 'file'}:{path}"
            _select(self.detector, spec)
            self.changed.emit("detector", spec)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


class DisplayPanel(QWidget):
    """How results are drawn (core.video.DrawStyle): the keypoint score below which a joint (and its
    limbs) is hidden. A change applies from the next frame on; no model is touched. One row, no
    group of its own: the whole panel fits a 1280×800 screen."""

    changed = pyqtSignal(object)  # the new DrawStyle

    def __init__(self, style: DrawStyle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._style = style
        self.kpt_threshold = QDoubleSpinBox()
        self.kpt_threshold.setRange(0.0, 1.0)
        self.kpt_threshold.setSingleStep(0.05)
        self.kpt_threshold.setDecimals(2)
        self.kpt_threshold.setToolTip(
            "Joints whose confidence is below this are not drawn; lower it to see uncertain joints"
        )
        self.kpt_threshold.valueChanged.connect(
            lambda value: self._set_style(replace(self._style, kpt_threshold=value))
        )
        form = QFormLayout(self)
        form.setContentsMargins(12, 0, 12, 0)
        form.addRow("Draw joints scored above", self.kpt_threshold)
        self.show_style(style)

    def show_style(self, style: DrawStyle) -> None:
        self._style = style
        with QSignalBlocker(self.kpt_threshold):
            self.kpt_threshold.setValue(style.kpt_threshold)

    def _set_style(self, style: DrawStyle) -> None:
        self._style = style
        self.changed.emit(style)


class StatsPanel(QGroupBox):
    """FPS, people, tracks and dropped frames of one source, its per-stage latency p50/p95 and the
    capture-to-screen latency of its frames ("on screen": capture timestamp → paint)."""

    SCREEN = "on screen"
    ROWS = (*STAGES, "total", SCREEN)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Statistics", parent)
        self.source = QComboBox()
        self.source.setToolTip("Source whose statistics are shown")
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source.setMinimumContentsLength(8)
        self.source.view().setMinimumWidth(360)  # the list shows whole names, the box what fits
        self.fps = QLabel("–")
        font = self.fps.font()
        font.setPointSize(font.pointSize() + 8)
        font.setBold(True)
        self.fps.setFont(font)
        self.values = {name: QLabel("–") for name in ("people", "tracks", "frames", "dropped", "age")}
        # Two numbers a row, the source chooser beside the FPS: the panel fits a 1280×800 screen.
        numbers = QGridLayout()
        numbers.addWidget(QLabel("FPS"), 0, 0)
        numbers.addWidget(self.fps, 0, 1)
        numbers.addWidget(self.source, 0, 2, 1, 2)
        labels = {
            "people": "People",
            "tracks": "Track IDs",
            "frames": "Frames",
            "dropped": "Dropped",
            "age": "Last frame",
        }
        self.values["age"].setToolTip("Time since the source delivered its newest frame (capture)")
        self.values["people"].setToolTip("People in the newest frame (the mean over every frame)")
        for index, (key, label) in enumerate(labels.items()):
            row, column = 1 + index // 2, 2 * (index % 2)
            numbers.addWidget(QLabel(label), row, column)
            numbers.addWidget(self.values[key], row, column + 1, Qt.AlignmentFlag.AlignRight)
        numbers.setColumnStretch(1, 1)
        numbers.setColumnStretch(3, 1)
        numbers.setHorizontalSpacing(10)

        self.table = QTableWidget(len(self.ROWS), 2)
        self.table.setHorizontalHeaderLabels(["latency p50 ms", "p95 ms"])
        self.table.setToolTip("Latency per stage; on screen: from capture to the paint that shows the frame")
        self.table.setVerticalHeaderLabels(list(self.ROWS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for row in range(len(self.ROWS)):
            for column in range(2):
                item = QTableWidgetItem("–")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        height = self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
        height += sum(self.table.rowHeight(r) for r in range(len(self.ROWS)))
        self.table.setFixedHeight(height)

        layout = QVBoxLayout(self)
        layout.addLayout(numbers)
        layout.addWidget(self.table)

    def show_stats(
        self,
        stats: dict,
        finished: set[str] = frozenset(),
        screen: dict | None = None,
        health: dict | None = None,
    ) -> None:
        """Refresh from {source key: SourceStats} of the sources shown now (the others leave);
        `finished` ones are marked so; `screen` maps keys to their capture→paint LatencyWindow,
        `health` to their app.worker.SourceHealth (time since the last captured frame)."""
        keys = list(stats)
        labels = [f"{key} (finished)" if key in finished else key for key in keys]
        current = self.source.currentData()
        if labels != [self.source.itemText(i) for i in range(self.source.count())]:
            self.source.blockSignals(True)
            self.source.clear()
            for key, label in zip(keys, labels, strict=True):
                self.source.addItem(label, key)
            if current in keys:
                self.source.setCurrentIndex(keys.index(current))
            self.source.blockSignals(False)
        self.source.setVisible(len(keys) > 1 or bool(finished))
        key = self.source.currentData()
        snapshot = stats.get(key)
        if snapshot is None:
            self.clear()
            return
        latency = (screen or {}).get(key)
        self.fps.setText(f"{snapshot.fps:.1f}")
        self.values["people"].setText(f"{snapshot.people_last} ({snapshot.people:.1f})")
        self.values["tracks"].setText(str(snapshot.tracks))
        self.values["frames"].setText(str(snapshot.frames))
        self.values["dropped"].setText(str(snapshot.dropped))
        source = (health or {}).get(key)
        age = None if source is None or key in finished else source.last_frame_age
        self.values["age"].setText("–" if age is None else f"{age:.1f} s ago")
        for row, name in enumerate(self.ROWS):
            if name == self.SCREEN:
                p50, p95 = (None, None) if latency is None else (latency.p50, latency.p95)
                p50, p95 = (None if v is None else v * 1000 for v in (p50, p95))
            else:
                stage = snapshot.stages.get(name)
                p50, p95 = (stage.p50_ms, stage.p95_ms) if stage else (None, None)
            self.table.item(row, 0).setText(_ms(p50))
            self.table.item(row, 1).setText(_ms(p95))

    def sources(self) -> list[str]:
        """The entries of the source chooser, as shown."""
        return [self.source.itemText(i) for i in range(self.source.count())]

    def clear(self) -> None:
        self.fps.setText("–")
        for label in self.values.values():
            label.setText("–")
        for row in range(len(self.ROWS)):
            for column in range(2):
                self.table.item(row, column).setText("–")
