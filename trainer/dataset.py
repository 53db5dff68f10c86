"""COCO person keypoints as top-down samples: one crop per person, targets from `core.pose.codec`.

Training uses ground-truth boxes (crowd and keypoint-less people skipped, boxes cleaned as HRNet
does); evaluation uses ground-truth boxes or a detection results file such as
`COCO_val2017_detections_AP_H_56_person.json`. Images are read with OpenCV, turned to RGB and
normalised with the codec's constants, the very preprocessing inference uses. An unreadable image
is not fatal: its sample comes back as None, `collate` drops it and counts it in "skipped".
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from pycocotools.coco import COCO
from torch.utils.data import Dataset

from core.errors import UserError
from core.model import ModelConfig
from core.pose import codec
from trainer.augment import AugmentSettings, augment

PERSON_CATEGORY = 1


@dataclass
class PersonSample:
    """One person crop: where it lies in which image and, with ground truth, its keypoints."""

    image_id: int
    image_path: Path
    center: np.ndarray  # (2,) crop centre, image pixels
    scale: np.ndarray  # (2,) crop region (w, h), image pixels, padded and at the model's aspect ratio
    score: float  # detection score (1.0 for ground-truth boxes)
    keypoints: np.ndarray  # (J, 3) x, y, visibility (0 = unlabelled); zeros for detections
    annotation_id: int = -1  # -1 for detections

    @property
    def area(self) -> float:
        """Crop region area, HRNet's `area` for OKS-NMS."""
        return float(self.scale[0] * self.scale[1])


def load_coco(path: str | Path) -> COCO:
    """A COCO person-keypoints annotation file, or one clear UserError saying what is wrong with it."""
    path = Path(path)
    data = _read_json(path, "COCO annotation file")
    if isinstance(data, list):
        raise UserError(
            f"{path}: a list of results (a detections file?), not a COCO annotation file; "
            "pass person_keypoints_*.json here and detections with --detections"
        )
    if not isinstance(data, dict) or not all(k in data for k in ("images", "annotations", "categories")):
        raise UserError(f"{path}: not a COCO annotation file (needs images, annotations and categories)")
    person = [c for c in data["categories"] if isinstance(c, dict) and c.get("id") == PERSON_CATEGORY]
    if not person or not person[0].get("keypoints"):
        raise UserError(
            f"{path}: has no person keypoints (an instances or captions file?); "
            "use a person_keypoints_*.json file"
        )
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints "creating index..."
        coco.createIndex()
    return coco


def load_detections(path: str | Path) -> list[dict[str, Any]]:
    """Person boxes of a COCO results file: a JSON list of {image_id, category_id, bbox xywh, score}."""
    path = Path(path)
    data = _read_json(path, "detections file")
    if isinstance(data, dict):
        raise UserError(f"{path}: a COCO annotation file, not a list of detection results")
    if not isinstance(data, list) or not all(
        isinstance(d, dict) and {"image_id", "bbox", "score"} <= d.keys() for d in data
    ):
        raise UserError(f"{path}: not a detection results file (a JSON list of image_id, bbox, score)")
    return [d for d in data if d.get("category_id", PERSON_CATEGORY) == PERSON_CATEGORY]


