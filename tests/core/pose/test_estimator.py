"""PoseEstimator: boxes in, keypoints in image pixels out, crops of several frames batched together.

Without trained weights a real HRNet's keypoints are arbitrary, so the geometry is checked with a
stand-in network whose every heatmap peaks at the brightest spot of its crop: a keypoint must then
come back on the bright spot of the frame, wherever the box puts it in the crop. The real model is
exercised for shapes and plumbing.
"""

import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserError
from core.model.hrnet import ModelConfig, build_model
from core.pose.estimator import PoseEstimator
from core.records import Pose
from tests.support.helpers import limit_torch_threads


class BrightSpotNet(nn.Module):
    """Every joint's heatmap is the crop's brightness averaged over 5×5 pixels around each heatmap
    cell's input position (u · 4): the peak lies on the brightest spot."""

    def __init__(self, input_size=(192, 256)):
        super().__init__()
        self.config = ModelConfig(width=8, input_size=input_size)
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, x):
        brightness = x.mean(dim=1, keepdim=True) + 3.0  # normalised black is about -2
        heat = F.avg_pool2d(brightness, kernel_size=5, stride=4, padding=2, count_include_pad=False)
        return (heat * self.gain).repeat(1, 17, 1, 1)


def frame_with_spots(spots, shape=(480, 640)):
    frame = np.zeros((*shape, 3), dtype=np.uint8)
    for x, y in spots:
        frame[y - 1 : y + 2, x - 1 : x + 2] = 255
    return frame


_torch_threads = limit_torch_threads(2)


@pytest.fixture(scope="module")
def spot_estimator():
    return PoseEstimator(BrightSpotNet(), backend="eager", device="cpu", precision="fp32")


SPOTS = [(150, 200), (452, 310)]
BOXES = np.array([[100.0, 120.0, 220.0, 300.0], [400.0, 250.0, 480.0, 420.0]])  # spot off-centre in each


def test_keypoints_come_back_in_image_pixels(spot_estimator):
    poses = spot_estimator(frame_with_spots(SPOTS), BOXES, np.array([0.9, 0.6]))
    assert len(poses) == 2 and all(isinstance(p, Pose) for p in poses)
    for pose, spot, box, score in zip(poses, SPOTS, BOXES, (0.9, 0.6), strict=True):
        assert pose.keypoints.shape == (17, 3)
        np.testing.assert_allclose(pose.keypoints[:, :2], np.tile(spot, (17, 1)), atol=1.5)
        np.testing.assert_array_equal(pose.box, box)
        assert pose.score == pytest.approx(score)
        assert (pose.keypoints[:, 2] > 0).all()


def test_flip_test_keeps_keypoints_in_place():
    estimator = PoseEstimator(BrightSpotNet(), backend="eager-plain", device="cpu", flip=True)
    poses = estimator(frame_with_spots(SPOTS), BOXES)
    for pose, spot in zip(poses, SPOTS, strict=True):
        # HRNet's one-cell flip shift may move a mirror-symmetric net's peak by a fraction of a cell.
        np.testing.assert_allclose(pose.keypoints[:, :2], np.tile(spot, (17, 1)), atol=3.0)
        assert pose.score == 1.0


def test_crops_of_several_frames_are_batched_together(spot_estimator):
    frames = [frame_with_spots([s]) for s in SPOTS] + [frame_with_spots(SPOTS)]
    boxes = [BOXES[:1], BOXES[1:], BOXES]
    scores = [[0.5], [0.7], [0.1, 0.2]]
    small_batches = PoseEstimator(BrightSpotNet(), "eager", "cpu", "fp32", batch_size=2)
    together = small_batches.estimate_batch(frames, boxes, scores)
    assert [len(p) for p in together] == [1, 1, 2]
    for frame, frame_boxes, frame_scores, got in zip(frames, boxes, scores, together, strict=True):
        alone = spot_estimator(frame, frame_boxes, frame_scores)
        for a, b in zip(alone, got, strict=True):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
            assert a.score == b.score


def test_no_boxes_no_poses(spot_estimator):
    frame = frame_with_spots([])
    assert spot_estimator(frame, np.zeros((0, 4))) == []
    assert spot_estimator(frame, []) == []
    assert spot_estimator.estimate_batch([frame, frame], [[], np.zeros((0, 4))]) == [[], []]


@pytest.mark.parametrize(
    "boxes, message",
    [
        (np.array([[0.0, 0.0, np.nan, 10.0]]), "NaN"),
        (np.array([[0.0, 0.0, np.inf, 10.0]]), "NaN or infinite"),
        (np.zeros((2, 5)), r"\(N, 4\)"),
        (np.zeros((2, 2, 4)), r"\(N, 4\)"),
        (np.array([[10.0, 0.0, 5.0, 10.0]]), "x2 >= x1"),
        ([["a", "b", "c", "d"]], "numbers"),
    ],
)
def test_bad_boxes_are_user_errors(spot_estimator, boxes, message):
    with pytest.raises(UserError, match=message):
        spot_estimator(frame_with_spots([]), boxes)


def test_bad_scores_frames_and_options(spot_estimator):
    frame = frame_with_spots([])
    with pytest.raises(UserError, match="2 boxes but 1 scores"):
        spot_estimator(frame, BOXES, [0.5])
    with pytest.raises(UserError, match="H×W×3 uint8"):
        spot_estimator(frame[..., 0], BOXES)
    with pytest.raises(UserError, match="one box array"):
        spot_estimator.estimate_batch([frame], [BOXES, BOXES])
    with pytest.raises(UserError, match="decode"):
        PoseEstimator(BrightSpotNet(), backend="eager-plain", device="cpu", decode="mean")


