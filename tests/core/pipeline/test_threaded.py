"""The threaded pipeline: order, per-source state, statistics, stop/pause/reconfigure, crash safety.

Plumbing only, so the pose model is a tiny untrained HRNet (width 8) and detections come from a
MOTChallenge file written here (fast and deterministic); everything else is the real code.
"""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.detect import boxes_from_poses
from core.model.hrnet import build_model
from core.pipeline import (
    Models,
    Pipeline,
    PipelineConfig,
    build_models,
    new_tracker,
    sequential_step,
)
from core.pose import codec
from core.pose.estimator import PoseEstimator
from core.video.drawing import DrawStyle
from core.video.formats import open_sinks, partial_files
from core.video.sources import open_source
from tests.support.helpers import loop_video

torch.set_num_threads(1)

# Two people walking right, a third standing: inside both shared videos (960×540 and 1280×720).
BOXES = [(100, 120, 180, 400), (400, 100, 490, 420), (700, 150, 770, 380)]


def write_detections(path: Path, frames: int, shift: float = 4.0, boxes=BOXES) -> Path:
    rows = []
    for index in range(frames):
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            dx = shift * index if k < 2 else 0.0
            rows.append(f"{index + 1},-1,{x1 + dx:.1f},{y1},{x2 - x1},{y2 - y1},0.9,-1,-1,-1")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def detections(tmp_path_factory) -> Path:
    return write_detections(tmp_path_factory.mktemp("det") / "det.txt", 400)


@pytest.fixture(scope="module")
def models(detections):
    config = PipelineConfig(width=8, input_size=(64, 96), detector=f"file:{detections}", batch_size=16)
    return build_models(config)


@pytest.fixture(scope="module")
def street(shared_data) -> Path:
    return shared_data / "video" / "street.mp4"


@pytest.fixture(scope="module")
def soccer(shared_data) -> Path:
    return shared_data / "video" / "soccer.mp4"


def jsonl_sinks(out: Path):
    def factory(source):
        return open_sinks(out, Path(source.name).stem, {"jsonl"}, source.fps or 25.0, source.size)

    return factory


def frame_lines(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if "frame" in r]


def test_frames_leave_in_order_with_tracks_and_annotated_images(models, street):
    pipeline = Pipeline(models.config, [open_source(str(street))], models=models)
    results = pipeline.results()  # asked before start: sees every frame
    with pipeline:
        got = list(results)
        pipeline.wait(30)
    assert [r.frame.index for r in got] == list(range(5))
    assert all(r.annotated is not None and r.annotated.shape == r.frame.image.shape for r in got)
    assert all(len(r.poses) == 3 for r in got)  # one pose per detected box
    ids = [sorted(t.id for t in r.tracks) for r in got]
    assert ids[-1] == [1, 2, 3] and ids[0] == ids[-1]  # same people, same IDs throughout
    assert got[-1].stats.frames == 5 and got[-1].stats.people == pytest.approx(3.0)
    assert all(not t.is_alive() for t in pipeline._threads)


def confident_estimator(street: Path) -> PoseEstimator:
    """An untrained model whose output is rescaled so its (meaningless) keypoints score above the
    threshold of boxes_from_poses: frames between detections then really follow the poses."""
    torch.manual_seed(0)
    model = build_model(width=8, input_size=(64, 96)).eval()
    image = next(iter(open_source(str(street)))).image
    crops, _, _ = codec.crop_boxes(image, np.array(BOXES, float), (64, 96))
    with torch.no_grad():
        model.final_layer.weight.mul_(1.0 / float(model(codec.normalize_crops(crops)).std()))
    return PoseEstimator(model, backend="eager", precision="fp32", trained=False)


