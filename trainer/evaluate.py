"""COCO keypoint evaluation the way HRNet reports it: predict, rescore, OKS-NMS, pycocotools AP.

predict() runs the model over person crops (optionally with the flip test) and maps the decoded
heatmap maxima back to the image with `core.pose.codec`; predictions_to_results() applies HRNet's
rescoring (box score × mean confidence of joints above `in_vis_threshold`) and OKS-NMS per image;
write_results() saves the COCO results JSON atomically and coco_metrics() scores that file with
COCOeval. The metric names follow the paper's Table II: AP, AP50, AP75, APM, APL, AR.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from core.atomic import atomic_path
from core.keypoints import OKS_SIGMAS
from core.pose import codec
from trainer.dataset import CocoKeypoints, PersonSample, collate
from trainer.distributed import DistContext, gather_objects

METRIC_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
TABLE_COLUMNS = ("AP", "AP50", "AP75", "APM", "APL", "AR")  # the paper's Table II
# pycocotools' keypoint summary lines, in its order: (kind, IoU, area) for each of METRIC_NAMES.
SUMMARY_LINES = (
    ("Average Precision  (AP)", "0.50:0.95", "all"),
    ("Average Precision  (AP)", "0.50", "all"),
    ("Average Precision  (AP)", "0.75", "all"),
    ("Average Precision  (AP)", "0.50:0.95", "medium"),
    ("Average Precision  (AP)", "0.50:0.95", "large"),
    ("Average Recall     (AR)", "0.50:0.95", "all"),
    ("Average Recall     (AR)", "0.50", "all"),
    ("Average Recall     (AR)", "0.75", "all"),
    ("Average Recall     (AR)", "0.50:0.95", "medium"),
    ("Average Recall     (AR)", "0.50:0.95", "large"),
)


@dataclass
class Predictions:
    """Per sample: keypoints (x, y, heatmap maximum) in image pixels, and which samples they are."""

    indices: np.ndarray  # (N,) sample indices
    keypoints: np.ndarray  # (N, J, 3)
    skipped: int = 0  # samples whose image could not be read

    @staticmethod
    def merge(parts: Sequence[Predictions]) -> Predictions:
        """Join per-rank predictions in sample order."""
        indices = np.concatenate([p.indices for p in parts])
        keypoints = np.concatenate([p.keypoints for p in parts])
        order = np.argsort(indices, kind="stable")
        return Predictions(indices[order], keypoints[order], sum(p.skipped for p in parts))


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    dataset: CocoKeypoints,
    device: torch.device | str = "cpu",
    flip: bool = True,
    batch_size: int = 64,
    workers: int = 0,
    decode: str = "argmax",
    indices: Sequence[int] | None = None,
    amp: bool = False,
    progress: bool = False,
    loader: DataLoader | None = None,
) -> Predictions:
    """Image-space keypoints for `indices` of the dataset (all of it by default); a `loader` from
    prediction_loader() replaces indices, batch_size and workers (training reuses one across epochs)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    if loader is None:
        loader = prediction_loader(dataset, indices, batch_size, workers, device)
    channels_last = next(model.parameters()).is_contiguous(memory_format=torch.channels_last) and (
        device.type == "cuda"
    )
    heatmap_size = (dataset.heatmap_size[0], dataset.heatmap_size[1])
    all_indices, all_keypoints, skipped = [], [], 0
    for batch in tqdm(loader, desc="eval", disable=not progress, leave=False, dynamic_ncols=True):
        skipped += batch["skipped"]
        if "image" not in batch:
            continue
        images = batch["image"].to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
            heatmaps = codec.flip_test(model, images) if flip else model(images)
        heatmaps = heatmaps.float().cpu().numpy()
        index = batch["index"].numpy()
        centers = np.stack([dataset.samples[i].center for i in index])
        scales = np.stack([dataset.samples[i].scale for i in index])
        coords, scores = codec.decode_heatmaps(heatmaps, method=decode)
        xy = codec.heatmap_to_image(coords, centers, scales, heatmap_size)
        all_keypoints.append(np.concatenate([xy, scores[..., None].astype(np.float64)], axis=-1))
        all_indices.append(index)
    model.train(was_training)
    joints = dataset.samples[0].keypoints.shape[0] if dataset.samples else 17
    if not all_indices:
        return Predictions(np.zeros(0, dtype=np.int64), np.zeros((0, joints, 3)), skipped)
    return Predictions(np.concatenate(all_indices), np.concatenate(all_keypoints), skipped)


def prediction_loader(
    dataset: CocoKeypoints,
    indices: Sequence[int] | None,
    batch_size: int,
    workers: int,
    device: torch.device,
    persistent: bool = False,
) -> DataLoader:
    """The crops predict() runs over, in order; `persistent` keeps its workers between passes."""
    subset = dataset if indices is None else Subset(dataset, list(indices))
    return DataLoader(
        subset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        persistent_workers=persistent and workers > 0,
    )


