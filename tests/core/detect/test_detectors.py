"""Every detector backend on real frames; interval detection between pose-derived boxes."""

import argparse
import json

import cv2
import numpy as np
import pytest

from core.detect import HogDetector, IntervalDetector, boxes_from_poses, create_detector
from core.errors import UserError
from core.records import Detection, Pose


def first_frame(path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok, f"cannot decode {path}"
    return frame


def assert_valid(detections: list[Detection], frame: np.ndarray) -> None:
    h, w = frame.shape[:2]
    for d in detections:
        assert isinstance(d, Detection) and d.box.shape == (4,)
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert 0.0 <= d.score <= 1.0


def test_hog_finds_the_people_in_street_video(shared_data):
    frame = first_frame(shared_data / "video" / "street.mp4")
    detections = create_detector("hog")(frame, 0)
    assert_valid(detections, frame)
    assert len(detections) >= 2
    # The four walkers stand in the middle band of the 960×540 frame, roughly 1/3 to 2/3 of its height.
    heights = [d.box[3] - d.box[1] for d in detections]
    assert all(100 < h < 400 for h in heights)


def test_hog_rejects_a_non_image():
    with pytest.raises(UserError, match="BGR frame"):
        HogDetector()(np.zeros((10, 10)), 0)


def test_file_reads_coco_results(shared_data):
    path = shared_data / "coco_mini" / "person_detections.json"
    entries = json.loads(path.read_text())
    ids = sorted({e["image_id"] for e in entries})
    detector = create_detector(f"file:{path}")
    for index, image_id in enumerate(ids):
        expected = [e for e in entries if e["image_id"] == image_id and e["category_id"] == 1]
        found = detector(None, index)
        assert len(found) == len(expected)
        x, y, w, h = expected[0]["bbox"]
        assert np.allclose(found[0].box, [x, y, x + w, y + h]) and found[0].score == pytest.approx(
            expected[0]["score"]
        )
    assert detector(None, len(ids)) == []


def test_file_reads_mot_det_txt(shared_data):
    path = shared_data / "mot15" / "TUD-Campus" / "det.txt"
    detector = create_detector(f"file:{path}")
    rows = np.loadtxt(path, delimiter=",")
    first = detector(None, 0)  # frame index 0 = MOT frame 1
    assert len(first) == int((rows[:, 0] == 1).sum())
    assert np.allclose(
        first[0].box, [rows[0, 2], rows[0, 3], rows[0, 2] + rows[0, 4], rows[0, 3] + rows[0, 5]]
    )
    assert len(detector(None, 70)) == int((rows[:, 0] == 71).sum())
    strict = create_detector(f"file:{path}", score_threshold=0.99)
    assert len(strict(None, 0)) < len(first)


def test_unknown_specs_and_missing_files():
    with pytest.raises(UserError, match="unknown detector"):
        create_detector("yolo")
    with pytest.raises(UserError, match="not found"):
        create_detector("file:/nonexistent/det.txt")
    with pytest.raises(UserError, match="not found"):
        create_detector("onnx:/nonexistent/model.onnx")
    with pytest.raises(UserError, match="unknown torchvision detector"):
        create_detector("torchvision:resnet50")


def test_torchvision_missing_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as error:
        create_detector("torchvision:fasterrcnn_resnet50_fpn_v2")
    message = str(error.value)
    assert str(tmp_path / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth") in message
    assert "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth" in message


def test_torchvision_ssdlite_loads_local_weights_and_runs(shared_data, tmp_path):
    import torch
    import torchvision

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torchvision.models.get_model(
        "ssdlite320_mobilenet_v3_large", weights=None, weights_backbone=None, num_classes=91
    )
    weights = tmp_path / "ssdlite.pth"
    torch.save(model.state_dict(), weights)
    detector = create_detector(f"torchvision:ssdlite320_mobilenet_v3_large:{weights}", score_threshold=0.0)
    assert torch.equal(
        detector.model.state_dict()["head.classification_head.module_list.0.1.weight"],
        model.state_dict()["head.classification_head.module_list.0.1.weight"],
    )
    frame = first_frame(shared_data / "video" / "street.mp4")
    detections = detector(frame, 0)  # random weights: boxes mean nothing, their format must be right
    assert_valid(detections, frame)

    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a PyTorch checkpoint"):
        create_detector(f"torchvision:ssdlite320_mobilenet_v3_large:{tmp_path / 'broken.pth'}")
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, tmp_path / "pickled.pth")
    with pytest.raises(UserError) as refused:  # one line, never torch's advice to set weights_only=False
        create_detector(f"torchvision:ssdlite320_mobilenet_v3_large:{tmp_path / 'pickled.pth'}")
    assert "refused as unsafe" in str(refused.value) and "weights_only=False" not in str(refused.value)


def export_yolo_like(path, transposed: bool) -> None:
    """A constant 'YOLO' with 8 candidates and 2 classes: one person, one other object, six weak ones."""
    import torch

    raw = torch.zeros(6, 8)
    raw[:, 0] = torch.tensor([320.0, 320.0, 100.0, 200.0, 0.9, 0.05])  # person at the input centre
    raw[:, 1] = torch.tensor([100.0, 100.0, 50.0, 50.0, 0.1, 0.95])  # class 1: not a person
    raw[:, 2] = torch.tensor([322.0, 321.0, 98.0, 198.0, 0.6, 0.0])  # duplicate of the person: NMS drops it
    raw[4, 3:] = 0.01

    class Constant(torch.nn.Module):
        def forward(self, x):
            out = raw[None] + 0.0 * x.mean()
            return out.transpose(1, 2) if transposed else out

    torch.onnx.export(
        Constant(),
        (torch.zeros(1, 3, 640, 640),),
        str(path),
        input_names=["images"],
        output_names=["output0"],
        dynamo=False,
    )


@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning"
)  # the legacy exporter: 5× faster for this tiny graph
@pytest.mark.parametrize("transposed", [False, True])
def test_onnx_yolo_decodes_and_unletterboxes(tmp_path, transposed):
    path = tmp_path / "yolo.onnx"
    export_yolo_like(path, transposed)
    detector = create_detector(f"onnx:{path}")
    frame = np.zeros((720, 1280, 3), np.uint8)  # letterbox: ratio 0.5, 140 px bands above and below
    detections = detector(frame, 0)
    assert len(detections) == 1
    assert np.allclose(detections[0].box, [540, 160, 740, 560], atol=1e-3)
    assert detections[0].score == pytest.approx(0.9)