def test_real_model_on_a_coco_image(shared_data):
    detections = json.loads((shared_data / "coco_mini" / "person_detections.json").read_text())
    images = json.loads((shared_data / "coco_mini" / "person_keypoints.json").read_text())["images"]
    image = images[0]
    frame = cv2.imread(str(shared_data / "coco_mini" / "images" / image["file_name"]))
    mine = [d for d in detections if d["image_id"] == image["id"]][:3]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in mine)])
    scores = np.array([d["score"] for d in mine])
    model = build_model(width=8, preset="paper", input_size=(96, 128))
    estimator = PoseEstimator(model, backend="eager", device="cpu", decode="dark", trained=False)
    assert (estimator.backend_name, estimator.device.type, estimator.trained) == ("eager", "cpu", False)
    poses = estimator(frame, boxes, scores)
    assert len(poses) == len(boxes) > 0
    for pose, score in zip(poses, scores, strict=True):
        assert pose.keypoints.shape == (17, 3) and np.isfinite(pose.keypoints).all()
        assert pose.score == pytest.approx(score)


# ---------------------------------------------------------------------------------------------------
# Batch-size buckets and the device
# ---------------------------------------------------------------------------------------------------


def coco_frames(shared_data, indices=(0,)):
    """COCO mini images (by position in id order; they hold 1, 3, 5 and 5 people) and their boxes."""
    data = json.loads((shared_data / "coco_mini" / "person_keypoints.json").read_text())
    files = {image["id"]: image["file_name"] for image in data["images"]}
    boxes = {}
    for annotation in data["annotations"]:
        x, y, w, h = annotation["bbox"]
        boxes.setdefault(annotation["image_id"], []).append([x, y, x + w, y + h])
    ids = [sorted(boxes)[i] for i in indices]
    frames = [cv2.imread(str(shared_data / "coco_mini" / "images" / files[i])) for i in ids]
    return frames, [np.array(boxes[i]) for i in ids]


def small_pose_model():
    torch.manual_seed(0)
    return build_model(width=8, preset="paper", input_size=(64, 96), attention_init_scale=1.0).eval()


class RecordingBackend:
    """The real backend, noting the batch size of every call."""

    def __init__(self, backend):
        self.backend, self.batches = backend, []
        self.name, self.precision, self.device = backend.name, backend.precision, backend.device

    def __call__(self, x):
        self.batches.append(x.shape[0])
        return self.backend(x)


@pytest.mark.parametrize("flip", [False, True])
def test_padded_batches_give_the_poses_of_unpadded_ones(shared_data, monkeypatch, flip):
    """Padding is on by default on CUDA (see the next test) and here switched on by hand."""
    import core.pose.estimator as estimator_module

    recorders, create_backend = [], estimator_module.create_backend

    def recording_backend(*args, **kwargs):
        recorders.append(RecordingBackend(create_backend(*args, **kwargs)))
        return recorders[-1]

    monkeypatch.setattr(estimator_module, "create_backend", recording_backend)
    frames, boxes = coco_frames(shared_data, indices=(0, 2))
    model = small_pose_model()
    options = {"backend": "eager-plain", "device": "cpu", "flip": flip, "batch_size": 8}
    padded = PoseEstimator(model, pad_batches=True, warmup=True, **options)
    plain = PoseEstimator(model, **options)  # the CPU's default: no padding (it only costs there)
    crops = sum(len(b) for b in boxes)
    assert crops == 6, "6 people: one batch of 6, padded to 8"
    got = padded.estimate_batch(frames, boxes)
    want = plain.estimate_batch(frames, boxes)
    for got_frame, want_frame in zip(got, want, strict=True):
        for a, b in zip(got_frame, want_frame, strict=True):
            np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=0, atol=1e-4)
    doubled = 2 if flip else 1
    warm = [8 * doubled, 4 * doubled, 2 * doubled, 1 * doubled]  # every bucket once, at start
    assert recorders[0].batches == [*warm, 8 * doubled]
    assert recorders[1].batches == [6 * doubled], "unpadded: the batch as it is"


def test_on_a_second_gpu_every_step_runs_under_that_device(fake_cuda, shared_data):
    """cuda:1 (or torchrun's LOCAL_RANK): model, crops and calls under torch.cuda.device(1), never 0."""
    frames, boxes = coco_frames(shared_data, indices=(1,))
    model = small_pose_model()
    estimator = PoseEstimator(model, backend="eager", device="cuda:1", precision="fp32", batch_size=4)
    assert estimator.device == torch.device("cuda:1")
    assert fake_cuda.entered and set(fake_cuda.entered) == {1}
    assert estimator.buckets == (1, 2, 4), "on CUDA batches are padded to buckets by default"
    fake_cuda.entered.clear()
    poses = estimator(frames[0], boxes[0])
    assert fake_cuda.entered and set(fake_cuda.entered) == {1} and fake_cuda.current == 0
    reference = PoseEstimator(model, backend="eager", device="cpu", precision="fp32", batch_size=4)
    # GPU crops (grid_sample) against the CPU's cv2 crops: the same poses within a fraction of a pixel.
    for a, b in zip(poses, reference(frames[0], boxes[0]), strict=True):
        assert np.abs(a.keypoints[:, :2] - b.keypoints[:, :2]).max() <= 2.0
