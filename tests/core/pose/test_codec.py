"""The heatmap codec: affine crops and their inverse, Gaussian targets, decoding, the flip test."""

import numpy as np
import pytest
import torch

from core.keypoints import FLIP_PAIRS, NUM_JOINTS, flip_permutation
from core.pose import codec

SIZES = [((192, 256), (48, 64)), ((288, 384), (72, 96))]  # (input w×h, heatmap w×h)


def random_rotation_matrix(degrees: float) -> np.ndarray:
    r = np.deg2rad(degrees)
    return np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])


def encode_many(grid_points: np.ndarray, input_size, heatmap_size) -> np.ndarray:
    """Targets for N×J sub-pixel positions given on the heatmap grid (u = x / stride)."""
    stride = input_size[0] / heatmap_size[0]
    visible = np.ones(grid_points.shape[1])
    targets = [codec.encode_heatmaps(p * stride, visible, input_size, heatmap_size)[0] for p in grid_points]
    return np.stack(targets)


# --- boxes and affine maps ---------------------------------------------------------------------------


def test_box_to_center_scale_enlarges_the_short_side_then_pads():
    # Tall box 100×200: w/h = 0.5 < 0.75, so the width grows to 150; then ×1.25.
    center, scale = codec.box_to_center_scale(np.array([10.0, 20.0, 110.0, 220.0]))
    np.testing.assert_allclose(center, [60.0, 120.0])
    np.testing.assert_allclose(scale, [187.5, 250.0])
    # Wide box 300×100: the height grows to 400.
    center, scale = codec.box_to_center_scale(np.array([0.0, 0.0, 300.0, 100.0]))
    np.testing.assert_allclose(center, [150.0, 50.0])
    np.testing.assert_allclose(scale, [375.0, 500.0])
    # 288×384 has the same aspect; a batch of boxes works row by row; padding is a parameter.
    centers, scales = codec.box_to_center_scale(
        np.array([[10.0, 20.0, 110.0, 220.0], [0.0, 0.0, 300.0, 100.0]]), aspect_ratio=288 / 384, padding=1.0
    )
    np.testing.assert_allclose(scales, [[150.0, 200.0], [300.0, 400.0]])
    assert centers.shape == (2, 2)


def test_crop_matrix_follows_hrnet_convention():
    center, scale, size = np.array([400.0, 300.0]), np.array([150.0, 200.0]), (192, 256)
    m = codec.crop_matrix(center, scale, size)
    # Centre to the crop's centre, the scale's width onto the output width, no shear.
    np.testing.assert_allclose(codec.transform_points(center, m), [96.0, 128.0], atol=1e-9)
    left_right = codec.transform_points(np.array([[325.0, 300.0], [475.0, 300.0]]), m)
    np.testing.assert_allclose(left_right, [[0.0, 128.0], [192.0, 128.0]], atol=1e-9)
    # HRNet's rotation: the point centre + R(rot)·(0, -w/2) goes to straight above the crop centre.
    for rotation in (30.0, -45.0, 90.0):
        m = codec.crop_matrix(center, scale, size, rotation)
        source = center + random_rotation_matrix(rotation) @ np.array([0.0, -scale[0] / 2])
        np.testing.assert_allclose(codec.transform_points(source, m), [96.0, 128.0 - 96.0], atol=1e-9)


@pytest.mark.parametrize("rotation", [0.0, 37.5, -120.0])
@pytest.mark.parametrize(("input_size", "heatmap_size"), SIZES)
def test_crop_matrix_inverse_maps_points_back(rotation, input_size, heatmap_size):
    rng = np.random.default_rng(0)
    for _ in range(20):
        center = rng.uniform(0, 1920, 2)
        scale = rng.uniform(20, 800, 2)
        points = rng.uniform(-500, 2500, (50, 2))
        forward = codec.crop_matrix(center, scale, input_size, rotation)
        inverse = codec.crop_matrix(center, scale, input_size, rotation, inverse=True)
        back = codec.transform_points(codec.transform_points(points, forward), inverse)
        assert np.abs(back - points).max() < 1e-3


