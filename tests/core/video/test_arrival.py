"""A live frame's arrival comes from its stream timestamp: frames that waited in FFmpeg's buffer
count their wait in the on-screen latency; no timestamps, no change."""

import pytest

from core.video.arrival import ArrivalClock


def test_frames_read_late_out_of_a_buffer_keep_their_arrival_time():
    clock = ArrivalClock()
    # 25 fps read on time for 2 s (timestamps 1000 ms ahead of the machine's clock) ...
    for k in range(50):
        assert clock.arrived(10.0 + k / 25, 1000 * (11.0 + k / 25)) == pytest.approx(10.0 + k / 25)
    # ... then a 1 s stall of the reader: the next frames come out of the buffer at once
    late = [clock.arrived(13.0 + k * 0.001, 1000 * (13.0 + k / 25)) for k in range(25)]
    assert late[0] == pytest.approx(12.0) and late[24] == pytest.approx(12.96)  # they came 1 s ago


def test_without_usable_timestamps_the_hand_over_time_stands():
    clock = ArrivalClock()
    assert clock.arrived(5.0, None) == 5.0
    assert clock.arrived(5.1, 0.0) == 5.1  # webcams without timestamps report 0
    clock.arrived(6.0, 1000.0)
    assert clock.arrived(6.04, 90_000.0) == 6.04  # a jump: a new stream after a reconnect


def test_the_smallest_delay_is_forgotten_after_the_window():
    clock = ArrivalClock(window=10.0)
    clock.arrived(0.0, 1000.0)  # a delay (offset) of -1 s, once
    for k in range(1, 400):  # then every frame 0.2 s later than that (a camera clock running slow)
        arrived = clock.arrived(k / 25, 1000.0 + k / 25 * 1000 - 200)
    assert arrived == pytest.approx(399 / 25)  # the old minimum no longer counts
