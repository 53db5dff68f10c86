"""Person crops cut and normalised on the accelerator: one grid_sample per frame, no per-crop warps.

The CPU path (codec.crop_boxes + codec.normalize_crops) warps each crop with cv2.warpAffine. On CUDA
that would leave the GPU waiting for the CPU, so here the frame goes to the GPU once (through a
reused pinned buffer, asynchronously) and every crop of that frame is sampled in a single
`grid_sample` call: the crops' sampling grids are stacked into one tall grid. The grids come from
the codec's own crop matrices, so a crop here is the codec's crop: same centre, scale and
half-pixel convention as cv2.warpAffine (pixel centres at integer coordinates, black outside),
bilinear, then BGR -> RGB and (x/255 - mean) / std. Works on CPU tensors too, which is how it is
tested against the codec.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.pose import codec
from core.runtime import device_scope


class FrameUploader:
    """uint8 H×W×3 frames -> tensors on `device`, via reused pinned buffers and non-blocking copies.

    A pinned (page-locked) buffer lets the copy run asynchronously; allocating one is slow, so each
    frame shape keeps a small pool. A buffer is rewritten only after the CUDA event recorded behind
    its last copy has completed, so an in-flight copy never reads a half-written frame.
    """

    def __init__(self, device: torch.device | str, pool_size: int = 16):
        self.device = torch.device(device)
        self.pool_size = pool_size
        # Per frame shape: [pinned buffer, event recorded after its last copy (None: never used)].
        self._pools: dict[tuple[int, ...], list[list]] = {}

    def __call__(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(frame, torch.Tensor):
            return frame.to(self.device, non_blocking=True)
        frame = np.ascontiguousarray(frame)
        if self.device.type != "cuda":
            return torch.from_numpy(frame)
        slot = self._free_slot(frame.shape, frame.dtype)
        slot[0].numpy()[...] = frame
        on_device = slot[0].to(self.device, non_blocking=True)
        slot[1] = torch.cuda.Event()
        slot[1].record(torch.cuda.current_stream(self.device))
        return on_device

    def _free_slot(self, shape: tuple[int, ...], dtype: np.dtype) -> list:
        pool = self._pools.setdefault(shape, [])
        for slot in pool:
            if slot[1] is None or slot[1].query():
                return slot
        if len(pool) >= self.pool_size:  # every buffer still copying: wait for one
            slot = pool.pop(0)
            slot[1].synchronize()
            pool.append(slot)
            return slot
        slot = [torch.from_numpy(np.empty(shape, dtype=dtype)).pin_memory(), None]
        pool.append(slot)
        return slot


def sampling_grid(
    inverse_matrices: torch.Tensor, frame_size: tuple[int, int], output_size: tuple[int, int]
) -> torch.Tensor:
    """grid_sample grids (K, h, w, 2) for K crop -> image affines (K, 2, 3), align_corners=True units.

    Output pixel (x, y) reads image point A · (x, y, 1), as cv2.warpAffine with the inverse map does;
    with align_corners=True, -1 and +1 are the centres of the first and last image pixels. The
    product is written out as multiply-adds, not einsum/matmul: a matmul may run in TF32 (10-bit
    mantissa) wherever `torch.backends.cuda.matmul.allow_tf32` is set, which moves a point of a
    1000-pixel frame by up to half a pixel; elementwise float32 arithmetic never does that.
    """
    width, height = frame_size
    w, h = output_size
    dtype, device = inverse_matrices.dtype, inverse_matrices.device
    xs = torch.arange(w, dtype=dtype, device=device).view(1, 1, w)
    ys = torch.arange(h, dtype=dtype, device=device).view(1, h, 1)
    a = inverse_matrices.view(-1, 2, 3, 1, 1)  # a[:, row, column] broadcasts over h×w
    image_x = a[:, 0, 0] * xs + a[:, 0, 1] * ys + a[:, 0, 2]  # K×h×w image pixels
    image_y = a[:, 1, 0] * xs + a[:, 1, 1] * ys + a[:, 1, 2]
    grid_x = image_x * (2.0 / max(width - 1, 1)) - 1.0
    grid_y = image_y * (2.0 / max(height - 1, 1)) - 1.0
    return torch.stack([grid_x, grid_y], dim=-1)


def crop_frame(
    frame: torch.Tensor, centers: np.ndarray, scales: np.ndarray, input_size: tuple[int, int]
) -> torch.Tensor:
    """Float BGR crops K×3×h×w (0–255) of one uint8 H×W×3 frame tensor, all in one grid_sample."""
    k = len(centers)
    w, h = int(input_size[0]), int(input_size[1])
    if k == 0:
        return torch.empty(0, 3, h, w, device=frame.device)
    inverse = codec.crop_matrices(centers, scales, input_size, inverse=True)
    inverse = torch.as_tensor(inverse, dtype=torch.float32).to(frame.device, non_blocking=True)
    grid = sampling_grid(inverse, (frame.shape[1], frame.shape[0]), input_size)
    image = frame.permute(2, 0, 1).unsqueeze(0).float()  # 1×3×H×W
    tall = F.grid_sample(
        image, grid.reshape(1, k * h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return tall.reshape(3, k, h, w).transpose(0, 1)


def crop_batch(
    frames: list[np.ndarray | torch.Tensor],
    boxes: list[np.ndarray],
    input_size: tuple[int, int],
    device: torch.device | str = "cpu",
    uploader: FrameUploader | None = None,
    padding: float = 1.25,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Model input for every box of every frame: (N×3×h×w float32 on `device`, centres N×2, scales N×2).

    Crops are ordered frame by frame, box by box; centres and scales are the codec's
    (box_to_center_scale with the input's aspect ratio), for mapping keypoints back.
    """
    device = torch.device(device)
    uploader = uploader or FrameUploader(device)
    aspect = input_size[0] / input_size[1]
    parts, all_centers, all_scales = [], [], []
    with device_scope(device):  # pinned buffers, events and kernels belong to `device`, not cuda:0
        for frame, frame_boxes in zip(frames, boxes, strict=True):
            frame_boxes = np.asarray(frame_boxes, dtype=np.float64).reshape(-1, 4)
            if len(frame_boxes) == 0:
                continue
            centers, scales = codec.box_to_center_scale(frame_boxes, aspect, padding)
            parts.append(crop_frame(uploader(frame), centers, scales, input_size))
            all_centers.append(centers)
            all_scales.append(scales)
        if not parts:
            w, h = input_size
            return torch.empty(0, 3, h, w, device=device), np.zeros((0, 2)), np.zeros((0, 2))
        crops = codec.normalize_bgr(torch.cat(parts))
    return crops, np.concatenate(all_centers), np.concatenate(all_scales)