def test_crop_affine_moves_pixels_as_the_matrix_moves_points():
    image = np.zeros((480, 640), dtype=np.float32)
    image[200, 300] = 1.0  # one bright pixel
    center, scale = np.array([320.0, 240.0]), np.array([300.0, 400.0])
    crop = codec.crop_affine(image, center, scale, (192, 256), rotation=20.0)
    matrix = codec.crop_matrix(center, scale, (192, 256), 20.0)
    expected = codec.transform_points(np.array([300.0, 200.0]), matrix)
    ys, xs = np.nonzero(crop)
    weights = crop[ys, xs]
    centroid = np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()
    assert np.abs(centroid - expected).max() < 0.35  # bilinear smearing of a single pixel


def test_crop_boxes_matches_crop_affine_per_box():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 20.0, 90.0, 200.0], [150.0, 30.0, 300.0, 120.0]])
    crops, centers, scales = codec.crop_boxes(frame, boxes, (192, 256))
    assert crops.shape == (2, 256, 192, 3) and crops.dtype == np.uint8
    for crop, center, scale in zip(crops, centers, scales, strict=True):
        np.testing.assert_array_equal(crop, codec.crop_affine(frame, center, scale, (192, 256)))


def test_heatmap_inverse_equals_input_inverse_of_stride_times_u():
    """HRNet maps heatmap cells back with the heatmap-size affine; it must equal x = u * stride."""
    rng = np.random.default_rng(2)
    for input_size, heatmap_size in SIZES:
        centers, scales = rng.uniform(100, 900, (5, 2)), rng.uniform(50, 500, (5, 2))
        u = rng.uniform(0, 48, (5, 17, 2))
        via_heatmap = codec.heatmap_to_image(u, centers, scales, heatmap_size, rotation=15.0)
        for n in range(5):
            inverse = codec.crop_matrix(centers[n], scales[n], input_size, 15.0, inverse=True)
            np.testing.assert_allclose(via_heatmap[n], codec.transform_points(u[n] * 4, inverse), atol=1e-9)


# --- targets -----------------------------------------------------------------------------------------


def test_encode_centres_the_gaussian_at_the_sub_pixel_position():
    heatmaps, weights = codec.encode_heatmaps(np.array([[42.0, 81.0]]), [1], (192, 256), (48, 64))
    assert heatmaps.shape == (1, 64, 48) and heatmaps.dtype == np.float32
    assert weights.tolist() == [1.0]
    hm = heatmaps[0]  # centre u = (10.5, 20.25): cells 10 and 11 are equally far
    assert hm[20, 10] == pytest.approx(hm[20, 11], rel=1e-6)
    assert hm.max() < 1.0  # the peak lies between cells
    np.testing.assert_allclose(hm[20, 10], np.exp(-(0.5**2 + 0.25**2) / 8), rtol=1e-6)
    # Truncated at 3σ = 6 cells from the true centre, zero beyond.
    assert hm[20, 4] == 0.0 and hm[20, 5] > 0.0 and hm[20, 16] > 0.0 and hm[20, 17] == 0.0
    on_cell, _ = codec.encode_heatmaps(np.array([[40.0, 80.0]]), [1], (192, 256), (48, 64))
    assert on_cell.max() == pytest.approx(1.0) and on_cell[0, 20, 10] == pytest.approx(1.0)


def test_target_weights_zero_for_invisible_and_out_of_crop_joints():
    keypoints = np.array(
        [
            [100.0, 120.0],  # visible, inside
            [100.0, 120.0],  # invisible
            [-200.0, 120.0],  # far left of the crop
            [100.0, 400.0],  # far below the crop
            [-8.0, 120.0],  # just outside, but its Gaussian reaches into the grid (HRNet keeps it)
            [np.nan, 5.0],  # not a number
        ]
    )
    visible = np.array([2, 0, 2, 1, 1, 1])
    heatmaps, weights = codec.encode_heatmaps(keypoints, visible, (192, 256), (48, 64))
    assert weights.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert heatmaps[0].max() == pytest.approx(1.0)
    for zero in (1, 2, 3, 5):
        assert not heatmaps[zero].any()
    assert 0 < heatmaps[4].max() < 1  # only the tail is on the grid