def shard_indices(dataset: CocoKeypoints, context: DistContext) -> range:
    """This rank's share of the crops: every world_size-th one."""
    return range(context.rank, len(dataset), context.world_size)


def predict_sharded(
    model: torch.nn.Module, dataset: CocoKeypoints, context: DistContext, **options: Any
) -> Predictions | None:
    """Each rank predicts every world_size-th crop (`options` as for predict; a `loader` must hold
    shard_indices()); the union, in sample order, on rank 0 and None on the other ranks."""
    indices = None if "loader" in options else shard_indices(dataset, context)
    part = predict(model, dataset, context.device, indices=indices, **options)
    parts = gather_objects(part, context)
    return Predictions.merge(parts) if context.is_main else None


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    threshold: float = 0.9,
    sigmas: np.ndarray = OKS_SIGMAS,
) -> list[int]:
    """Indices kept by greedy NMS on object keypoint similarity (HRNet's `oks_nms`), best first."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    variances = (np.asarray(sigmas) * 2) ** 2
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        d2 = ((keypoints[rest, :, :2] - keypoints[best, :, :2]) ** 2).sum(axis=-1)
        scale = (areas[best] + areas[rest])[:, None] / 2 + np.spacing(1)
        oks = np.exp(-d2 / variances / scale / 2).mean(axis=1)
        order = rest[oks <= threshold]
    return keep


def predictions_to_results(
    samples: Sequence[PersonSample],
    predictions: Predictions,
    in_vis_threshold: float = 0.2,
    oks_threshold: float = 0.9,
) -> list[dict[str, Any]]:
    """COCO keypoint results after HRNet's rescoring and per-image OKS-NMS."""
    by_image: dict[int, list[int]] = defaultdict(list)
    for row, index in enumerate(predictions.indices):
        by_image[samples[int(index)].image_id].append(row)
    results = []
    for image_id in sorted(by_image):
        rows = by_image[image_id]
        keypoints = predictions.keypoints[rows]
        confidences = keypoints[:, :, 2]
        above = confidences > in_vis_threshold
        counts = above.sum(axis=1)
        joint_score = np.where(counts > 0, (confidences * above).sum(axis=1) / np.maximum(counts, 1), 0.0)
        box_score = np.array([samples[int(predictions.indices[r])].score for r in rows])
        scores = box_score * joint_score
        areas = np.array([samples[int(predictions.indices[r])].area for r in rows])
        for k in oks_nms(keypoints, scores, areas, oks_threshold):
            results.append(
                {
                    "image_id": int(image_id),
                    "category_id": 1,
                    "keypoints": [round(float(v), 3) for v in keypoints[k].reshape(-1)],
                    "score": round(float(scores[k]), 6),
                }
            )
    return results


def write_results(results: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the results JSON atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        json.dump(results, handle)
    return path


def coco_metrics(coco: COCO, results_path: str | Path) -> dict[str, float]:
    """pycocotools' keypoint AP/AR of a results file against the annotation set (all its images)."""
    with open(results_path, encoding="utf-8") as handle:
        if not json.load(handle):
            return dict.fromkeys(METRIC_NAMES, 0.0)  # loadRes cannot take an empty list
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and a table
        detections = coco.loadRes(str(results_path))
        evaluator = COCOeval(coco, detections, "keypoints")
        evaluator.params.useSegm = None
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(METRIC_NAMES, evaluator.stats, strict=True)}


def evaluate_predictions(
    coco: COCO,
    samples: Sequence[PersonSample],
    predictions: Predictions,
    results_path: str | Path,
    in_vis_threshold: float = 0.2,
    oks_threshold: float = 0.9,
) -> dict[str, float]:
    """Rescore, NMS, write the results file, then score it: the whole path from keypoints to AP."""
    results = predictions_to_results(samples, predictions, in_vis_threshold, oks_threshold)
    write_results(results, results_path)
    return coco_metrics(coco, results_path)


def format_metrics(metrics: dict[str, float], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """A two-line table in percent, the layout of the paper's Table II."""
    header = " ".join(f"{name:>6}" for name in columns)
    values = " ".join(f"{100 * metrics[name]:6.1f}" for name in columns)
    return f"{header}\n{values}"


def coco_summary(metrics: dict[str, float]) -> str:
    """The ten-line summary pycocotools prints for keypoints, from the metrics dict."""
    return "\n".join(
        f" {kind:<18} @[ IoU={iou:<9} | area={area:>6s} | maxDets= 20 ] = {metrics[name]:0.3f}"
        for (kind, iou, area), name in zip(SUMMARY_LINES, METRIC_NAMES, strict=True)
    )
