"""The stage threads' batching rule, checked item by item (the threads themselves: test_threaded.py),
and what happens to the frames of a source that leaves (the turns between sources: test_fair.py)."""

import numpy as np

from core.pipeline.models import PipelineConfig
from core.pipeline.stages import Item, Slot, StageThreads
from core.video.sources import Frame

IMAGE = np.zeros((8, 8, 3), np.uint8)


def waiting(work: StageThreads, *items: Item) -> None:
    for item in items:
        work.queues[0].put(item)


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


# ----------------------------------------------------------------- a source that leaves
def test_a_removed_source_s_frames_are_dropped_at_every_stage_and_only_its_end_goes_on():
    work = StageThreads(PipelineConfig(max_batch_frames=8, queue_size=16), None, None, None)
    gone, staying = Slot("gone", None, []), Slot("staying", None, [])
    for item in (frame(gone, 0), frame(gone, 1), frame(staying, 0)):
        work.inbox.put(item, work.stop)
    taken = work.inbox.get(work.stop)  # the detect stage holds gone's frame 0
    taken.holds_place = True
    work.remove(gone)  # what Pipeline.remove_source does
    work.inbox.put(Item(gone), work.stop)  # its reader stops and sends the end marker
    assert work.dropped_on_the_way(taken) and work.inbox.in_flight(gone) == 0  # its place given back
    waiting = [work.inbox.get(work.stop) for _ in range(2)]
    assert keys(waiting) == ["staying0", "goneend"]  # gone's frame 1 was dropped at once
    assert not work.dropped_on_the_way(waiting[1])  # the end marker goes on: it closes the outputs
