"""The model and detector choosers: registry entries listed with their state, a choice that is not
cached downloads in the background with progress in the panel, then applies; a failure is one line."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest

PyQt6 = pytest.importorskip("PyQt6")
from PyQt6.QtWidgets import QApplication  # noqa: E402

from app.panels import ModelPanel  # noqa: E402
from core.pipeline import PipelineConfig  # noqa: E402
from tests.support.qt import wait_until  # noqa: E402
from tests.support.weights import (  # noqa: E402
    detector_entry,
    pose_entry,
    registered,
    yolox_zip_bytes,
)

BODY = os.urandom(2_000_000)


@pytest.fixture(scope="module")
def qapp():
    return QApplication.instance() or QApplication([])


@pytest.fixture
def panel(qapp):
    panel = ModelPanel(PipelineConfig(detector="hog"))
    changes = []
    panel.changed.connect(lambda field, value: changes.append((field, value)))
    panel.changes = changes
    yield panel
    panel.downloads.wait(10)
    panel.deleteLater()


def items(combo) -> list[tuple[str, object]]:
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


def test_the_choosers_list_registry_entries_with_their_state(panel):
    models = dict((data, text) for text, data in items(panel.zoo_model))
    assert models["hrnet-w32"] == "hrnet-w32 — HRNet-W32 256x192 argmax (download ≈109 MB?)"
    assert models["hrnet-w48-dark-384"].startswith("hrnet-w48-dark-384 — HRNet-W48 384x288 dark")
    detectors = dict((data, text) for text, data in items(panel.detector))
    assert detectors["yolox-s"] == "yolox-s — YOLOX-s 640x640 (download ≈34 MB?)"
    assert detectors["fasterrcnn-mobilenet"].endswith("(download 74 MB)")
    assert panel.detector.currentText() == "hog"


def test_an_uncached_model_downloads_in_the_background_then_applies(panel, monkeypatch, weights_server):
    entry = registered(monkeypatch, weights_server, pose_entry("test-pose", BODY), BODY, stall_seconds=0.3)
    panel.refresh_zoo()
    index = panel.zoo_model.findData("test-pose")
    assert panel.zoo_model.itemText(index).endswith("(download unknown)")
    panel._zoo_chosen("checkpoint", panel.zoo_model, index)  # what activating the item does
    assert panel.download_bar.isVisibleTo(panel) and panel.changes == []  # the GUI thread is free
    assert wait_until(lambda: panel.changes == [("checkpoint", "test-pose")])
    assert "downloaded and verified" in panel.download_status.text()
    assert not panel.download_bar.isVisibleTo(panel)
    assert panel.zoo_model.itemText(panel.zoo_model.findData("test-pose")).endswith("(cached)")
    assert weights_server.count(entry.file_name) == 1
    panel.show_config(PipelineConfig(checkpoint="test-pose"))
    assert panel.zoo_model.currentData() == "test-pose"


def test_a_cached_detector_applies_at_once(panel, monkeypatch, weights_server):
    from core.zoo import fetch

    entry = registered(monkeypatch, weights_server, detector_entry("test-yolox"), yolox_zip_bytes())
    fetch(entry)
    panel.detector.addItem("test-yolox", "test-yolox")
    panel._detector_entered(panel.detector.findData("test-yolox"))
    assert panel.changes == [("detector", "test-yolox")]


def test_a_failed_download_is_one_line_in_the_panel_and_changes_nothing(panel):
    panel._zoo_chosen("checkpoint", panel.zoo_model, panel.zoo_model.findData("hrnet-w32"))  # offline
    assert wait_until(lambda: panel.download_status.text().startswith("error: "))
    assert "weights import hrnet-w32" in panel.download_status.text()
    assert panel.changes == [] and not panel.download_bar.isVisibleTo(panel)
