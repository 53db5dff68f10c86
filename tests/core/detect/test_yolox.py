"""The zoo's YOLOX detector format: an mmdeploy end-to-end ONNX in a zip (outputs `dets`, `labels`),
fed a BGR float32 image letterboxed top-left with 114 padding and no normalisation. A tiny generated
graph, served on loopback, gives the same boxes through the registry as loaded directly."""

import numpy as np
import pytest

from core.detect import create_detector
from core.detect.onnx import YoloxEnd2EndDetector, letterbox_corner
from core.errors import UserError
from tests.support.weights import detector_entry, registered, yolox_onnx_bytes, yolox_zip_bytes


def frame(bgr: tuple[int, int, int], size=(128, 96)) -> np.ndarray:
    return np.full((size[1], size[0], 3), bgr, np.uint8)


def test_letterbox_pads_bottom_and_right_with_114_and_keeps_bgr():
    image = frame((255, 10, 0))  # 128×96 → 64×48 in a 64×64 canvas
    boxed, ratio = letterbox_corner(image, (64, 64))
    assert ratio == 0.5 and boxed.shape == (64, 64, 3)
    assert (boxed[:48] == (255, 10, 0)).all()  # channels untouched (BGR stays BGR)
    assert (boxed[48:] == 114).all()


def test_persons_only_in_frame_pixels_with_bgr_unnormalised_input(tmp_path):
    (tmp_path / "end2end.onnx").write_bytes(yolox_onnx_bytes())
    detector = YoloxEnd2EndDetector(tmp_path / "end2end.onnx")
    blue = detector(frame((255, 0, 0)))
    assert len(blue) == 1  # the second box has label 1: not a person
    np.testing.assert_allclose(blue[0].box, [16, 32, 80, 96])  # (8, 16, 40, 56) / 0.5, clipped to 96
    assert blue[0].score == pytest.approx(1.0)  # max of channel 0 = 255: blue is channel 0, raw 0-255
    red = detector(frame((0, 0, 255)))
    assert red[0].score == pytest.approx(114 / 255)  # only the padding has blue in it


def test_the_zip_through_the_registry_gives_the_same_boxes_as_the_graph_loaded_directly(
    monkeypatch, weights_server, tmp_path
):
    body = yolox_zip_bytes()
    registered(monkeypatch, weights_server, detector_entry("test-yolox"), body)
    (tmp_path / "end2end.onnx").write_bytes(yolox_onnx_bytes())
    named = create_detector("test-yolox", progress=lambda done, total: None)
    direct = YoloxEnd2EndDetector(tmp_path / "end2end.onnx")
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    got, expected = named(image), direct(image)
    assert len(got) == len(expected) == 1
    np.testing.assert_array_equal(got[0].box, expected[0].box)
    assert got[0].score == expected[0].score


def test_a_graph_without_dets_and_labels_is_refused(tmp_path):
    (tmp_path / "end2end.onnx").write_bytes(b"not onnx")
    with pytest.raises(UserError, match="cannot load ONNX model"):
        YoloxEnd2EndDetector(tmp_path / "end2end.onnx")


def test_a_named_detector_offline_is_one_line_and_hog_needs_nothing():
    with pytest.raises(UserError, match=r"offline .*weights import yolox-s FILE"):
        create_detector("yolox-s")
    with pytest.raises(UserError, match=r"offline .*fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7\.pth"):
        create_detector("fasterrcnn-mobilenet")
    create_detector("hog")


def test_the_default_detector_is_hog_until_a_cnn_detector_is_cached(monkeypatch, weights_server):
    from core.detect import default_detector

    assert default_detector()[0] == "hog"
    assert "python run.py weights get yolox-s" in default_detector()[1]
    entry = registered(monkeypatch, weights_server, detector_entry("test-yolox"), yolox_zip_bytes())
    monkeypatch.setattr("core.zoo.registry.REGISTRY", {entry.name: entry})
    create_detector("test-yolox", progress=lambda done, total: None)
    name, line = default_detector()
    assert name == "test-yolox" and line.startswith("no --detector given: using the cached test-yolox")
