"""The stage queues: a live source's newest frame replaces its waiting one; files keep every frame."""

from types import SimpleNamespace

from core.pipeline.stages import Item, StageQueue


def slot(live: bool) -> SimpleNamespace:
    return SimpleNamespace(live=live, dropped=0)


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
