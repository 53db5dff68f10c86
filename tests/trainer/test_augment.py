"""HRNet's training augmentation: flip with joint pairs, half-body, scale and rotation draws."""

import cv2
import numpy as np
import pytest

from core.keypoints import FLIP_PAIRS
from core.pose import codec
from trainer.augment import AugmentSettings, augment, fliplr_joints, half_body_box

RNG = np.random.default_rng


def person(width=300.0, height=400.0):
    """17 joints spread over a standing person's box, every one labelled."""
    gen = RNG(7)
    joints = np.column_stack([gen.uniform(100, 200, 17), np.linspace(60, 340, 17)])
    return joints, np.ones(17)


def test_flip_mirrors_x_and_swaps_left_and_right():
    joints, visible = person()
    visible[1] = 0  # left eye unlabelled
    flipped, flipped_visible = fliplr_joints(joints, visible, image_width=300)
    for left, right in FLIP_PAIRS:
        assert flipped[left, 0] == 299 - joints[right, 0] and flipped[left, 1] == joints[right, 1]
        assert flipped[right, 0] == 299 - joints[left, 0]
    assert flipped_visible[2] == 0 and flipped_visible[1] == 1  # the label moved with its joint
    twice, twice_visible = fliplr_joints(flipped, flipped_visible, image_width=300)
    assert np.allclose(twice, joints) and np.array_equal(twice_visible, visible)


def test_half_body_box_holds_one_half_at_the_model_aspect_ratio():
    joints, visible = person()
    for seed in range(20):
        center, scale = half_body_box(joints, visible, aspect_ratio=0.75, rng=RNG(seed))
        upper, lower = joints[:11], joints[11:]
        half = upper if np.allclose(center, upper.mean(0)) else lower
        assert np.allclose(center, half.mean(0))
        assert scale[0] / scale[1] == pytest.approx(0.75)
        extent = half.max(0) - half.min(0)
        assert np.all(scale >= 1.5 * extent - 1e-9)  # ×1.5 around the tighter side
        assert np.isclose(scale, 1.5 * extent).any()


def test_half_body_needs_more_than_two_joints_in_a_half():
    joints, visible = person()
    visible[:] = 0
    visible[[0, 15]] = 1
    assert half_body_box(joints, visible, 0.75, RNG(0)) is None


def test_draws_follow_hrnets_distributions():
    joints, visible = person()
    image = np.zeros((400, 300, 3), np.uint8)
    settings = AugmentSettings(half_body_prob=0.0)
    center, scale = np.array([150.0, 200.0]), np.array([240.0, 320.0])
    draws = [augment(image, joints, visible, center, scale, settings, 0.75, RNG(s)) for s in range(400)]
    rotations = np.array([d.rotation for d in draws])
    factors = np.array([d.scale[0] / scale[0] for d in draws])
    assert np.all(np.abs(rotations) <= 80) and np.abs(rotations).max() > 40  # N(0, 40²) clipped at ±2σ
    assert 0.3 < np.mean(rotations == 0) < 0.5  # rotated with probability 0.6
    assert np.all((factors >= 0.7 - 1e-12) & (factors <= 1.3 + 1e-12)) and factors.std() > 0.15
    assert np.allclose([d.scale[1] / d.scale[0] for d in draws], 320 / 240)
    assert 0.4 < np.mean([d.flipped for d in draws]) < 0.6
    same = augment(image, joints, visible, center, scale, settings, 0.75, RNG(3))
    assert same.rotation == draws[3].rotation and same.flipped == draws[3].flipped


def test_augmented_joints_stay_on_their_pixels_in_the_crop():
    """A dot drawn at the left wrist is found at that joint's crop position after any draw."""
    joints, visible = person()
    image = np.zeros((400, 300, 3), np.uint8)
    wrist = joints[9]
    cv2.circle(image, (round(wrist[0]), round(wrist[1])), 3, (255, 255, 255), -1)
    joints[9] = np.round(wrist)
    settings = AugmentSettings(half_body_prob=0.0)
    center, scale = np.array([150.0, 200.0]), np.array([300.0, 400.0])
    seen_flip = set()
    for seed in range(12):
        d = augment(image, joints, visible, center, scale, settings, 0.75, RNG(seed))
        seen_flip.add(d.flipped)
        crop = codec.crop_affine(d.image, d.center, d.scale, (96, 128), rotation=d.rotation)
        dot = np.argwhere(crop[:, :, 0] > 0).mean(axis=0)[::-1]  # (x, y) centre of the dot
        where = codec.transform_points(d.joints, codec.crop_matrix(d.center, d.scale, (96, 128), d.rotation))
        label = 10 if d.flipped else 9  # a mirrored left wrist is the right wrist
        assert np.linalg.norm(where[label] - dot) < 0.75, (seed, where[label], dot)
    assert seen_flip == {True, False}