def test_letterbox_geometry():
    from core.detect.onnx import letterbox

    image, ratio, (left, top) = letterbox(np.zeros((720, 1280, 3), np.uint8), (640, 640))
    assert image.shape == (640, 640, 3) and ratio == 0.5 and (left, top) == (0.0, 140.0)
    assert image[0, 0, 0] == 114 and image[320, 320, 0] == 0


def pose(points: list[tuple[float, float, float]]) -> Pose:
    keypoints = np.zeros((17, 3))
    keypoints[: len(points)] = points
    return Pose(box=np.array([0.0, 0, 1, 1]), score=1.0, keypoints=keypoints)


def test_boxes_from_poses_pad_confident_keypoints():
    boxes = boxes_from_poses(
        [pose([(100, 100, 0.9), (200, 300, 0.8), (150, 200, 0.7), (900, 900, 0.1)])],
        threshold=0.3,
        padding=0.1,
    )
    assert len(boxes) == 1
    assert np.allclose(boxes[0].box, [90, 80, 210, 320])  # 100..200 × 100..300 grown by 10 %
    assert boxes[0].score == pytest.approx(0.8)
    assert boxes_from_poses([pose([(100, 100, 0.9), (200, 300, 0.2)])]) == []  # too few joints
    clipped = boxes_from_poses([pose([(0, 0, 0.9), (50, 50, 0.9), (20, 20, 0.9)])], image_size=(40, 40))
    assert clipped[0].box.min() >= 0 and clipped[0].box.max() <= 40


def test_interval_detector_detects_every_n_frames():
    calls = []

    def detector(frame, index):
        calls.append(index)
        return [Detection(np.array([10.0, 10, 50, 100]), 0.9)]

    interval = IntervalDetector(detector, every=3)
    person = pose([(20, 20, 0.9), (40, 90, 0.9), (30, 50, 0.9)])
    for index in range(7):
        boxes = interval(None, index)
        assert len(boxes) == 1
        interval.observe([person])
    assert calls == [0, 3, 6]
    interval.observe([])  # everyone lost: detect at once rather than wait
    interval(None, 7)
    assert calls == [0, 3, 6, 7]
    with pytest.raises(UserError):
        IntervalDetector(detector, every=0)


@pytest.mark.parametrize("size", [(160, 90), (320, 100), (640, 96), (16, 16), (100, 2000), (63, 127)])
def test_hog_runs_on_frames_smaller_than_its_window(size):
    """detectMultiScale segfaults on frames shorter than its 64×128 window (+ padding) and asserts on
    narrower ones; the detector scales such frames up first (this test would crash the process)."""
    width, height = size
    frame = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    assert_valid(HogDetector()(frame, 0), frame)


def test_hog_skips_frames_too_thin_to_scale_with_one_warning(caplog):
    from core.detect.hog import hog_scale

    detector = HogDetector()
    frame = np.zeros((2000, 1, 3), dtype=np.uint8)
    assert detector(frame, 0) == [] and detector(frame, 1) == []
    assert [r.message for r in caplog.records].count(
        "frames of 1x2000 are too thin for the HOG detector: no detections"
    ) == 1
    assert hog_scale(1920, 1080) == pytest.approx(1 / 3) and hog_scale(640, 96) == pytest.approx(128 / 96)


def test_letterbox_keeps_a_one_pixel_wide_frame():
    from core.detect.onnx import letterbox

    image, ratio, _ = letterbox(np.zeros((2000, 1, 3), dtype=np.uint8), (640, 640))
    assert image.shape == (640, 640, 3) and ratio == pytest.approx(0.32)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'[{"image_id": 1e400, "bbox": [0, 0, 10, 20]}]', "integer image_id"),
        (b"[" * 200_000, "nested too deeply"),
        (b"\xff\xfe\x00binary", "not valid JSON"),
    ],
)
def test_malformed_coco_detection_files_are_one_line(tmp_path, content, words):
    path = tmp_path / "dets.json"
    path.write_bytes(content)
    with pytest.raises(UserError, match=words):
        create_detector(f"file:{path}")
