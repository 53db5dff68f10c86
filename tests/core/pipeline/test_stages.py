"""The stage threads' batching rule, checked item by item (the threads themselves: test_pipeline.py),
and the live rule: a live source's newest frame replaces its waiting one."""

import threading
from types import SimpleNamespace

import numpy as np

from core.pipeline.models import PipelineConfig
from core.pipeline.stages import Item, Slot, StageQueue, StageThreads
from core.video.sources import Frame

IMAGE = np.zeros((8, 8, 3), np.uint8)


def waiting(work: StageThreads, *items: Item) -> None:
    for item in items:
        work.queues[1].put(item)


def frame(slot: Slot, index: int, detected: bool = True) -> Item:
    """A frame after the detect stage: with detections, or (interval) to follow the previous poses."""
    return Item(slot, Frame(index, index / 25, IMAGE, slot.key), detections=[] if detected else None)


def keys(batch: list[Item]) -> list[str]:
    return [f"{item.slot.key}{'end' if item.frame is None else item.frame.index}" for item in batch]


def test_the_pose_stage_takes_every_waiting_frame_of_every_source_into_one_batch():
    work = StageThreads(PipelineConfig(max_batch_frames=8, queue_size=16), None, None, None)
    a, b = Slot("a", None, []), Slot("b", None, [])
    waiting(work, frame(a, 0), frame(b, 0), frame(a, 1), frame(b, 1))
    assert keys(work.next_batch()) == ["a0", "b0", "a1", "b1"]


def test_a_frame_that_follows_poses_waits_for_its_predecessor_of_the_same_source():
    work = StageThreads(PipelineConfig(max_batch_frames=8, queue_size=16), None, None, None)
    a, b = Slot("a", None, []), Slot("b", None, [])
    waiting(work, frame(a, 0), frame(b, 0), frame(a, 1, detected=False), frame(b, 1))
    assert keys(work.next_batch()) == ["a0", "b0"]  # a1 needs a0's poses
    assert keys(work.next_batch()) == ["a1", "b1"]  # an interval frame may lead a batch


def test_batches_stop_at_the_frame_limit_and_at_an_end_marker():
    work = StageThreads(PipelineConfig(max_batch_frames=2, queue_size=16), None, None, None)
    a = Slot("a", None, [])
    waiting(work, frame(a, 0), frame(a, 1), frame(a, 2), Item(a), frame(a, 3))
    assert keys(work.next_batch()) == ["a0", "a1"]
    assert keys(work.next_batch()) == ["a2"]
    assert keys(work.next_batch()) == ["aend"]  # the end marker travels alone, after its frames
    assert keys(work.next_batch()) == ["a3"]
    work.stop.set()
    assert work.next_batch() is None  # a stopped pipeline's pose stage returns


# ----------------------------------------------------------------- live sources: newest frame wins
def slot(live: bool) -> SimpleNamespace:
    return SimpleNamespace(live=live, dropped=0)


def test_a_live_source_never_has_two_frames_in_one_batch():
    work = StageThreads(PipelineConfig(max_batch_frames=8, queue_size=16), None, None, None)
    camera, video = Slot("c", SimpleNamespace(is_live=True), []), Slot("v", None, [])
    for item in (frame(camera, 0), frame(video, 0), frame(video, 1)):
        work.queues[1].put(item)
    work.put(work.queues[1], frame(camera, 1))  # replaces c0, which is still waiting
    assert keys(work.next_batch()) == ["v0", "v1", "c1"] and camera.dropped == 1


def test_a_live_frame_replaces_the_waiting_one_of_its_source_and_counts_it_dropped():
    camera, other, video = slot(True), slot(True), slot(False)
    queue = StageQueue(3)
    queue.put(Item(camera, frame="c0"))
    queue.put(Item(video, frame="v0"))
    queue.put(Item(other, frame="o0"))
    assert queue.full()
    assert queue.replace_waiting(Item(camera, frame="c1"))  # room or not, the newest frame wins
    assert not queue.replace_waiting(Item(video, frame="v1"))  # a file never replaces a frame
    assert [(item.frame) for item in list(queue.queue)] == ["v0", "o0", "c1"]
    assert camera.dropped == 1 and video.dropped == 0 and other.dropped == 0


def test_an_end_marker_never_replaces_a_frame():
    camera = slot(True)
    queue = StageQueue(4)
    queue.put(Item(camera, frame="c0"))
    queue.put(Item(camera))  # the end of the source travels behind its last frame
    assert [item.frame for item in list(queue.queue)] == ["c0", None] and camera.dropped == 0


def test_a_live_frame_waits_for_the_pose_model_and_the_newest_frame_goes_on_instead():
    """While the model works on a live source's frame, the next frame is held at the detect stage;
    when the model is free, the newest frame captured meanwhile goes on and the held ones count as
    dropped, so what reaches the screen is as fresh as the model allows."""
    work = StageThreads(PipelineConfig(queue_size=8), None, None, None)
    camera = Slot("cam", SimpleNamespace(is_live=True), [])
    assert camera.live
    held = frame(camera, 1)
    for index in (2, 3, 4):
        work.queues[0].put(frame(camera, index))
    camera.pose_free.clear()  # frame 0 is in the model
    threading.Timer(0.2, camera.pose_free.set).start()
    chosen = work.newest_when_pose_is_free(work.queues[0], held)
    assert chosen.frame.index == 4 and camera.dropped == 3
    assert work.queues[0].empty()


def test_a_live_frame_goes_on_at_once_when_the_model_is_free_and_nothing_newer_waits():
    work = StageThreads(PipelineConfig(queue_size=8), None, None, None)
    camera = Slot("cam", SimpleNamespace(is_live=True), [])
    held = frame(camera, 1)
    work.queues[0].put(Item(camera))  # its end marker stays where it is
    assert work.newest_when_pose_is_free(work.queues[0], held) is held
    assert camera.dropped == 0 and work.queues[0].qsize() == 1
