"""Batched crops on the accelerator equal the codec's cv2 crops (run here on CPU tensors).

cv2.warpAffine quantises sampling positions to 1/32 pixel and rounds to uint8; grid_sample does
neither, so real images agree to a fraction of a grey level on average and a few grey levels at the
sharpest edges. Where no interpolation happens (a whole-pixel shift) they agree to float rounding.
"""

import json

import cv2
import numpy as np
import pytest
import torch

from core.pose import codec
from core.pose.gpu_crops import FrameUploader, crop_batch, crop_frame

INPUT_SIZE = (192, 256)
GREY = 1.0 / 255.0 / codec.PIXEL_STD.min()  # one grey level in normalised units, at most


def codec_crops(frame, boxes, input_size=INPUT_SIZE):
    crops, centers, scales = codec.crop_boxes(frame, boxes, input_size)
    return codec.normalize_crops(crops), centers, scales


@pytest.fixture(scope="module")
def coco(shared_data):
    data = json.loads((shared_data / "coco_mini" / "person_keypoints.json").read_text())
    files = {image["id"]: image["file_name"] for image in data["images"]}
    frames, boxes = {}, {}
    for annotation in data["annotations"]:
        x, y, w, h = annotation["bbox"]
        image_id = annotation["image_id"]
        frames.setdefault(image_id, cv2.imread(str(shared_data / "coco_mini" / "images" / files[image_id])))
        boxes.setdefault(image_id, []).append([x, y, x + w, y + h])
    ids = sorted(frames)
    return [frames[i] for i in ids], [np.array(boxes[i]) for i in ids]


def test_real_crops_match_the_codec(coco):
    frames, boxes = coco
    crops, centers, scales = crop_batch(frames, boxes, INPUT_SIZE, "cpu")
    expected = [codec_crops(f, b) for f, b in zip(frames, boxes, strict=True)]
    want = torch.cat([e[0] for e in expected])
    assert crops.shape == want.shape == (sum(len(b) for b in boxes), 3, INPUT_SIZE[1], INPUT_SIZE[0])
    assert crops.dtype == torch.float32
    np.testing.assert_array_equal(centers, np.concatenate([e[1] for e in expected]))
    np.testing.assert_array_equal(scales, np.concatenate([e[2] for e in expected]))
    difference = (crops - want).abs()
    assert difference.mean() <= 0.6 * GREY
    assert difference.max() <= 8 * GREY


def test_whole_pixel_shift_copies_pixels():
    """Scale equal to the output size and a centre on a half-size offset: a pure copy, no blending
    beyond float32 rounding of the normalised grid (a thousandth of a grey level)."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    w, h = 48, 64
    centers = np.array([[124.0, 96.0], [30.0, 20.0]])  # the second crop reaches past the border
    scales = np.array([[w, h], [w, h]], dtype=np.float64)
    got = crop_frame(torch.from_numpy(frame), centers, scales, (w, h))
    for i in range(2):
        want = codec.crop_affine(frame, centers[i], scales[i], (w, h))
        np.testing.assert_allclose(got[i].permute(1, 2, 0).numpy(), want, rtol=0, atol=0.01)


def test_outside_the_image_is_black_like_cv2():
    frame = np.full((100, 80, 3), 200, dtype=np.uint8)
    box = np.array([[-60.0, -40.0, 20.0, 60.0]])  # mostly left of and above the image
    got, _, _ = crop_batch([frame], [box], INPUT_SIZE, "cpu")
    want, _, _ = codec_crops(frame, box)
    black = codec.normalize_bgr(torch.zeros(1, 3, 1, 1))
    assert torch.allclose(got[0, :, 0, 0], black[0, :, 0, 0])
    assert (got - want).abs().mean() <= 0.6 * GREY


def test_frames_of_different_sizes_and_empty_ones_in_one_call(coco):
    frames, boxes = coco
    small = cv2.resize(frames[0], None, fx=0.5, fy=0.5)
    batch_frames = [frames[0], small, frames[1]]
    batch_boxes = [boxes[0], np.zeros((0, 4)), boxes[1]]
    crops, _, _ = crop_batch(batch_frames, batch_boxes, INPUT_SIZE, "cpu")
    assert len(crops) == len(boxes[0]) + len(boxes[1])
    alone, _, _ = crop_batch([frames[1]], [boxes[1]], INPUT_SIZE, "cpu")
    torch.testing.assert_close(crops[len(boxes[0]) :], alone)
    empty, c, s = crop_batch([small], [np.zeros((0, 4))], INPUT_SIZE, "cpu")
    assert empty.shape == (0, 3, INPUT_SIZE[1], INPUT_SIZE[0]) and c.shape == s.shape == (0, 2)


def test_uploader_on_the_cpu_shares_the_frame():
    frame = np.zeros((4, 5, 3), dtype=np.uint8)
    tensor = FrameUploader("cpu")(frame)
    frame[0, 0, 0] = 7
    assert tensor[0, 0, 0] == 7


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_crops_match_the_cpu_ones(coco):
    frames, boxes = coco
    uploader = FrameUploader("cuda")
    for _ in range(2):  # the second pass reuses the pinned buffers
        gpu, _, _ = crop_batch(frames, boxes, INPUT_SIZE, "cuda", uploader)
    cpu, _, _ = crop_batch(frames, boxes, INPUT_SIZE, "cpu")
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().max() <= 1e-3


def test_sampling_points_are_exact_multiply_adds_never_a_matmul():
    """A matmul may run in TF32 on a GPU (10-bit mantissa: half a pixel on a 1000-pixel frame); the
    grid must not depend on that setting, so no matmul-family op may compute it."""
    from torch.overrides import TorchFunctionMode

    from core.pose.gpu_crops import sampling_grid

    class Ops(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.add(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    centers, scales = np.array([[1503.7, 811.2], [20.5, 1070.25]]), np.array([[310.0, 413.3], [96.0, 128.0]])
    inverse = codec.crop_matrices(centers, scales, INPUT_SIZE, inverse=True)
    frame_size = (1920, 1080)
    with Ops() as ops:
        grid = sampling_grid(torch.as_tensor(inverse, dtype=torch.float32), frame_size, INPUT_SIZE)
    assert not ops.names & {"einsum", "matmul", "bmm", "mm", "__matmul__", "baddbmm", "addmm", "tensordot"}
    w, h = INPUT_SIZE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    for k in range(2):  # the same points in fp64, in grid units
        a = inverse[k]
        x = (a[0, 0] * xs + a[0, 1] * ys + a[0, 2]) * 2 / (frame_size[0] - 1) - 1
        y = (a[1, 0] * xs + a[1, 1] * ys + a[1, 2]) * 2 / (frame_size[1] - 1) - 1
        in_pixels = np.abs(grid[k].double().numpy() - np.stack([x, y], -1)) * (np.array(frame_size) - 1) / 2
        assert in_pixels.max() <= 1e-3  # float32 rounding of a coordinate near 1920: ~1e-4 px