def test_encode_accepts_visibility_columns():
    _, weights = codec.encode_heatmaps(np.full((3, 2), 50.0), np.array([[1], [0], [2]]), (192, 256), (48, 64))
    assert weights.tolist() == [1.0, 0.0, 1.0]


# --- decoding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("input_size", "heatmap_size"), SIZES)
def test_encode_decode_round_trip(input_size, heatmap_size):
    """Sub-pixel positions come back within 0.1 cell with DARK and within 0.3 cell per axis with argmax.

    HRNet's argmax moves a quarter cell toward the higher neighbour on each axis, so its error is up
    to 0.25 per axis (up to 0.35 as a distance when both axes are off by a quarter).
    """
    rng = np.random.default_rng(3)
    w, h = heatmap_size
    truth = rng.uniform([3.0, 3.0], [w - 4.0, h - 4.0], (30, NUM_JOINTS, 2))
    heatmaps = encode_many(truth, input_size, heatmap_size)
    dark, _ = codec.decode_heatmaps(heatmaps, "dark")
    argmax, scores = codec.decode_heatmaps(heatmaps, "argmax")
    assert np.linalg.norm(dark - truth, axis=-1).max() <= 0.1
    assert np.abs(argmax - truth).max() <= 0.3
    np.testing.assert_array_equal(scores, heatmaps.reshape(30, NUM_JOINTS, -1).max(-1))


def test_dark_beats_argmax_on_average():
    """Why DARK exists: argmax is quantised to quarter cells, DARK is not — also with a noisy peak."""
    rng = np.random.default_rng(4)
    truth = rng.uniform(4.0, 40.0, (40, NUM_JOINTS, 2))
    heatmaps = encode_many(truth, (192, 256), (48, 64))
    noisy = heatmaps + rng.normal(0, 0.01, heatmaps.shape).astype(np.float32)
    for maps in (heatmaps, noisy):
        dark_error = np.linalg.norm(codec.decode_heatmaps(maps, "dark")[0] - truth, axis=-1).mean()
        argmax_error = np.linalg.norm(codec.decode_heatmaps(maps, "argmax")[0] - truth, axis=-1).mean()
        assert dark_error < 0.5 * argmax_error


def test_dark_finds_the_centre_of_a_tilted_elongated_peak():
    """Network peaks are rarely round; the Hessian's cross term handles a tilted ellipse."""
    rng = np.random.default_rng(6)
    ys, xs = np.mgrid[0:64, 0:48].astype(np.float64)
    truth = rng.uniform(10.0, 38.0, (50, 2))
    maps = []
    for (cx, cy), angle in zip(truth, rng.uniform(0, np.pi, 50), strict=True):
        rotation = random_rotation_matrix(np.rad2deg(angle))
        precision = rotation @ np.diag([1 / 1.5**2, 1 / 4.0**2]) @ rotation.T  # σ 1.5 × 4 cells
        d = np.stack([xs - cx, ys - cy], axis=-1)
        maps.append(np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, precision, d)))
    heatmaps = np.asarray(maps, dtype=np.float32)[:, None]
    coords, _ = codec.decode_heatmaps(heatmaps, "dark")
    assert np.linalg.norm(coords[:, 0] - truth, axis=-1).max() <= 0.1


def test_decode_follows_hrnet_at_edges_and_for_non_positive_maxima():
    heatmaps = np.zeros((1, 3, 64, 48), dtype=np.float32)
    heatmaps[0, 0, 10, 0] = 1.0  # on the left edge: no neighbour, no shift
    heatmaps[0, 1] = -1.0  # nothing positive: HRNet puts the joint at (0, 0)
    heatmaps[0, 1, 30, 30] = -0.5
    heatmaps[0, 2, 30, 20] = 1.0
    heatmaps[0, 2, 30, 21] = 0.5  # higher right neighbour: +0.25 in x, none in y
    for method in codec.DECODE_METHODS:
        coords, scores = codec.decode_heatmaps(heatmaps, method)
        np.testing.assert_allclose(coords[0, 0], [0.0, 10.0])
        np.testing.assert_allclose(coords[0, 1], [0.0, 0.0])
        np.testing.assert_allclose(scores[0], [1.0, -0.5, 1.0])
    argmax, _ = codec.decode_heatmaps(heatmaps, "argmax")
    np.testing.assert_allclose(argmax[0, 2], [20.25, 30.0])


