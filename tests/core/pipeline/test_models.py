"""What the pipeline computes for one frame, and what a change of configuration rebuilds."""

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.pipeline.models import (
    PipelineConfig,
    build_models,
    new_tracker,
    rebuild_models,
    sequential_step,
)
from core.video.sources import open_source

torch.set_num_threads(1)


class CountingDetector:
    """The real file detector, with the frames it was asked about recorded."""

    def __init__(self, detector):
        self.detector, self.calls = detector, []

    def __call__(self, image, index):
        self.calls.append(index)
        return self.detector(image, index)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    det = tmp_path_factory.mktemp("det") / "det.txt"
    det.write_text("".join(f"{i + 1},-1,100,120,80,280,0.9,-1,-1,-1\n" for i in range(20)))
    return build_models(PipelineConfig(width=8, input_size=(64, 96), detector=f"file:{det}", backend="eager"))


@pytest.fixture(scope="module")
def frames(shared_data):
    return list(open_source(str(shared_data / "video" / "street.mp4")))


def test_config_rejects_impossible_values():
    with pytest.raises(UserError, match="interval"):
        PipelineConfig(interval=0)
    with pytest.raises(UserError):
        PipelineConfig(queue_size=0)


def test_one_step_detects_estimates_tracks_and_draws(models, frames):
    poses, tracks, annotated = sequential_step(models, {}, frames[0], new_tracker(models.config))
    assert len(poses) == 1 and poses[0].keypoints.shape == (17, 3)
    assert np.allclose(poses[0].box, [100, 120, 180, 400])
    assert [t.id for t in tracks] == [1]
    assert annotated.shape == frames[0].image.shape and not np.array_equal(annotated, frames[0].image)


def test_between_detections_an_empty_scene_is_detected_at_once(models, frames):
    """Untrained poses have no confident joints, so nothing can be followed: rather than wait for the
    next detection frame, the step detects again (as IntervalDetector does)."""
    detector = CountingDetector(models.detector)
    config = PipelineConfig(width=8, input_size=(64, 96), detector=models.config.detector, interval=3)
    every3 = type(models)(models.estimator, detector, models.trained, config)
    state, tracker = {}, new_tracker(config)
    for frame in frames:
        sequential_step(every3, state, frame, tracker)
    assert detector.calls == [0, 1, 2, 3, 4]


def test_rebuild_swaps_only_what_changed(models, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("1,-1,10,10,50,100,0.8,-1,-1,-1\n")
    config = PipelineConfig(**{**models.config.__dict__, "detector": f"file:{other}", "draw": False})
    swapped, restart = rebuild_models(models, config)
    assert swapped.estimator is models.estimator  # the model was not reloaded
    assert swapped.detector is not models.detector and len(swapped.detector(None, 0)) == 1
    assert swapped.config.draw is False and restart is False
    from core.track.tracker import TrackerConfig

    _, restart = rebuild_models(
        models, PipelineConfig(**{**models.config.__dict__, "tracker": TrackerConfig(max_age=5)})
    )
    assert restart is True


def test_a_checkpoint_makes_the_weights_trained(tmp_path):
    from core.model.checkpoint import save_checkpoint
    from core.model.hrnet import build_model

    path = save_checkpoint(build_model(width=8, input_size=(64, 96)), Path(tmp_path) / "tiny.pt")
    models = build_models(PipelineConfig(checkpoint=path, detector="hog", backend="eager"))
    assert models.trained is True and tuple(models.estimator.input_size) == (64, 96)