def test_pipelined_outputs_equal_the_sequential_loop(models, tmp_path, street):
    """Same frames, boxes and IDs as one thread doing every stage in turn: threads change timing only.
    With interval 3, frames in between take their boxes from the previous poses, so a frame may not
    share a model batch with the frame before it from the same source."""
    video = loop_video(tmp_path / "clip.mp4", street, 24)
    config = PipelineConfig(
        width=8,
        input_size=(64, 96),
        detector=models.config.detector,
        interval=3,
        queue_size=2,
        max_batch_frames=4,
    )
    models3 = Models(confident_estimator(street), models.detector, False, config)

    reference, state, tracker, followed = [], {}, new_tracker(config), 0
    for frame in open_source(str(video)):
        from_poses = boxes_from_poses(state.get("poses", []), image_size=frame.image.shape[1::-1])
        followed += frame.index % 3 != 0 and len(from_poses) > 0
        _, tracks, _ = sequential_step(models3, state, frame, tracker)
        reference.append([(t.id, np.round(t.box, 3).tolist()) for t in tracks])
    assert followed >= 8  # most in-between frames took their boxes from poses

    threaded = []

    def collect(result):
        threaded.append([(t.id, np.round(t.box, 3).tolist()) for t in result.tracks])

    pipeline = Pipeline(config, [open_source(str(video))], collect, models=models3)
    pipeline.run()
    assert len(threaded) == len(reference) == 24
    assert threaded == reference


def test_two_sources_share_the_pose_batches_but_keep_their_own_tracks_and_stats(models, street, soccer):
    calls = []
    estimate_batch = models.estimator.estimate_batch

    class RecordingEstimator:  # the real estimator, with its calls counted
        trained = models.estimator.trained

        def estimate_batch(self, frames, boxes, scores):
            calls.append(len(frames))
            return estimate_batch(frames, boxes, scores)

    config = PipelineConfig(**{**models.config.__dict__, "queue_size": 2})
    recording = type(models)(RecordingEstimator(), models.detector, models.trained, config)
    first = threading.Event()

    def slow_start(result):  # hold the sink once so frames of both sources pile up before the model
        if not first.is_set():
            first.set()
            time.sleep(1.0)

    sources = [open_source(str(street)), open_source(str(soccer))]
    pipeline = Pipeline(config, sources, slow_start, models=recording)
    per_source: dict[str, list] = {}
    results = pipeline.results()
    with pipeline:
        for r in results:
            per_source.setdefault(r.source, []).append(r)
    assert set(per_source) == {str(street), str(soccer)}
    for got in per_source.values():
        assert [r.frame.index for r in got] == list(range(5))  # order kept per source
        assert sorted(t.id for t in got[-1].tracks) == [1, 2, 3]  # each source has its own tracker
    stats = pipeline.stats()
    assert set(stats) == {str(street), str(soccer)}
    assert all(s.frames == 5 and s.tracks == 3 and s.dropped == 0 for s in stats.values())
    assert sum(calls) == 10 and max(calls) >= 2  # crops of several frames went through one call


def test_stats_give_p50_and_p95_for_every_stage(models, street):
    pipeline = Pipeline(models.config, [open_source(str(street))], models=models)
    stats = pipeline.run()[str(street)]
    for stage in ("capture", "detect", "pose", "track", "draw", "sink", "total"):
        latency = stats.stages[stage]
        assert latency.p50_ms is not None and 0 <= latency.p50_ms <= latency.p95_ms, stage
    assert stats.frames == 5 and stats.people == pytest.approx(3.0) and stats.mean_fps > 0


def test_stop_mid_run_ends_every_thread_and_finalises_the_outputs(models, tmp_path, shared_data):
    video = loop_video(tmp_path / "long.mp4", shared_data / "video" / "street.mp4", 300)
    out = tmp_path / "out"
    seen = threading.Event()
    count = []

    def on_result(result):
        count.append(result.frame.index)
        if len(count) == 5:
            seen.set()

    pipeline = Pipeline(
        models.config, [open_source(str(video))], on_result, models=models, sink_factory=jsonl_sinks(out)
    )
    pipeline.start()
    assert seen.wait(30)
    pipeline.stop()
    lines = frame_lines(out / "long.jsonl")
    assert 5 <= len(lines) < 300 and len(lines) == len(count)
    assert [r["frame"] for r in lines] == list(range(len(lines)))
    assert not partial_files(out, "long")
    assert all(not t.is_alive() for t in threading.enumerate() if t.name.startswith("pipeline-"))


