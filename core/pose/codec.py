"""The heatmap codec: box → crop affine maps, Gaussian targets, heatmap decoding and the flip test.

One module for inference and training alike, so the two can never disagree about a half pixel.
Every convention is the official HRNet's (leoxiaobin/deep-high-resolution-net.pytorch,
lib/utils/transforms.py and lib/core/inference.py), so its published weights decode correctly:

- A crop is a similarity transform that maps the box centre to (w/2, h/2) of the output and the
  crop's *width* (``scale[0]``) onto the output width; the height follows from the output aspect.
- A heatmap coordinate u is a crop-input coordinate divided by the stride (input/heatmap = 4); a
  heatmap coordinate goes back to the image through the inverse affine built for the heatmap size,
  which is the same map as the input-size inverse applied to u * stride.
- ``scale`` is in image pixels (HRNet's ``scale * 200``); rotation is in degrees with HRNet's sign.

Arrays are numpy float64 unless said otherwise; heatmaps and model inputs are float32.
"""

from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np
import torch

from core.keypoints import flip_permutation

# ImageNet statistics on the 0–1 scale, RGB order: what HRNet's torchvision Normalize uses.
PIXEL_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
PIXEL_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

DEFAULT_SIGMA = 2.0
# DARK's blur kernel for σ = 2 (its configs use 11 at 256×192 and 17 for σ = 3 at 384×288).
DARK_BLUR_KERNEL = 11
DECODE_METHODS = ("argmax", "dark")


# ---------------------------------------------------------------------------------------------------
# Boxes and affine maps
# ---------------------------------------------------------------------------------------------------


def box_to_center_scale(
    box_xyxy: np.ndarray, aspect_ratio: float = 0.75, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Centre and crop size (w, h) in image pixels of a box, or of each box in an (N, 4) array.

    Like HRNet's ``_xywh2cs``: the short side is enlarged until w / h = aspect_ratio (the crop keeps
    the whole box and never squashes the person), then both sides grow by ``padding`` for context.
    Degenerate boxes are treated as at least one pixel wide so the affine map stays invertible.
    """
    box = np.asarray(box_xyxy, dtype=np.float64)
    if box.shape[-1] != 4:
        raise ValueError(f"boxes must be (..., 4) x1, y1, x2, y2; got shape {box.shape}")
    x1, y1, x2, y2 = np.moveaxis(box, -1, 0)
    w = np.maximum(x2 - x1, 1.0)
    h = np.maximum(y2 - y1, 1.0)
    center = np.stack([(x1 + x2) * 0.5, (y1 + y2) * 0.5], axis=-1)
    too_wide = w > aspect_ratio * h
    crop_w = np.where(too_wide, w, h * aspect_ratio)
    crop_h = np.where(too_wide, w / aspect_ratio, h)
    return center, np.stack([crop_w, crop_h], axis=-1) * padding


def crop_matrices(
    centers: np.ndarray,
    scales: np.ndarray,
    output_size: tuple[int, int],
    rotation: float | np.ndarray = 0.0,
    inverse: bool = False,
) -> np.ndarray:
    """Batched :func:`crop_matrix`: (N, 2) centres and scales, scalar or (N,) rotations -> (N, 2, 3).

    Closed form of HRNet's ``get_affine_transform`` (which solves the same map from three points):
    crop = s · R(-rotation) · (image - centre) + (w/2, h/2), with s = output width / scale width and
    R the usual counter-clockwise rotation matrix in image coordinates. Computed in float64, so the
    inverse is exact to rounding (HRNet's float32 three-point solve is not).
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    n = len(centers)
    angle = np.broadcast_to(np.deg2rad(np.asarray(rotation, dtype=np.float64)), (n,))
    cos, sin = np.cos(angle), np.sin(angle)
    s = float(output_size[0]) / scales[:, 0]
    half = np.array([output_size[0] * 0.5, output_size[1] * 0.5])
    if inverse:  # crop -> image: centre + R(rotation) · (crop - half) / s
        a = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=-2) / s[:, None, None]
        t = centers - np.einsum("nij,j->ni", a, half)
    else:  # image -> crop
        a = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], axis=-2) * s[:, None, None]
        t = half - np.einsum("nij,nj->ni", a, centers)
    return np.concatenate([a, t[:, :, None]], axis=2)


def crop_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    output_size: tuple[int, int],
    rotation: float = 0.0,
    inverse: bool = False,
) -> np.ndarray:
    """2×3 affine image → crop (or crop → image with ``inverse=True``), HRNet's convention."""
    return crop_matrices(np.asarray(center)[None], np.asarray(scale)[None], output_size, rotation, inverse)[0]


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine to (..., 2) points, or (N, 2, 3) affines to (N, ..., 2) points one each."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim == 2:
        return points @ matrix[:, :2].T + matrix[:, 2]
    n = matrix.shape[0]
    flat = points.reshape(n, -1, 2)
    out = np.matmul(flat, np.swapaxes(matrix[:, :, :2], 1, 2)) + matrix[:, None, :, 2]
    return out.reshape(points.shape)


