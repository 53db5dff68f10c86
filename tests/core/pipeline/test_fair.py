"""The turns between sources in front of the detector: every source gets an equal share, a new one
goes first, a camera is never held up by a file, and a live source's newest frame wins."""

import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

from core.pipeline.fair import FairInbox


@dataclass(eq=False)
class Source:
    """What the inbox reads of a pipeline slot."""

    name: str
    live: bool
    dropped: int = 0
    removed: threading.Event = field(default_factory=threading.Event)


def source(name: str, live: bool) -> Source:
    return Source(name, live)


def item(slot, index=None) -> SimpleNamespace:
    return SimpleNamespace(slot=slot, frame=index)


NEVER = threading.Event()


def nothing_served(inbox: FairInbox, wait: float = 0.3) -> bool:
    """True when no item is handed out within `wait` seconds (nobody's turn)."""
    stop = threading.Event()
    threading.Timer(wait, stop.set).start()
    return inbox.get(stop) is None


def served(inbox: FairInbox, count: int, release: bool = True) -> list[str]:
    """Names (and frame numbers) of the next `count` items, each released after its turn."""
    names = []
    for _ in range(count):
        stop = threading.Event()
        timer = threading.Timer(5.0, stop.set)
        timer.start()
        got = inbox.get(stop)
        timer.cancel()
        assert got is not None, f"nothing served after {names}"
        names.append(f"{got.slot.name}{got.frame}")
        if release and got.frame is not None:
            inbox.release(got.slot)
    return names


def test_a_file_with_frames_always_ready_takes_one_turn_in_four_beside_three_cameras():
    inbox = FairInbox(capacity=4)
    cameras = [source(f"cam-{k}", live=True) for k in "abc"]
    video = source("file", live=False)
    for slot in (video, *cameras):
        inbox.add(slot)
    for index in range(4):
        inbox.put(item(video, index), NEVER)
    turns = []
    for index in range(8):  # each camera has a new frame every turn; the file's queue is kept full
        for camera in cameras:
            inbox.put(item(camera, index), NEVER)
        turns += [got.rstrip("0123456789") for got in served(inbox, 1)]
        if turns[-1] == "file":
            inbox.put(item(video, 4 + index), NEVER)
    counts = {name: turns.count(name) for name in ("cam-a", "cam-b", "cam-c", "file")}
    assert counts == {"cam-a": 2, "cam-b": 2, "cam-c": 2, "file": 2}, turns
    assert turns[:4] == ["cam-a", "cam-b", "cam-c", "file"]  # never served yet: live ones first


def test_a_camera_that_joins_a_running_file_goes_next():
    inbox = FairInbox(capacity=4)
    video = source("file", live=False)
    for index in range(4):
        inbox.put(item(video, index), NEVER)
    assert served(inbox, 2) == ["file0", "file1"]
    camera = source("cam", live=True)
    inbox.add(camera)
    inbox.put(item(camera, 0), NEVER)
    assert served(inbox, 1) == ["cam0"]


def test_a_live_frame_replaces_the_waiting_one_and_waits_while_the_model_has_its_previous():
    inbox = FairInbox(capacity=4)
    camera, video = source("cam", live=True), source("file", live=False)
    inbox.put(item(camera, 0), NEVER)
    inbox.put(item(video, 0), NEVER)
    inbox.put(item(video, 1), NEVER)
    assert served(inbox, 1, release=False) == ["cam0"]  # frame 0 is in the model
    for index in (1, 2, 3):
        inbox.put(item(camera, index), NEVER)
    assert camera.dropped == 2  # frames 1 and 2 were replaced by 3
    assert served(inbox, 2) == ["file0", "file1"]  # the camera is not eligible meanwhile
    inbox.release(camera)  # frame 0 left the model
    assert served(inbox, 1) == ["cam3"]  # the newest frame goes on


def test_a_file_alone_runs_ahead_but_one_frame_each_while_sources_share():
    inbox = FairInbox(capacity=8)
    a = source("a", live=False)
    for index in range(3):
        inbox.put(item(a, index), NEVER)
    assert served(inbox, 3, release=False) == ["a0", "a1", "a2"]  # alone: batches of its own frames
    b = source("b", live=False)
    inbox.put(item(b, 0), NEVER)
    inbox.put(item(b, 1), NEVER)
    inbox.put(item(a, 3), NEVER)
    assert served(inbox, 1, release=False) == ["b0"]
    assert nothing_served(inbox)  # a has 3 in flight, b 1: nobody's turn until one is released
    inbox.release(b)
    assert nothing_served(inbox)  # b may not go again before a, which has a frame waiting
    for _ in range(3):
        inbox.release(a)
    assert served(inbox, 2) == ["a3", "b1"]


def test_a_source_slower_than_its_share_goes_first_whenever_it_has_a_frame_but_is_owed_nothing():
    inbox = FairInbox(capacity=8)
    fast, slow = source("fast", live=False), source("slow", live=True)
    inbox.add(fast)
    inbox.add(slow)
    for index in range(8):
        inbox.put(item(fast, index), NEVER)
    assert served(inbox, 4) == ["fast0", "fast1", "fast2", "fast3"]  # the slow camera has no frame
    inbox.put(item(slow, 0), NEVER)
    inbox.put(item(slow, 1), NEVER)  # replaces frame 0: a camera never builds a backlog
    assert served(inbox, 3) == ["slow1", "fast4", "fast5"]


def test_a_file_reader_waits_for_its_own_queue_only():
    inbox = FairInbox(capacity=2)
    video, camera = source("file", live=False), source("cam", live=True)
    inbox.put(item(video, 0), NEVER)
    inbox.put(item(video, 1), NEVER)
    blocked = threading.Thread(target=inbox.put, args=(item(video, 2), NEVER))
    blocked.start()
    time.sleep(0.2)
    assert blocked.is_alive()  # the file's queue is full: its reader waits
    assert inbox.put(item(camera, 0), NEVER)  # a camera's frame goes in at once
    assert served(inbox, 1) == ["cam0"]
    assert served(inbox, 1) == ["file0"]
    blocked.join(2)
    assert not blocked.is_alive()


def test_end_markers_follow_their_frames_and_end_the_source_s_turns():
    inbox = FairInbox(capacity=4)
    a, b = source("a", live=False), source("b", live=False)
    inbox.put(item(a, 0), NEVER)
    inbox.put(item(a), NEVER)
    inbox.put(item(b, 0), NEVER)
    assert served(inbox, 3) == ["a0", "b0", "aNone"]
    inbox.put(item(b, 1), NEVER)
    inbox.put(item(b, 2), NEVER)
    assert served(inbox, 2, release=False) == ["b1", "b2"]  # alone again: b runs ahead


def test_frames_of_a_removed_source_are_dropped_at_once():
    inbox = FairInbox(capacity=4)
    gone = source("gone", live=False)
    for index in range(3):
        inbox.put(item(gone, index), NEVER)
    gone.removed.set()
    assert inbox.discard(gone) == 3
    assert inbox.put(item(gone, 3), NEVER) and inbox.qsize() == 0  # a late frame never waits
    inbox.put(item(gone), NEVER)
    assert served(inbox, 1) == ["goneNone"]