def test_argmax_shift_commutes_with_mirroring_next_to_the_border():
    heatmaps = np.zeros((1, 2, 64, 48), dtype=np.float32)
    heatmaps[0, 0, 30, 1], heatmaps[0, 0, 30, 2] = 1.0, 0.5  # second column, higher right neighbour
    heatmaps[0, 1] = heatmaps[0, 0, :, ::-1]  # its mirror image, in the second-to-last column
    coords, _ = codec.decode_heatmaps(heatmaps, "argmax")
    np.testing.assert_allclose(coords[0], [[1.25, 30.0], [48 - 1 - 1.25, 30.0]])


def test_decode_accepts_tensors_and_rejects_unknown_methods():
    heatmaps = encode_many(np.array([[[20.3, 30.6]]]), (192, 256), (48, 64))
    coords, _ = codec.decode_heatmaps(torch.from_numpy(heatmaps), "dark")
    np.testing.assert_allclose(coords[0, 0], [20.3, 30.6], atol=0.05)
    with pytest.raises(ValueError, match="decode method"):
        codec.decode_heatmaps(heatmaps, "soft-argmax")
    with pytest.raises(ValueError, match="N×J×h×w"):
        codec.decode_heatmaps(heatmaps[0], "argmax")


@pytest.mark.parametrize("rotation", [0.0, 25.0])
@pytest.mark.parametrize(("input_size", "heatmap_size"), SIZES)
def test_keypoints_survive_image_crop_heatmap_image(rotation, input_size, heatmap_size):
    """Image keypoints → crop input → Gaussian targets → decode → image, as training meets inference."""
    rng = np.random.default_rng(5)
    stride = input_size[0] / heatmap_size[0]
    for _ in range(10):
        corner = rng.uniform(0, 1500, 2)
        size = rng.uniform(40, 600, 2)
        # Inside the person box, and so (rotated or not) at least two cells from the crop's edge,
        # where DARK's finite differences have the neighbours they need.
        keypoints = corner + rng.uniform(0.2, 0.8, (NUM_JOINTS, 2)) * size
        center, scale = codec.box_to_center_scale(np.concatenate([corner, corner + size]))
        in_crop = codec.transform_points(keypoints, codec.crop_matrix(center, scale, input_size, rotation))
        heatmaps, weights = codec.encode_heatmaps(in_crop, np.ones(NUM_JOINTS), input_size, heatmap_size)
        assert weights.all()
        image_per_cell = stride * scale[0] / input_size[0]  # image pixels per heatmap cell
        for method, cells in (("dark", 0.1), ("argmax", 0.3 * np.sqrt(2))):
            coords, _ = codec.decode_heatmaps(heatmaps[None], method)
            back = codec.heatmap_to_image(coords, center[None], scale[None], heatmap_size, rotation)[0]
            assert np.linalg.norm(back - keypoints, axis=-1).max() <= cells * image_per_cell
            decoded = codec.heatmaps_to_keypoints(heatmaps[None], center[None], scale[None], method, rotation)
            assert decoded.shape == (1, NUM_JOINTS, 3)
            np.testing.assert_allclose(decoded[0, :, :2], back, atol=1e-9)


# --- flip test ---------------------------------------------------------------------------------------