def test_stop_that_discards_leaves_no_output_of_an_unfinished_file(models, tmp_path, shared_data):
    video = loop_video(tmp_path / "long.mp4", shared_data / "video" / "street.mp4", 300)
    out = tmp_path / "out"
    seen = threading.Event()
    pipeline = Pipeline(
        models.config,
        [open_source(str(video))],
        lambda r: seen.set(),
        models=models,
        sink_factory=jsonl_sinks(out),
    )
    pipeline.start()
    assert seen.wait(30)
    pipeline.stop(discard_incomplete=True)  # what Ctrl-C does in `run.py track`
    assert list(out.iterdir()) == []


def test_a_crashing_stage_aborts_the_outputs_and_reports_the_error(models, tmp_path, street):
    out = tmp_path / "out"

    def broken_consumer(result):
        if result.frame.index == 2:
            raise RuntimeError("consumer broke")

    pipeline = Pipeline(
        models.config,
        [open_source(str(street))],
        broken_consumer,
        models=models,
        sink_factory=jsonl_sinks(out),
    )
    with pytest.raises(RuntimeError, match="consumer broke"):
        pipeline.run()
    assert list(out.iterdir()) == []  # neither a final file nor a temporary one


def test_pause_holds_frames_and_resume_finishes(models, tmp_path, shared_data):
    video = loop_video(tmp_path / "clip.mp4", shared_data / "video" / "street.mp4", 80)
    done = []
    pipeline = Pipeline(
        models.config, [open_source(str(video))], lambda r: done.append(r.frame.index), models=models
    )
    pipeline.start()
    while not done:
        time.sleep(0.01)
    pipeline.pause()
    held, deadline = -1, time.monotonic() + 30
    while held != len(done) and time.monotonic() < deadline:  # frames already inside drain
        held = len(done)
        time.sleep(1.0)
    assert len(done) == held < 80  # nothing new while paused
    pipeline.resume()
    assert pipeline.wait(60)
    pipeline.stop()
    assert done == list(range(80))


def test_reconfigure_swaps_the_detector_between_frames(models, tmp_path, shared_data):
    video = loop_video(tmp_path / "clip.mp4", shared_data / "video" / "street.mp4", 60)
    other = write_detections(tmp_path / "other.txt", 60, boxes=[(500, 20, 560, 170)])
    boxes_per_frame = {}

    def collect(result):
        boxes_per_frame[result.frame.index] = len(result.poses)

    pipeline = Pipeline(models.config, [open_source(str(video))], collect, models=models)
    pipeline.start()
    while len(boxes_per_frame) < 5:
        time.sleep(0.01)
    pipeline.reconfigure(detector=f"file:{other}")
    assert pipeline.wait(60)
    pipeline.stop()
    counts = [boxes_per_frame[i] for i in range(60)]  # every frame arrived, in order
    assert counts[0] == 3 and counts[-1] == 1
    switch = counts.index(1)
    assert set(counts[:switch]) == {3} and set(counts[switch:]) == {1}  # one clean switch
    assert pipeline.config.detector == f"file:{other}"


def test_sources_join_and_leave_while_running(models, tmp_path, shared_data, street):
    video = loop_video(tmp_path / "long.mp4", shared_data / "video" / "street.mp4", 300)
    out = tmp_path / "out"
    long_source = open_source(str(video))
    pipeline = Pipeline(models.config, [long_source], models=models, sink_factory=jsonl_sinks(out))
    pipeline.start()
    short_source = open_source(str(street))
    pipeline.set_sources([long_source, short_source])  # a second camera joins
    time.sleep(0.3)
    pipeline.set_sources([short_source])  # the first leaves: its outputs are finalised
    assert pipeline.wait(60)
    pipeline.stop()
    stats = pipeline.stats()
    assert stats[str(street)].frames == 5
    assert 0 < stats[str(video)].frames < 300
    assert len(frame_lines(out / "long.jsonl")) == stats[str(video)].frames
    assert len(frame_lines(out / "street.jsonl")) == 5


