"""COCO keypoint evaluation: results files, HRNet's rescoring and OKS-NMS, pycocotools AP, `run.py eval`."""

import json
import sys

import numpy as np
import pytest
import torch

from core.model.checkpoint import save_checkpoint
from core.model.hrnet import build_model
from core.pose import codec
from tests.support.helpers import ROOT
from trainer.dataset import CocoKeypoints, detection_samples, ground_truth_samples, load_coco, load_detections
from trainer.evaluate import (
    Predictions,
    coco_metrics,
    evaluate_predictions,
    oks_nms,
    predict,
    predictions_to_results,
    write_results,
)

sys.path.insert(0, str(ROOT))
import run
from tests.support.helpers import limit_torch_threads

_torch_threads = limit_torch_threads(1)  # two threads on two busy cores are far slower than one


@pytest.fixture(scope="module")
def mini(shared_data):
    root = shared_data / "coco_mini"
    return root / "person_keypoints.json", root / "images", root / "person_detections.json"


def ground_truth_predictions(samples):
    keypoints = np.stack([s.keypoints for s in samples]).astype(np.float64)
    keypoints[:, :, 2] = keypoints[:, :, 2] > 0  # confidence 1 where labelled
    return Predictions(np.arange(len(samples)), keypoints)


def test_ground_truth_keypoints_score_ap_one(mini, tmp_path):
    ann, images, _ = mini
    coco = load_coco(ann)
    samples = ground_truth_samples(coco, images, 0.75)
    metrics = evaluate_predictions(coco, samples, ground_truth_predictions(samples), tmp_path / "gt.json")
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AR"] == pytest.approx(1.0)
    results = json.loads((tmp_path / "gt.json").read_text())
    assert len(results) == len(samples)
    assert {"image_id", "category_id", "keypoints", "score"} <= results[0].keys()
    assert len(results[0]["keypoints"]) == 51 and results[0]["category_id"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["gt.json"]  # no temporary file left behind


def test_displaced_keypoints_lower_the_ap(mini, tmp_path):
    ann, images, _ = mini
    coco = load_coco(ann)
    samples = ground_truth_samples(coco, images, 0.75)
    predictions = ground_truth_predictions(samples)
    predictions.keypoints[:, :, :2] += 12.0
    metrics = evaluate_predictions(coco, samples, predictions, tmp_path / "off.json")
    assert metrics["AP"] < 0.6


def test_targets_decoded_back_to_the_image_keep_ap_near_one(mini, tmp_path):
    """Training targets (codec.encode_heatmaps) and evaluation decoding agree to a fraction of a cell."""
    ann, images, _ = mini
    coco = load_coco(ann)
    samples = ground_truth_samples(coco, images, 96 / 128)
    dataset = CocoKeypoints(samples, (96, 128), (24, 32))
    heatmaps = np.stack([dataset[i]["target"].numpy() for i in range(len(samples))])
    coords, scores = codec.decode_heatmaps(heatmaps)
    xy = codec.heatmap_to_image(coords, [s.center for s in samples], [s.scale for s in samples], (24, 32))
    keypoints = np.concatenate([xy, scores[..., None]], axis=-1)
    metrics = evaluate_predictions(
        coco, samples, Predictions(np.arange(len(samples)), keypoints), tmp_path / "r.json"
    )
    assert metrics["AP"] > 0.9


def test_oks_nms_drops_near_duplicates_and_keeps_other_people():
    gen = np.random.default_rng(0)
    person = np.column_stack([gen.uniform(0, 100, 17), gen.uniform(0, 200, 17), np.ones(17)])
    other = person + np.array([300.0, 0.0, 0.0])
    duplicate = person + np.array([0.5, 0.5, 0.0])
    keypoints = np.stack([person, duplicate, other])
    keep = oks_nms(keypoints, np.array([0.8, 0.9, 0.7]), np.full(3, 100.0 * 200.0), threshold=0.9)
    assert keep == [1, 2]  # the better-scored duplicate survives, the other person too


def test_rescoring_multiplies_box_score_by_mean_confident_joint_score(mini):
    ann, images, detections = mini
    coco = load_coco(ann)
    samples = detection_samples(coco, load_detections(detections), images, 0.75)[:1]
    keypoints = np.zeros((1, 17, 3))
    keypoints[0, :, 0] = np.arange(17) * 10.0
    keypoints[0, :, 2] = [0.9] * 5 + [0.5] * 5 + [0.1] * 7  # the 0.1s are below in_vis_threshold 0.2
    (result,) = predictions_to_results(samples, Predictions(np.array([0]), keypoints), in_vis_threshold=0.2)
    assert result["score"] == pytest.approx(samples[0].score * 0.7, abs=1e-6)
    assert result["image_id"] == samples[0].image_id


def test_an_empty_result_scores_zero(mini, tmp_path):
    coco = load_coco(mini[0])
    assert coco_metrics(coco, write_results([], tmp_path / "none.json"))["AP"] == 0.0


def test_predict_maps_model_heatmaps_to_image_keypoints(mini):
    ann, images, detections = mini
    coco = load_coco(ann)
    samples = detection_samples(coco, load_detections(detections), images, 64 / 64)[:6]
    dataset = CocoKeypoints(samples, (64, 64), (16, 16), with_targets=False)
    torch.manual_seed(0)
    model = build_model(width=8, input_size=(64, 64))
    torch.nn.init.normal_(model.final_layer.weight, std=0.5)
    whole = predict(model, dataset, flip=True, batch_size=4)
    assert whole.keypoints.shape == (6, 17, 3) and list(whole.indices) == list(range(6))
    for i, sample in enumerate(samples):  # every keypoint lies inside its crop region
        low, high = sample.center - sample.scale / 2 - 4, sample.center + sample.scale / 2 + 4
        assert np.all((whole.keypoints[i, :, :2] >= low) & (whole.keypoints[i, :, :2] <= high))
    parts = [predict(model, dataset, flip=True, batch_size=4, indices=range(r, 6, 2)) for r in (0, 1)]
    merged = Predictions.merge(parts)
    assert np.array_equal(merged.indices, whole.indices)
    assert np.allclose(merged.keypoints, whole.keypoints, atol=1e-4)


def test_eval_command_prints_the_table_and_writes_results(mini, tmp_path, capsys):
    """Flip test on by default (HRNet's test setting); the table plus pycocotools' ten numbers."""
    ann, images, detections = mini
    checkpoint = save_checkpoint(build_model(width=8, input_size=(64, 64)), tmp_path / "tiny.pt")
    out = tmp_path / "results.json"
    argv = [
        "eval",
        "--checkpoint",
        str(checkpoint),
        "--coco-ann",
        str(ann),
        "--images",
        str(images),
        "--detections",
        str(detections),
        "--out",
        str(out),
        "--workers",
        "0",
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert run.main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "flip test on" in printed[0]
    assert printed[1].split() == ["AP", "AP50", "AP75", "APM", "APL", "AR"]
    assert all(0.0 <= float(v) <= 100.0 for v in printed[2].split())
    summary = printed[3:13]
    assert [line.split("(")[1][:2] for line in summary] == ["AP"] * 5 + ["AR"] * 5
    assert summary[6].startswith(" Average Recall     (AR) @[ IoU=0.50      | area=   all | maxDets= 20 ] = ")
    assert isinstance(json.loads(out.read_text()), list)
    assert run.main([*argv, "--no-flip"]) == 0
    assert "flip test off" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--coco-ann": "missing.json"}, "COCO annotation file not found"),
        ({"--coco-ann": "DETECTIONS"}, "detections file"),
        ({"--images": "nowhere"}, "image folder not found"),
        ({"--detections": "ANNOTATIONS"}, "not a list of detection results"),
        ({"--checkpoint": "ANNOTATIONS"}, "not a PyTorch checkpoint"),
    ],
)
def test_eval_bad_input_is_one_line(mini, tmp_path, capsys, change, message):
    ann, images, detections = mini
    checkpoint = save_checkpoint(build_model(width=8, input_size=(64, 64)), tmp_path / "tiny.pt")
    args = {"--checkpoint": str(checkpoint), "--coco-ann": str(ann), "--images": str(images)}
    for key, value in change.items():
        args[key] = {"DETECTIONS": str(detections), "ANNOTATIONS": str(ann)}.get(value, str(tmp_path / value))
    assert run.main(["eval", *[x for pair in args.items() for x in pair]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
