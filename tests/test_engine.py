"""What the pipeline computes for one frame, and what a change of configuration rebuilds."""

from pathlib import Path

import numpy as np
import pytest
import torch

from core.engine import (
    UNTRAINED_BANNER,
    PipelineConfig,
    annotate,
    build_engine,
    new_tracker,
    rebuild_engine,
    sequential_step,
)
from core.errors import UserError
from core.records import Track
from core.sources import open_source

torch.set_num_threads(1)


class CountingDetector:
    """The real file detector, with the frames it was asked about recorded."""

    def __init__(self, detector):
        self.detector, self.calls = detector, []

    def __call__(self, image, index):
        self.calls.append(index)
        return self.detector(image, index)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    det = tmp_path_factory.mktemp("det") / "det.txt"
    det.write_text("".join(f"{i + 1},-1,100,120,80,280,0.9,-1,-1,-1\n" for i in range(20)))
    return build_engine(PipelineConfig(width=8, input_size=(64, 96), detector=f"file:{det}", backend="eager"))


@pytest.fixture(scope="module")
def frames(shared_data):
    return list(open_source(str(shared_data / "video" / "street.mp4")))


def test_config_rejects_impossible_values():
    with pytest.raises(UserError, match="interval"):
        PipelineConfig(interval=0)
    with pytest.raises(UserError):
        PipelineConfig(queue_size=0)


def test_one_step_detects_estimates_tracks_and_draws(engine, frames):
    poses, tracks, annotated = sequential_step(engine, {}, frames[0], new_tracker(engine.config))
    assert len(poses) == 1 and poses[0].keypoints.shape == (17, 3)
    assert np.allclose(poses[0].box, [100, 120, 180, 400])
    assert [t.id for t in tracks] == [1]
    assert annotated.shape == frames[0].image.shape and not np.array_equal(annotated, frames[0].image)


def test_between_detections_an_empty_scene_is_detected_at_once(engine, frames):
    """Untrained poses have no confident joints, so nothing can be followed: rather than wait for the
    next detection frame, the step detects again (as IntervalDetector does)."""
    detector = CountingDetector(engine.detector)
    config = PipelineConfig(width=8, input_size=(64, 96), detector=engine.config.detector, interval=3)
    every3 = type(engine)(engine.estimator, detector, engine.trained, config)
    state, tracker = {}, new_tracker(config)
    for frame in frames:
        sequential_step(every3, state, frame, tracker)
    assert detector.calls == [0, 1, 2, 3, 4]


def test_untrained_weights_get_a_banner_and_the_frame_stays_clean(frames):
    image = frames[0].image.copy()
    track = Track(id=1, box=np.array([100.0, 100.0, 200.0, 400.0]), score=0.9)
    honest = annotate(image, [track], trained=False)
    plain = annotate(image, [track], trained=True)
    band = np.any(honest != plain, axis=2)
    assert band[:20].mean() > 0.5  # a banner across the top, where the trained frame has none
    assert np.array_equal(image, frames[0].image)  # drawing happens on a copy
    assert "meaningless" in UNTRAINED_BANNER


def test_rebuild_swaps_only_what_changed(engine, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("1,-1,10,10,50,100,0.8,-1,-1,-1\n")
    config = PipelineConfig(**{**engine.config.__dict__, "detector": f"file:{other}", "draw": False})
    swapped, restart = rebuild_engine(engine, config)
    assert swapped.estimator is engine.estimator  # the model was not reloaded
    assert swapped.detector is not engine.detector and len(swapped.detector(None, 0)) == 1
    assert swapped.config.draw is False and restart is False
    from core.tracker import TrackerConfig

    _, restart = rebuild_engine(engine, PipelineConfig(**{**engine.config.__dict__,
                                                         "tracker": TrackerConfig(max_age=5)}))  # fmt: skip
    assert restart is True


def test_a_checkpoint_makes_the_weights_trained(tmp_path):
    from core.checkpoint import save_checkpoint
    from core.model import build_model

    path = save_checkpoint(build_model(width=8, input_size=(64, 96)), Path(tmp_path) / "tiny.pt")
    engine = build_engine(PipelineConfig(checkpoint=path, detector="hog", backend="eager"))
    assert engine.trained is True and tuple(engine.estimator.input_size) == (64, 96)