def test_a_new_drawing_style_applies_between_frames_without_touching_the_models(models, tmp_path, street):
    """The app's display control: the style is swapped while frames flow; the next frames are drawn
    with it, and the models (and the configuration) stay the very same objects."""
    video = loop_video(tmp_path / "clip.mp4", street, 24)
    results = []

    def on_result(result) -> None:
        results.append(result)
        if len(results) == 2:
            pipeline.style = DrawStyle(hud=False)

    pipeline = Pipeline(models.config, [open_source(str(video))], on_result, models=models)
    config = pipeline.config
    with pipeline:
        pipeline.wait(60)
    assert pipeline.models is models and pipeline.config is config
    banner = [not np.array_equal(r.annotated[:12], r.frame.image[:12]) for r in results]
    assert banner[0] and not banner[-1]  # untrained: a banner burned in, until the HUD was turned off
    assert banner == sorted(banner, reverse=True)  # switched once, between two frames


class PacedCamera:
    """A camera for the pipeline's real FrameSource: `fps` frames a second of one image, forever."""

    def __init__(self, image: np.ndarray, fps: float = 25.0) -> None:
        self.image, self.period, self.next = image, 1.0 / fps, time.monotonic()

    def read(self):
        self.next += self.period
        time.sleep(max(0.0, self.next - time.monotonic()))
        return self.image, None

    def release(self) -> None:
        pass


def camera_source(name: str, image: np.ndarray):
    from core.video.capture import Probe
    from core.video.sources import FrameSource

    return FrameSource(Probe(name, "webcam", PacedCamera(image), image, None, True, 25.0, None))


def slow_models(models, seconds: float):
    """The real models, with every pose batch taking at least `seconds` (a big model on a CPU)."""

    class SlowEstimator:
        trained = models.estimator.trained

        def estimate_batch(self, frames, boxes, scores):
            time.sleep(seconds)
            return models.estimator.estimate_batch(frames, boxes, scores)

    config = PipelineConfig(**{**models.config.__dict__, "queue_size": 4})
    return Models(SlowEstimator(), models.detector, models.trained, config)


def test_a_file_never_starves_the_cameras_beside_it_and_a_new_camera_goes_next(models, tmp_path, street):
    """Issue 20: three cameras showed 0-1 frames in 3.5 minutes while a file played in the same
    window. Each source now gets an equal share of the pose stage, and a camera that joins is next."""
    video = loop_video(tmp_path / "long.mp4", street, 400)
    slow = slow_models(models, 0.05)
    image = next(iter(open_source(str(street)))).image
    shown: dict[str, list[float]] = {}
    pipeline = Pipeline(
        slow.config,
        [open_source(str(video))],
        lambda r: shown.setdefault(r.source, []).append(time.monotonic()),
        models=slow,
    )
    pipeline.start()
    try:
        time.sleep(0.5)  # the file runs alone and fills every queue
        joined = time.monotonic()
        for name in ("cam-a", "cam-b", "cam-c"):
            pipeline.add_source(camera_source(name, image))
        time.sleep(1.0)  # the file's frames from before the cameras came drain meanwhile
        settled = time.monotonic()
        time.sleep(2.5)
        counts = {key: sum(1 for t in times if t > settled) for key, times in shown.items()}
        cameras = [counts.get(name, 0) for name in ("cam-a", "cam-b", "cam-c")]
        assert min(cameras) >= 0.8 * counts[str(video)] and counts[str(video)] > 3, counts
        firsts = [shown[name][0] - joined for name in ("cam-a", "cam-b", "cam-c")]
        assert max(firsts) < 2.0, firsts  # behind at most the file's frames already past the detector
        stats = pipeline.stats()
        assert all(stats[name].dropped > 0 for name in ("cam-a", "cam-b", "cam-c"))  # newest frame wins

        # The file leaves: its frames still inside are dropped at once, the cameras never wait for them.
        removed = time.monotonic()
        pipeline.remove_source(str(video))
        slot = next(s for s in pipeline._slots if s.key == str(video))
        assert slot.done.wait(2.0) and time.monotonic() - removed < 1.0
    finally:
        pipeline.stop()


def test_a_source_opened_again_keeps_its_name(models, street):
    pipeline = Pipeline(models.config, models=models).start()
    try:
        first = pipeline.add_source(open_source(str(street)))
        assert pipeline.add_source(open_source(str(street))) == f"{street} (2)"  # two at once: told apart
        pipeline.remove_source(first)
        pipeline.remove_source(f"{street} (2)")
        assert pipeline.wait(10)
        assert pipeline.add_source(open_source(str(street))) == str(street)  # no "#2" on a re-opened one
    finally:
        pipeline.stop()
