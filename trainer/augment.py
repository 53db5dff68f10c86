"""Training augmentation exactly as HRNet draws it: half-body, scale, rotation, horizontal flip.

All randomness comes from the `np.random.Generator` passed in, so a sample's augmentation is a
function of (seed, epoch, index): resumed and multi-worker runs see the same crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.keypoints import flip_permutation

UPPER_BODY = tuple(range(11))  # nose … wrists (HRNet's upper_body_ids)


@dataclass
class Augmented:
    """One random draw applied: the (possibly mirrored) image and joints, and the crop to take."""

    image: np.ndarray
    joints: np.ndarray  # (J, 2) image pixels
    visible: np.ndarray  # (J,)
    center: np.ndarray  # (2,)
    scale: np.ndarray  # (2,) crop region (w, h) in image pixels
    rotation: float  # degrees, for codec.crop_matrix / crop_affine
    flipped: bool


@dataclass
class AugmentSettings:
    """HRNet's augmentation; the paper's "40 degrees ... scale 0.3" are HRNet's ROT/SCALE factors.
    The recipe's [augment] section is this class (plus the target's σ), passed on as it is."""

    flip: bool = True
    rotation: float = 40.0  # angle ~ N(0, rotation²) clipped to ±2·rotation (HRNet's ROT_FACTOR)
    rotation_prob: float = 0.6
    scale: float = 0.3  # crop size × clip(N(1, scale²), 1 - scale, 1 + scale)
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8  # more labelled joints than this makes a person eligible


def fliplr_joints(joints: np.ndarray, visible: np.ndarray, image_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Mirror joints in an image `image_width` pixels wide (x -> W - 1 - x) and swap left and right."""
    order = flip_permutation(len(joints))
    flipped = joints.copy()
    flipped[:, 0] = image_width - 1 - flipped[:, 0]
    return flipped[order], visible[order].copy()


def half_body_box(
    joints: np.ndarray, visible: np.ndarray, aspect_ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """HRNet's half-body crop: the box around the upper or lower body's labelled joints, ×1.5.

    HRNet picks the upper body when `np.random.randn() < 0.5` (about 69 % of the time); we keep
    that draw so the mix of half-body crops matches the recipe.
    """
    upper = [joints[j] for j in range(len(joints)) if visible[j] > 0 and j in UPPER_BODY]
    lower = [joints[j] for j in range(len(joints)) if visible[j] > 0 and j not in UPPER_BODY]
    prefer_upper = rng.standard_normal() < 0.5 and len(upper) > 2
    selected = upper if prefer_upper or len(lower) <= 2 else lower
    if len(selected) < 2:
        return None
    points = np.asarray(selected, dtype=np.float64)[:, :2]
    center = points.mean(axis=0)
    w, h = points.max(axis=0) - points.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return center, np.array([w, h], dtype=np.float64) * 1.5


def augment(
    image: np.ndarray,
    joints: np.ndarray,
    visible: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    settings: AugmentSettings,
    aspect_ratio: float,
    rng: np.random.Generator,
) -> Augmented:
    """One random draw of HRNet's recipe, in HRNet's order: half-body, scale, rotation, flip.

    `scale` is the crop region's (w, h) in image pixels; the rotation is performed later by the crop
    affine, so it is returned rather than applied; a flip mirrors the image itself.
    """
    center = np.asarray(center, dtype=np.float64).copy()
    scale = np.asarray(scale, dtype=np.float64).copy()
    eligible = int((visible > 0).sum()) > settings.half_body_min_joints
    if eligible and rng.random() < settings.half_body_prob:
        box = half_body_box(joints, visible, aspect_ratio, rng)
        if box is not None:
            center, scale = box
    sf, rf = settings.scale, settings.rotation
    scale = scale * float(np.clip(rng.standard_normal() * sf + 1.0, 1.0 - sf, 1.0 + sf))
    rotation = float(np.clip(rng.standard_normal() * rf, -2.0 * rf, 2.0 * rf))
    if rng.random() > settings.rotation_prob:
        rotation = 0.0
    flipped = bool(settings.flip and rng.random() <= 0.5)
    if flipped:
        image = cv2.flip(image, 1)
        joints, visible = fliplr_joints(joints, visible, image.shape[1])
        center[0] = image.shape[1] - 1 - center[0]
    return Augmented(image, joints, visible, center, scale, rotation, flipped)
