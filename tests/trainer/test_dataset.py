"""COCO top-down samples: which people are used, crops and targets from the codec, bad input."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.errors import UserError
from core.pose import codec
from trainer.augment import AugmentSettings
from trainer.dataset import (
    CocoKeypoints,
    collate,
    detection_samples,
    ground_truth_samples,
    load_coco,
    load_detections,
    normalise,
    read_image_rgb,
)

INPUT, HEATMAP = (96, 128), (24, 32)


@pytest.fixture(scope="module")
def mini(shared_data):
    root = shared_data / "coco_mini"
    return root / "person_keypoints.json", root / "images", root / "person_detections.json"


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


def test_training_people_skip_crowds_and_keypoint_less_ones(mini, tmp_path):
    ann, images, _ = mini
    samples = ground_truth_samples(load_coco(ann), images, 0.75)
    data = json.loads(ann.read_text())
    with_keypoints = [a for a in data["annotations"] if a["num_keypoints"] > 0]
    assert len(samples) == len(with_keypoints) == 12 < len(data["annotations"])
    data["annotations"][0]["iscrowd"] = 1
    crowded = ground_truth_samples(load_coco(write_json(tmp_path / "a.json", data)), images, 0.75)
    assert len(crowded) == 11 and data["annotations"][0]["id"] not in {s.annotation_id for s in crowded}
    first = samples[0]
    assert first.score == 1.0 and first.image_path.is_file()
    assert first.scale[0] / first.scale[1] == pytest.approx(0.75)


def test_sample_keypoints_sit_at_the_argmax_of_their_target_heatmaps(mini):
    ann, images, _ = mini
    samples = ground_truth_samples(load_coco(ann), images, INPUT[0] / INPUT[1])
    dataset = CocoKeypoints(samples, INPUT, HEATMAP, sigma=2.0)
    checked = 0
    for index, sample in enumerate(samples):
        item = dataset[index]
        matrix = codec.crop_matrix(sample.center, sample.scale, INPUT)
        in_crop = codec.transform_points(sample.keypoints[:, :2], matrix) / 4.0  # heatmap stride 4
        labelled = sample.keypoints[:, 2] > 0
        assert torch.equal(item["target_weight"] > 0, torch.from_numpy(labelled))  # GT boxes hold every joint
        for j in np.flatnonzero(labelled):
            heatmap = item["target"][j].numpy()
            y, x = np.unravel_index(heatmap.argmax(), heatmap.shape)
            assert abs(x - in_crop[j, 0]) <= 0.5 + 1e-6 and abs(y - in_crop[j, 1]) <= 0.5 + 1e-6
            assert heatmap.max() > 0.88  # a sub-pixel Gaussian peak lies at most half a cell away
            checked += 1
        assert not item["target"][~torch.from_numpy(labelled)].any()
    assert checked > 150


def test_augmented_samples_keep_targets_on_their_joints(mini):
    ann, images, _ = mini
    samples = ground_truth_samples(load_coco(ann), images, INPUT[0] / INPUT[1])
    dataset = CocoKeypoints(samples, INPUT, HEATMAP, augment=AugmentSettings(), seed=5)
    for epoch in range(2):
        dataset.set_epoch(epoch)
        for index in range(len(samples)):
            item = dataset[index]
            u = item["joints"].numpy() / 4.0
            for j in np.flatnonzero(item["target_weight"].numpy()):
                heatmap = item["target"][j].numpy()
                if not (0 <= u[j, 0] <= HEATMAP[0] - 1 and 0 <= u[j, 1] <= HEATMAP[1] - 1):
                    continue  # a joint pushed out of the crop keeps only a Gaussian tail
                y, x = np.unravel_index(heatmap.argmax(), heatmap.shape)
                assert abs(x - u[j, 0]) <= 0.5 + 1e-6 and abs(y - u[j, 1]) <= 0.5 + 1e-6
    dataset.set_epoch(1)
    again = dataset[3]
    assert torch.equal(again["image"], dataset[3]["image"])  # a draw depends on (seed, epoch, index)
    dataset.set_epoch(2)
    assert not torch.equal(again["image"], dataset[3]["image"])


def test_worker_processes_draw_the_same_augmentation_as_the_main_process(mini):
    ann, images, _ = mini
    samples = ground_truth_samples(load_coco(ann), images, INPUT[0] / INPUT[1])
    dataset = CocoKeypoints(samples, INPUT, HEATMAP, augment=AugmentSettings(), seed=1)
    dataset.set_epoch(4)
    runs = [list(DataLoader(dataset, batch_size=4, collate_fn=collate, num_workers=n)) for n in (0, 2)]
    for inline, parallel in zip(*runs, strict=True):
        assert torch.equal(inline["image"], parallel["image"]) and torch.equal(
            inline["target"], parallel["target"]
        )


def test_crops_are_rgb_normalised_with_the_codec_constants(tmp_path):
    red_bgr = np.zeros((4, 4, 3), np.uint8)
    red_bgr[..., 2] = 255
    cv2.imwrite(str(tmp_path / "red.png"), red_bgr)
    rgb = read_image_rgb(tmp_path / "red.png")
    assert rgb[0, 0].tolist() == [255, 0, 0]
    tensor = normalise(rgb)
    assert tensor.shape == (3, 4, 4) and tensor.dtype == torch.float32
    expected = (np.array([1.0, 0.0, 0.0]) - codec.PIXEL_MEAN) / codec.PIXEL_STD
    assert np.allclose(tensor[:, 0, 0].numpy(), expected, atol=1e-6)
    assert read_image_rgb(tmp_path / "missing.jpg") is None


def test_a_corrupt_image_is_skipped_and_counted(mini, tmp_path):
    ann, images, _ = mini
    folder = tmp_path / "images"
    shutil.copytree(images, folder)
    (folder / "000000197388.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    samples = ground_truth_samples(load_coco(ann), folder, 0.75)
    broken = sum(s.image_path.name == "000000197388.jpg" for s in samples)
    loader = DataLoader(
        CocoKeypoints(samples, INPUT, HEATMAP), batch_size=5, collate_fn=collate, num_workers=2
    )
    batches = list(loader)  # counted in worker processes, summed here
    assert sum(b["skipped"] for b in batches) == broken == 5
    assert sum(len(b["image"]) for b in batches if "image" in b) == len(samples) - broken


def test_detections_become_samples_with_their_scores(mini):
    ann, images, detections = mini
    coco = load_coco(ann)
    boxes = load_detections(detections)
    samples = detection_samples(coco, boxes, images, 0.75)
    assert len(samples) == len(boxes) == 118
    assert sorted(s.score for s in samples) == sorted(d["score"] for d in boxes)
    strong = detection_samples(coco, boxes, images, 0.75, score_threshold=0.5)
    assert 0 < len(strong) < len(samples) and min(s.score for s in strong) >= 0.5
    assert not samples[0].keypoints.any()


def test_wrong_annotation_files_are_one_clear_error(mini, tmp_path):
    ann, _, detections = mini
    with pytest.raises(UserError, match="not found"):
        load_coco(tmp_path / "missing.json")
    with pytest.raises(UserError, match="detections file"):
        load_coco(detections)
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(UserError, match="not a JSON file"):
        load_coco(tmp_path / "text.json")
    data = json.loads(ann.read_text())
    instances = dict(data, categories=[{"id": 1, "name": "person", "supercategory": "person"}])
    with pytest.raises(UserError, match="no person keypoints"):
        load_coco(write_json(tmp_path / "instances.json", instances))
    with pytest.raises(UserError, match="not a COCO annotation file"):
        load_coco(write_json(tmp_path / "captions.json", {"images": [], "annotations": []}))
    with pytest.raises(UserError, match="not a list of detection"):
        load_detections(ann)
    with pytest.raises(UserError, match="not a detection results file"):
        load_detections(write_json(tmp_path / "odd.json", [{"image_id": 1}]))


def test_an_empty_split_or_a_wrong_image_folder_is_one_clear_error(mini, tmp_path):
    ann, images, _ = mini
    data = json.loads(ann.read_text())
    empty = dict(data, annotations=[a for a in data["annotations"] if a["num_keypoints"] == 0])
    with pytest.raises(UserError, match="no person annotations with keypoints"):
        ground_truth_samples(load_coco(write_json(tmp_path / "empty.json", empty)), images, 0.75)
    with pytest.raises(UserError, match="image folder not found"):
        ground_truth_samples(load_coco(ann), tmp_path / "nowhere", 0.75)
    with pytest.raises(UserError, match="not in"):
        ground_truth_samples(load_coco(ann), tmp_path, 0.75)
    with pytest.raises(UserError, match="no person detections"):
        detection_samples(load_coco(ann), [], images, 0.75)