def ground_truth_samples(
    coco: COCO, images: str | Path, aspect_ratio: float, num_joints: int = 17, source: str = ""
) -> list[PersonSample]:
    """Every non-crowd person with at least one labelled keypoint, with HRNet's cleaned box."""
    images = _check_images(images)
    source = source or "annotation file"
    samples = []
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        width, height = _numbers(info, ("width", "height"), f"{source}: image {image_id}")
        for ann in coco.imgToAnns.get(image_id, []):
            if ann.get("category_id") != PERSON_CATEGORY:
                continue
            # Checked for every person, crowds and people without keypoints too: COCOeval reads them all.
            where = f"{source}: annotation {ann.get('id', '?')} of image {image_id}"
            x, y, w, h = _box(ann.get("bbox"), where)
            keypoints = _array(ann.get("keypoints") or [], where, "keypoints")
            if ann.get("iscrowd", 0):
                continue
            if keypoints.size != num_joints * 3 or keypoints.reshape(-1, 3)[:, 2].max() <= 0:
                continue
            x1, y1 = max(0.0, x), max(0.0, y)
            x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
            y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
            if ann.get("area", 0) <= 0 or x2 < x1 or y2 < y1:
                continue
            center, scale = codec.box_to_center_scale(np.array([x1, y1, x2, y2]), aspect_ratio=aspect_ratio)
            samples.append(
                PersonSample(
                    image_id=image_id,
                    image_path=images / info["file_name"],
                    center=np.asarray(center, np.float64),
                    scale=np.asarray(scale, np.float64),
                    score=1.0,
                    keypoints=keypoints.reshape(num_joints, 3),
                    annotation_id=int(ann["id"]),
                )
            )
    _check_nonempty(samples, images, source, "person annotations with keypoints")
    return samples