def test_flip_back_mirrors_swaps_channels_and_shifts():
    heatmaps = torch.zeros(1, NUM_JOINTS, 64, 48)
    heatmaps[0, 1, 10, 5] = 1.0  # left eye at x = 5
    plain = codec.flip_back(heatmaps, shift=False)
    assert plain[0, 2, 10, 48 - 1 - 5] == 1.0 and plain.sum() == 1.0  # right eye, mirrored
    shifted = codec.flip_back(heatmaps)
    assert shifted[0, 2, 10, 48 - 5] == 1.0 and shifted.sum() == 1.0  # one cell further right
    assert heatmaps[0, 1, 10, 5] == 1.0  # the input is untouched


def test_flip_back_twice_is_the_identity():
    heatmaps = torch.rand(2, NUM_JOINTS, 64, 48)
    torch.testing.assert_close(codec.flip_back(codec.flip_back(heatmaps, shift=False), shift=False), heatmaps)
    # With the shift, twice moves right then left again: the same except the border columns.
    twice = codec.flip_back(codec.flip_back(heatmaps))
    torch.testing.assert_close(twice[..., 1:-1], heatmaps[..., 1:-1])
    # And each left/right pair really was swapped in between.
    once = codec.flip_back(heatmaps, shift=False)
    for left, right in FLIP_PAIRS:
        torch.testing.assert_close(once[:, left], heatmaps[:, right].flip(-1))


class MirrorEquivariantHeatmaps(torch.nn.Module):
    """A real convolutional 'model' whose right-joint kernels are the mirror images of the left ones,
    so mirroring its input mirrors its output and swaps left and right channels."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        kernels = torch.randn(NUM_JOINTS, 3, 7, 7, generator=generator)
        for joint, partner in enumerate(flip_permutation()):
            if partner < joint:
                kernels[joint] = kernels[partner].flip(-1)
            elif partner == joint:  # centre joints (the nose) are their own mirror image
                kernels[joint] = (kernels[joint] + kernels[joint].flip(-1)) / 2
        self.conv = torch.nn.Conv2d(3, NUM_JOINTS, 7, stride=4, padding=3, bias=False)
        self.conv.weight.data.copy_(kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Stride-4 sampling on a 4k+1 wide input keeps the mirror axis on a sample.
        return torch.nn.functional.softplus(self.conv(x))


def test_flip_test_of_a_symmetric_input_is_symmetric():
    torch.manual_seed(0)
    model = MirrorEquivariantHeatmaps().eval()
    half = torch.randn(2, 3, 33, 45)
    x = half + half.flip(3)  # a left/right symmetric input
    with torch.no_grad():
        plain = model(x)
        averaged = codec.flip_test(model, x, shift=False)
        shifted = codec.flip_test(model, x)
    torch.testing.assert_close(averaged, plain)  # an equivariant model gains nothing from flipping
    # Symmetric: each left map is the mirror image of its right partner.
    torch.testing.assert_close(codec.flip_back(averaged, shift=False), averaged)
    coords, _ = codec.decode_heatmaps(averaged.numpy(), "dark")
    width = averaged.shape[3]
    for left, right in FLIP_PAIRS:
        np.testing.assert_allclose(coords[:, left, 0] + coords[:, right, 0], width - 1, atol=1e-6)
        np.testing.assert_allclose(coords[:, left, 1], coords[:, right, 1], atol=1e-6)
    # With HRNet's shift the symmetry holds about an axis half a cell to the right.
    mirrored = codec.flip_back(shifted, shift=True)
    torch.testing.assert_close(mirrored[..., 2:-1], shifted[..., 2:-1])


# --- input normalisation -----------------------------------------------------------------------------


def test_normalize_crops_converts_bgr_to_normalised_rgb():
    crops = np.zeros((2, 4, 3, 3), dtype=np.uint8)
    crops[..., 0] = 255  # pure blue in OpenCV's BGR
    x = codec.normalize_crops(crops)
    assert x.shape == (2, 3, 4, 3) and x.dtype == torch.float32
    expected = (np.array([0.0, 0.0, 1.0]) - codec.PIXEL_MEAN) / codec.PIXEL_STD  # RGB
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), expected, rtol=1e-6)
    torch.testing.assert_close(codec.normalize_tensor(torch.from_numpy(crops[0])), x[:1])
