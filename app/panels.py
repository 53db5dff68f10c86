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


def device_choices() -> list[str]:
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


class ModelPanel(QGroupBox, ZooChoosers):
    """Checkpoint, attention preset, width, input size, backend, device, detector, interval, flip."""

    changed = pyqtSignal(str, object)  # PipelineConfig field, new value

    def __init__(self, config: PipelineConfig, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        checkpoint_row = self._build_checkpoint()
        self._build_architecture()
        self._build_runtime()
        detector_row = self._build_detection()
        self._build_zoo_choosers()

        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Weights", self.zoo_model)
        form.addRow("Checkpoint", checkpoint_row)
        form.addRow("Preset", self.preset)
        form.addRow("Width", self.width_box)
        form.addRow("Input", self.input_size)
        form.addRow("Backend", self.backend)
        form.addRow("Device", self.device)
        form.addRow("Running", self.running)
        form.addRow("Detector", detector_row)
        form.addRow("Detect every", self.interval)
        form.addRow("", self.flip)
        form.addRow(self.download_status)
        form.addRow(self.download_bar)
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
        self.preset.setToolTip("Attention modules (paper Table I); 'paper' = Sub-1 + Stage-1")
        self.preset.currentTextChanged.connect(lambda text: self.changed.emit("preset", text))
        self.width_box = _combo([f"W{w}" for w in WIDTHS])
        self.width_box.currentTextChanged.connect(lambda text: self.changed.emit("width", int(text[1:])))
        self.input_size = _combo([f"{w}x{h}" for w, h in INPUT_SIZES])
        self.input_size.currentTextChanged.connect(self._input_size_changed)

    def _build_runtime(self) -> None:
        """Backend (the ones that cannot run here are listed, disabled, with the reason), device, and
        what actually runs."""
        self.backend = QComboBox()
        for name, reason in backend_choices():
            self.backend.addItem(name)
            if reason:
                item = self.backend.model().item(self.backend.count() - 1)
                item.setEnabled(False)
                item.setToolTip(f"unavailable: {reason}")
        self.backend.currentTextChanged.connect(lambda text: self.changed.emit("backend", text))
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
        _select(self.detector, config.detector)
        with QSignalBlocker(self.zoo_model):
            name = str(config.checkpoint) if zoo_lookup(config.checkpoint, "pose") else None
            self.zoo_model.setCurrentIndex(max(0, self.zoo_model.findData(name)))
        with QSignalBlocker(self.interval), QSignalBlocker(self.flip):
            self.interval.setValue(config.interval)
            self.interval.setSuffix(" frame" if config.interval == 1 else " frames")
            self.flip.setChecked(config.flip)

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


class DisplayPanel(QGroupBox):
    """How results are drawn (core.video.DrawStyle): the keypoint score below which a joint (and its
    limbs) is hidden. A change applies from the next frame on; no model is touched."""

    changed = pyqtSignal(object)  # the new DrawStyle

    def __init__(self, style: DrawStyle, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
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
        form.addRow("Joints above", self.kpt_threshold)
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
        self.source.setMinimumContentsLength(12)
        self.fps = QLabel("–")
        font = self.fps.font()
        font.setPointSize(font.pointSize() + 8)
        font.setBold(True)
        self.fps.setFont(font)
        self.values = {name: QLabel("–") for name in ("people", "tracks", "frames", "dropped")}
        numbers = QGridLayout()
        numbers.addWidget(QLabel("FPS"), 0, 0)
        numbers.addWidget(self.fps, 0, 1, 1, 3)
        labels = {
            "people": "People now / mean",
            "tracks": "Track IDs",
            "frames": "Frames",
            "dropped": "Dropped",
        }
        for row, (key, label) in enumerate(labels.items(), start=1):
            numbers.addWidget(QLabel(label), row, 0)
            numbers.addWidget(self.values[key], row, 1, 1, 3, Qt.AlignmentFlag.AlignRight)

        self.table = QTableWidget(len(self.ROWS), 2)
        self.table.setHorizontalHeaderLabels(["p50 ms", "p95 ms"])
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
        layout.addWidget(self.source)
        layout.addLayout(numbers)
        layout.addWidget(QLabel("Latency per stage"))
        layout.addWidget(self.table)

    def show_stats(self, stats: dict, finished: set[str] = frozenset(), screen: dict | None = None) -> None:
        """Refresh from {source key: SourceStats} of the sources shown now (the others leave);
        `finished` ones are marked so; `screen` maps keys to their capture→paint LatencyWindow."""
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
        self.values["people"].setText(f"{snapshot.people_last} / {snapshot.people:.1f}")
        self.values["tracks"].setText(str(snapshot.tracks))
        self.values["frames"].setText(str(snapshot.frames))
        self.values["dropped"].setText(str(snapshot.dropped))
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