def crop_affine(
    image: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    output_size: tuple[int, int],
    rotation: float = 0.0,
) -> np.ndarray:
    """The crop of ``image`` (any channels) at ``output_size`` (w, h): bilinear, black outside."""
    matrix = crop_matrix(center, scale, output_size, rotation)
    return cv2.warpAffine(image, matrix, (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR)


def crop_boxes(
    image: np.ndarray, boxes: np.ndarray, input_size: tuple[int, int], padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops for (N, 4) boxes at the model input size: (crops N×h×w×C, centres (N, 2), scales (N, 2)).

    The aspect ratio is the input's own (w / h), so a crop is never stretched.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centers, scales = box_to_center_scale(boxes, input_size[0] / input_size[1], padding)
    w, h = int(input_size[0]), int(input_size[1])
    channels = image.shape[2:] if image.ndim == 3 else ()
    crops = np.empty((len(boxes), h, w, *channels), dtype=image.dtype)
    for i, matrix in enumerate(crop_matrices(centers, scales, input_size)):
        cv2.warpAffine(image, matrix, (w, h), dst=crops[i], flags=cv2.INTER_LINEAR)
    return crops, centers, scales


# ---------------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------------


def encode_heatmaps(
    keypoints: np.ndarray,
    visible: np.ndarray,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    sigma: float = DEFAULT_SIGMA,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian target heatmaps (J, h, w) float32 and target weights (J,) float32.

    ``keypoints`` are (J, 2) in crop-input pixels (extra leading axes are allowed); heatmap
    coordinate u = x / stride as in HRNet. Each Gaussian peaks at 1, is truncated at 3σ and is
    centred at the *sub-pixel* position. The official code rounds the centre to the nearest heatmap
    cell, which moves every target by up to half a cell (2 input pixels at stride 4): the network
    then learns quantised, biased targets and no decoder can recover the lost fraction. Sub-pixel
    centres are DARK's "unbiased encoding"; at inference a Gaussian's peak still lands on the
    nearest cell, so argmax decoding behaves as before.

    A joint weighs 0 when it is not visible or when its Gaussian lies wholly outside the grid,
    HRNet's rule: with the rounded centre c and r = 3σ, the square [c - r, c + r + 1) must overlap
    the grid. Joints just outside the crop whose Gaussian tail reaches in keep weight 1, as in HRNet.
    A joint of weight 0 gets an all-zero map.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape[-1] != 2:
        raise ValueError(f"keypoints must be (J, 2); got shape {keypoints.shape}")
    visible = np.asarray(visible)
    if visible.ndim == keypoints.ndim:  # (J, 1) or (J, 3) visibility columns, as HRNet's loaders keep them
        visible = visible[..., 0]
    visible = np.broadcast_to(visible, keypoints.shape[:-1])
    width, height = int(heatmap_size[0]), int(heatmap_size[1])
    stride = np.array([input_size[0] / width, input_size[1] / height])
    mu = keypoints / stride
    finite = np.isfinite(mu).all(axis=-1)
    mu = np.where(finite[..., None], mu, -1e6)  # far outside: weight 0 below

    radius = 3.0 * sigma
    rounded = np.trunc(mu + 0.5)  # HRNet's int(x / stride + 0.5)
    upper_left = np.trunc(rounded - radius)
    bottom_right = np.trunc(rounded + radius + 1)
    on_grid = (
        (upper_left[..., 0] < width)
        & (upper_left[..., 1] < height)
        & (bottom_right[..., 0] >= 0)
        & (bottom_right[..., 1] >= 0)
    )
    weight = (visible > 0) & finite & on_grid

    # Separable Gaussian: exp(-(dx² + dy²) / 2σ²) = gx · gy, evaluated on whole rows and columns.
    dx = np.arange(width) - mu[..., 0:1]
    dy = np.arange(height) - mu[..., 1:2]
    gx = np.where(np.abs(dx) <= radius, np.exp(-(dx**2) / (2 * sigma**2)), 0.0)
    gy = np.where(np.abs(dy) <= radius, np.exp(-(dy**2) / (2 * sigma**2)), 0.0)
    heatmaps = (gy[..., :, None] * gx[..., None, :]) * weight[..., None, None]
    return heatmaps.astype(np.float32), weight.astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------


def _as_numpy(heatmaps) -> np.ndarray:
    if isinstance(heatmaps, torch.Tensor):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be N×J×h×w; got shape {heatmaps.shape}")
    return heatmaps


def decode_heatmaps(
    heatmaps: np.ndarray, method: str = "argmax", blur_kernel: int = DARK_BLUR_KERNEL
) -> tuple[np.ndarray, np.ndarray]:
    """(coords N×J×2 on the heatmap grid, scores N×J = heatmap maxima) from N×J×h×w heatmaps.

    "argmax" is HRNet's ``get_max_preds`` plus its quarter-pixel shift toward the higher
    neighbour, wherever both neighbours exist. (The official test is ``1 < x < w - 1``, which also
    skips column 1 but not its mirror image w - 2; we shift there too, so decoding commutes with
    mirroring. Only maxima in the second row or column can differ from the official code.)
    "dark" refines the same integer maximum with DARK's Taylor step (see :func:`_dark_offsets`);
    where that step cannot be taken (next to the border), it falls back to the quarter shift
    rather than DARK's bare integer cell.
    As in HRNet, a joint whose maximum is not positive is put at (0, 0).
    Accepts a torch tensor too (copied to the CPU).
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"decode method must be one of {', '.join(DECODE_METHODS)}; got {method!r}")
    heatmaps = _as_numpy(heatmaps)
    n, j, height, width = heatmaps.shape
    flat = heatmaps.reshape(n, j, height * width)
    index = flat.argmax(axis=2)
    scores = np.take_along_axis(flat, index[..., None], axis=2)[..., 0]
    px, py = index % width, index // width
    coords = np.stack([px, py], axis=-1).astype(np.float64)

    inner = (px > 0) & (px < width - 1) & (py > 0) & (py < height - 1)
    last = height * width - 1

    def at(offset: int) -> np.ndarray:
        return np.take_along_axis(flat, np.clip(index + offset, 0, last)[..., None], axis=2)[..., 0]

    diff = np.stack([at(1) - at(-1), at(width) - at(-width)], axis=-1).astype(np.float64)
    quarter = np.where(inner[..., None], np.sign(diff) * 0.25, 0.0)
    if method == "argmax":
        coords += quarter
    else:
        offsets, refined = _dark_offsets(heatmaps, px, py, blur_kernel)
        coords += np.where(refined[..., None], offsets, quarter)

    coords[scores <= 0] = 0.0
    return coords, scores.astype(np.float32)


def _dark_offsets(
    heatmaps: np.ndarray, px: np.ndarray, py: np.ndarray, kernel: int
) -> tuple[np.ndarray, np.ndarray]:
    """DARK's sub-pixel offsets (Zhang et al., CVPR 2020) at the integer maxima (px, py).

    Returns (offsets N×J×2, refined N×J bool).

    The heatmap is blurred with OpenCV's Gaussian of size ``kernel`` (σ = 2 for 11, zero outside
    the map) so that a network's noisy peak becomes Gaussian-shaped again; its log is then locally
    quadratic and one Newton step, -H⁻¹·∇ with DARK's finite differences, lands on the peak.
    Only the 5×5 blurred neighbourhood that the differences read is computed, from a window of the
    original map, instead of blurring every map: the result is the same. DARK also rescales the
    blurred map to the original maximum; in log space that is a constant and leaves the offsets
    unchanged, so it is skipped. Where the neighbourhood leaves the map (DARK's ``1 < x < w - 2``)
    or the log-map is not a maximum there (Hessian not negative definite), ``refined`` is False;
    offsets are clipped to one cell, because the peak of a blurred map never lies further from its
    argmax.
    """
    n, j, height, width = heatmaps.shape
    reach = kernel // 2 + 2  # the differences read blurred values up to two cells away
    steps = np.arange(-reach, reach + 1)
    rows = py[..., None] + steps  # N×J×size
    cols = px[..., None] + steps
    inside = ((rows >= 0) & (rows < height))[..., :, None] & ((cols >= 0) & (cols < width))[..., None, :]
    row_start = np.clip(rows, 0, height - 1)[..., :, None] * width
    flat_index = row_start + np.clip(cols, 0, width - 1)[..., None, :]
    flat = heatmaps.reshape(n, j, height * width)
    window = np.take_along_axis(flat, flat_index.reshape(n, j, -1), axis=2).reshape(flat_index.shape)
    window = np.where(inside, window, 0.0)  # zero outside the map, as DARK's padded blur; N×J×size×size

    g = cv2.getGaussianKernel(kernel, 0).ravel()
    blurred = np.lib.stride_tricks.sliding_window_view(window, kernel, axis=3) @ g  # N×J×size×5
    blurred = np.lib.stride_tricks.sliding_window_view(blurred, kernel, axis=2) @ g  # N×J×5×5
    logmap = np.log(np.maximum(blurred, 1e-10))  # N×J×5×5, [row, col], centre at [2, 2]

    c = logmap[..., 2, 2]
    dx = 0.5 * (logmap[..., 2, 3] - logmap[..., 2, 1])
    dy = 0.5 * (logmap[..., 3, 2] - logmap[..., 1, 2])
    dxx = 0.25 * (logmap[..., 2, 4] - 2 * c + logmap[..., 2, 0])
    dyy = 0.25 * (logmap[..., 4, 2] - 2 * c + logmap[..., 0, 2])
    dxy = 0.25 * (logmap[..., 3, 3] - logmap[..., 1, 3] - logmap[..., 3, 1] + logmap[..., 1, 1])
    det = dxx * dyy - dxy**2
    usable = (det > 0) & (dxx < 0) & (px > 1) & (px < width - 2) & (py > 1) & (py < height - 2)
    safe_det = np.where(usable, det, 1.0)
    offset_x = -(dyy * dx - dxy * dy) / safe_det
    offset_y = -(dxx * dy - dxy * dx) / safe_det
    offsets = np.stack([offset_x, offset_y], axis=-1)
    return np.where(usable[..., None], np.clip(offsets, -1.0, 1.0), 0.0), usable


def heatmap_to_image(
    coords: np.ndarray,
    centers: np.ndarray,
    scales: np.ndarray,
    heatmap_size: tuple[int, int],
    rotation: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Heatmap-grid coordinates (N, J, 2) back to image pixels: HRNet's ``transform_preds``."""
    coords = np.asarray(coords, dtype=np.float64)
    matrices = crop_matrices(centers, scales, heatmap_size, rotation, inverse=True)
    return transform_points(coords, matrices)


def heatmaps_to_keypoints(
    heatmaps: np.ndarray,
    centers: np.ndarray,
    scales: np.ndarray,
    method: str = "argmax",
    rotation: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Decode and map back in one call: N×J×3 keypoints (x, y, score) in image pixels."""
    heatmaps = _as_numpy(heatmaps)
    coords, scores = decode_heatmaps(heatmaps, method)
    size = (heatmaps.shape[3], heatmaps.shape[2])
    xy = heatmap_to_image(coords, centers, scales, size, rotation)
    return np.concatenate([xy, scores[..., None].astype(np.float64)], axis=-1)


# ---------------------------------------------------------------------------------------------------
# Flip test and input normalisation (torch)
# ---------------------------------------------------------------------------------------------------


def flip_back(heatmaps: torch.Tensor, shift: bool = True) -> torch.Tensor:
    """Heatmaps of a mirrored input brought back to the original frame (a new tensor).

    Mirror along W, swap left/right channels, then HRNet's one-pixel shift to the right
    (``out[..., 1:] = out[..., :-1]``; column 0 keeps its value): the network's features are not
    centred on pixel centres, so a mirrored prediction lands about one cell to the left.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be N×J×h×w; got shape {tuple(heatmaps.shape)}")
    order = torch.as_tensor(flip_permutation(heatmaps.shape[1]), device=heatmaps.device)
    out = heatmaps.flip(3).index_select(1, order)
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=3)
    return out


def flip_test(
    run_model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, shift: bool = True
) -> torch.Tensor:
    """Average of the plain and the mirrored pass: (model(x) + flip_back(model(x mirrored))) / 2.

    Both passes go through ``run_model`` as one batch of 2N, which keeps an accelerator busy.
    """
    n = x.shape[0]
    both = run_model(torch.cat([x, x.flip(3)], dim=0))
    return (both[:n] + flip_back(both[n:], shift=shift)) * 0.5


def normalize_tensor(crops: torch.Tensor) -> torch.Tensor:
    """uint8 N×H×W×3 BGR (any device) -> float32 N×3×H×W RGB, (x/255 - mean) / std."""
    if crops.ndim == 3:
        crops = crops[None]
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"crops must be N×H×W×3; got shape {tuple(crops.shape)}")
    return normalize_bgr(crops.permute(0, 3, 1, 2)).contiguous()


def normalize_bgr(crops_bgr: torch.Tensor) -> torch.Tensor:
    """BGR N×3×H×W on the 0–255 scale (any dtype and device) -> float32 RGB, (x/255 - mean) / std."""
    gain, offset = _normalisation(crops_bgr.device)
    return crops_bgr.flip(1).float() * gain - offset


@lru_cache(maxsize=8)
def _normalisation(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x/255 - mean) / std = x · gain - offset, kept on each device so no call copies constants."""
    gain = torch.as_tensor(1.0 / (255.0 * PIXEL_STD), device=device).view(1, 3, 1, 1)
    offset = torch.as_tensor(PIXEL_MEAN / PIXEL_STD, device=device).view(1, 3, 1, 1)
    return gain, offset


def normalize_crops(crops: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×3 BGR numpy crops -> float32 torch N×3×H×W RGB normalised (CPU)."""
    return normalize_tensor(torch.from_numpy(np.ascontiguousarray(crops)))
