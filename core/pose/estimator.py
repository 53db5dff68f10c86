"""PoseEstimator: frames plus person boxes in, 17 keypoints per box (image pixels) out.

Every crop of every frame handed to one call goes through the model together, in batches of
`batch_size`; on CUDA each is padded to a batch-size bucket (core.runtime.buckets: 1, 2, 4, 8, 16, 32)
so the backend only ever sees a few shapes, all warmed up when the estimator starts. Crops are cut with the
codec's affine maps: on the CPU by cv2.warpAffine per crop (measured 2.2 ms per 192×256 crop with
normalisation, against 6.8 ms for core.pose.gpu_crops' batched grid_sample on the same 2-core CPU),
on CUDA by core.pose.gpu_crops in one grid_sample per frame.
Heatmaps are decoded by the codec (argmax or DARK) and mapped back to the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.boxes import validate_boxes
from core.errors import UserError
from core.pose import codec
from core.pose.gpu_crops import FrameUploader, crop_batch
from core.records import Pose
from core.runtime import Backend, batch_buckets, create_backend, run_bucketed, warm_up


class PoseEstimator:
    """Top-down pose estimation with one backend; see the module docstring."""

    def __init__(
        self,
        model,
        backend: str = "auto",
        device: str = "auto",
        precision: str = "auto",
        flip: bool = False,
        decode: str = "argmax",
        batch_size: int = 32,
        trained: bool = True,
        cache_dir: str | None = None,
        pad_batches: bool | None = None,
        warmup: bool | None = None,
    ):
        """`pad_batches`: pad each batch to its bucket (off: every crop count is its own shape);
        `warmup`: run every bucket once now, so the first frames are not the slow ones. Both default
        to on for CUDA and off on the CPU, where `python -m core.bench.buckets` measured padding as
        1.3-1.5× the compute against ~0.3 s once per new batch size (docs/buckets.md)."""
        if decode not in codec.DECODE_METHODS:
            raise UserError(f"decode must be one of {', '.join(codec.DECODE_METHODS)}, got {decode!r}")
        if int(batch_size) < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        self.config = model.config
        self.input_size = tuple(model.config.input_size)
        self.flip = bool(flip)
        self.decode = decode
        self.batch_size = int(batch_size)
        self.trained = bool(trained)
        # The flip test runs a crop and its mirror image in one batch.
        self.backend: Backend = create_backend(
            model,
            backend,
            device,
            precision,
            max_batch=self.batch_size * (2 if self.flip else 1),
            cache_dir=cache_dir,
        )
        self.device = self.backend.device
        on_gpu = self.device.type == "cuda"
        self.buckets = (
            batch_buckets(self.batch_size) if (on_gpu if pad_batches is None else pad_batches) else ()
        )
        self._uploader = FrameUploader(self.device) if on_gpu else None
        if on_gpu if warmup is None else warmup:
            warm_up(self._run_model, self.input_size, self.buckets or (self.batch_size,), self.device)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def precision(self) -> str:
        return self.backend.precision

    def __call__(self, frame_bgr: np.ndarray, boxes, scores=None) -> list[Pose]:
        return self.estimate_batch([frame_bgr], [boxes], None if scores is None else [scores])[0]

    def estimate_batch(
        self,
        frames: Sequence[np.ndarray],
        boxes: Sequence,
        scores: Sequence | None = None,
    ) -> list[list[Pose]]:
        """Poses for each frame's boxes; all crops of all frames share the model's batches."""
        if len(frames) != len(boxes) or (scores is not None and len(scores) != len(frames)):
            raise UserError("estimate_batch needs one box array (and one score array) per frame")
        box_arrays = [validate_boxes(b, positive_area=False) for b in boxes]  # a zero-size box still crops
        score_arrays = [
            _check_scores(None if scores is None else scores[i], len(b)) for i, b in enumerate(box_arrays)
        ]
        for frame in frames:
            _check_frame(frame)
        if sum(len(b) for b in box_arrays) == 0:
            return [[] for _ in frames]

        crops, centers, scales = self._crops(frames, box_arrays)
        heatmaps = self.heatmaps(crops)
        keypoints = codec.heatmaps_to_keypoints(heatmaps, centers, scales, self.decode)

        results, start = [], 0
        for frame_boxes, frame_scores in zip(box_arrays, score_arrays, strict=True):
            poses = [
                Pose(box=frame_boxes[i].copy(), score=float(frame_scores[i]), keypoints=keypoints[start + i])
                for i in range(len(frame_boxes))
            ]
            results.append(poses)
            start += len(frame_boxes)
        return results

    def heatmaps(self, crops: torch.Tensor) -> np.ndarray:
        """N×J×h×w float32 heatmaps of normalised crops, in batches, with the flip test if enabled."""
        outputs = []
        for part in crops.split(self.batch_size):
            heat = (
                run_bucketed(self._run_model, part, self.buckets) if self.buckets else self._run_model(part)
            )
            outputs.append(heat.float().cpu())
        return torch.cat(outputs).numpy()

    def _run_model(self, crops: torch.Tensor) -> torch.Tensor:
        """Heatmaps of one batch: the backend, or the flip test's crop-and-mirror batch of twice the size."""
        return codec.flip_test(self.backend, crops) if self.flip else self.backend(crops)

    def _crops(self, frames, boxes) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        if self._uploader is not None:
            return crop_batch(frames, boxes, self.input_size, self.device, self._uploader)
        parts, centers, scales = [], [], []
        for frame, frame_boxes in zip(frames, boxes, strict=True):
            if len(frame_boxes):
                image = frame.cpu().numpy() if isinstance(frame, torch.Tensor) else frame
                crops, c, s = codec.crop_boxes(image, frame_boxes, self.input_size)
                parts.append(crops)
                centers.append(c)
                scales.append(s)
        return codec.normalize_crops(np.concatenate(parts)), np.concatenate(centers), np.concatenate(scales)


def _check_scores(scores, count: int) -> np.ndarray:
    if scores is None:
        return np.ones(count)
    try:
        array = np.asarray(scores, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError("box scores must be numbers") from None
    if len(array) != count:
        raise UserError(f"{count} boxes but {len(array)} scores")
    if not np.isfinite(array).all():
        raise UserError("box scores contain NaN or infinite values")
    return array


def _check_frame(frame) -> None:
    if isinstance(frame, torch.Tensor):
        shape, dtype_ok = tuple(frame.shape), frame.dtype == torch.uint8
    else:
        if not isinstance(frame, np.ndarray):
            raise UserError(f"a frame must be a BGR image array, got {type(frame).__name__}")
        shape, dtype_ok = frame.shape, frame.dtype == np.uint8
    if len(shape) != 3 or shape[2] != 3 or not dtype_ok:
        raise UserError(f"a frame must be an H×W×3 uint8 BGR image, got shape {shape}")