def _array(values: Any, where: str, what: str) -> np.ndarray:
    """`values` as finite float64 numbers; UserError naming the record otherwise (strings, NaN)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {what} must be numbers, got {str(values)[:60]}") from None
    if not np.isfinite(array).all():
        raise UserError(f"{where}: {what} must be finite numbers, got {str(values)[:60]}")
    return array


def _box(values: Any, where: str) -> tuple[float, float, float, float]:
    """A COCO box [x, y, width, height] of finite numbers; UserError naming the record otherwise."""
    if values is None:
        raise UserError(f"{where}: no bbox (COCO boxes are [x, y, width, height])")
    box = _array(values, where, "bbox")
    if box.shape != (4,):
        raise UserError(f"{where}: bbox must be [x, y, width, height], got {str(values)[:60]}")
    return tuple(float(v) for v in box)


def _numbers(record: dict, keys: tuple[str, ...], where: str) -> list[float]:
    missing = [key for key in keys if key not in record]
    if missing:
        raise UserError(f"{where}: no {' or '.join(missing)}")
    return [float(v) for v in _array([record[key] for key in keys], where, "/".join(keys))]


def detection_samples(
    coco: COCO,
    detections: list[dict[str, Any]],
    images: str | Path,
    aspect_ratio: float,
    score_threshold: float = 0.0,
    num_joints: int = 17,
    source: str = "",
) -> list[PersonSample]:
    """One sample per detected person box above the threshold, on images the annotation file knows."""
    images = _check_images(images)
    samples = []
    for number, det in enumerate(detections, 1):
        image_id = det["image_id"]
        where = f"{source or 'detections file'}: detection {number}"
        (score,) = _numbers(det, ("score",), where)
        if score < score_threshold or image_id not in coco.imgs:
            continue
        x, y, w, h = _box(det.get("bbox"), where)
        if w <= 0 or h <= 0:
            continue
        center, scale = codec.box_to_center_scale(np.array([x, y, x + w, y + h]), aspect_ratio=aspect_ratio)
        samples.append(
            PersonSample(
                image_id=image_id,
                image_path=images / coco.imgs[image_id]["file_name"],
                center=np.asarray(center, np.float64),
                scale=np.asarray(scale, np.float64),
                score=float(det["score"]),
                keypoints=np.zeros((num_joints, 3)),
            )
        )
    _check_nonempty(samples, images, source or "detections file", "person detections on annotated images")
    return samples


def evaluation_dataset(
    coco: COCO,
    images: str | Path,
    config: ModelConfig,
    annotations: str | Path,
    detections: str | Path | None = None,
    score_threshold: float = 0.0,
) -> CocoKeypoints:
    """The crops to evaluate, without targets: the detections file's boxes when given, else the
    ground-truth boxes; shared by `run.py eval` and validation during training."""
    w, h = config.input_size
    if detections:
        boxes = load_detections(detections)
        samples = detection_samples(
            coco, boxes, images, w / h, score_threshold, config.num_joints, str(detections)
        )
    else:
        samples = ground_truth_samples(coco, images, w / h, config.num_joints, str(annotations))
    return CocoKeypoints(samples, config.input_size, config.heatmap_size, with_targets=False)


def read_image_rgb(path: Path) -> np.ndarray | None:
    """The image as RGB uint8, or None when it is missing or cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def normalise(crop_rgb: np.ndarray) -> torch.Tensor:
    """HWC uint8 RGB -> CHW float32 normalised with the codec's ImageNet constants."""
    mean = np.asarray(codec.PIXEL_MEAN, dtype=np.float32)
    std = np.asarray(codec.PIXEL_STD, dtype=np.float32)
    image = (crop_rgb.astype(np.float32) / 255.0 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class CocoKeypoints(Dataset):
    """Crops and Gaussian targets; with `augment` set, HRNet's random transform per sample.

    The random draw of sample i in epoch e depends only on (seed, e, i), so neither the number
    of DataLoader workers nor a resume changes what the model sees. Call `set_epoch` before each
    epoch's DataLoader iterator is created.
    """

    def __init__(
        self,
        samples: list[PersonSample],
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float = 2.0,
        augment: AugmentSettings | None = None,
        seed: int = 0,
        with_targets: bool = True,
    ) -> None:
        self.samples = samples
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.sigma = sigma
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.with_targets = with_targets

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        sample = self.samples[index]
        image = read_image_rgb(sample.image_path)
        if image is None:
            return None
        joints = sample.keypoints[:, :2].copy()
        visible = (sample.keypoints[:, 2] > 0).astype(np.float64)
        center, scale, rotation = sample.center, sample.scale, 0.0
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            aspect_ratio = self.input_size[0] / self.input_size[1]
            drawn = augment(image, joints, visible, center, scale, self.augment, aspect_ratio, rng)
            image, joints, visible = drawn.image, drawn.joints, drawn.visible
            center, scale, rotation = drawn.center, drawn.scale, drawn.rotation
        crop = codec.crop_affine(image, center, scale, self.input_size, rotation=rotation)
        item: dict[str, Any] = {"image": normalise(crop), "index": index}
        if self.with_targets:
            matrix = codec.crop_matrix(center, scale, self.input_size, rotation=rotation)
            joints_crop = codec.transform_points(joints, matrix)
            heatmaps, weight = codec.encode_heatmaps(
                joints_crop, visible, self.input_size, self.heatmap_size, sigma=self.sigma
            )
            item["target"] = torch.from_numpy(np.asarray(heatmaps, dtype=np.float32))
            item["target_weight"] = torch.from_numpy(np.asarray(weight, dtype=np.float32))
            item["joints"] = torch.from_numpy(np.asarray(joints_crop, dtype=np.float32))
        return item


def collate(batch: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack the readable samples; "skipped" counts the unreadable ones (a corrupt image is not fatal)."""
    good = [item for item in batch if item is not None]
    out: dict[str, Any] = {"skipped": len(batch) - len(good)}
    if good:
        out.update(torch.utils.data.default_collate(good))
    return out


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        with path.open(encoding="utf-8-sig") as handle:  # a BOM (Windows editors) is not JSON
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path}: not a JSON file, so not a {what}") from None


def _check_images(images: str | Path) -> Path:
    images = Path(images)
    if not images.is_dir():
        raise UserError(f"image folder not found: {images}")
    return images


def _check_nonempty(samples: list[PersonSample], images: Path, source: str, what: str) -> None:
    if not samples:
        raise UserError(f"{source}: no {what}; nothing to train or evaluate on")
    # A wrong --images folder would otherwise make every sample "corrupt" and silently skipped.
    paths = list(dict.fromkeys(s.image_path for s in samples))[:20]
    if not any(p.is_file() for p in paths):
        raise UserError(f"the annotated images are not in {images} (looked for {paths[0].name} and others)")
