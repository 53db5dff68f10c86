"""The trackers the bench compares: the `trackers` package's peers when it is installed, one line when
it is not."""

import importlib.util

import numpy as np
import pytest

from core.bench import peers
from core.bench.sequences import load_sequences, score


def test_a_missing_trackers_package_is_one_line_naming_the_bench_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "trackers" else real(name))
    reason = peers.peers_unavailable_reason()
    assert "\n" not in reason and "`trackers` is not installed" in reason and "bench extra" in reason


def test_the_peers_run_on_a_sequence_with_and_without_dropped_frames(shared_data):
    # CI does not install the bench extra (its opencv-python would replace our headless OpenCV), so
    # this runs where `trackers` is installed: on developer machines that run the bench.
    if peers.peers_unavailable_reason() is not None:
        pytest.skip(peers.peers_unavailable_reason())
    (campus,) = load_sequences(shared_data / "mot15", ["TUD-Campus"])
    for name in peers.PEERS:
        every = score(peers.peer(name), campus)
        assert every.mota > 0.4 and every.idf1 > 0.4, name
        half = score(peers.peer(name), campus, np.arange(1, campus.num_frames + 1, 2))
        assert half.frames == (campus.num_frames + 1) // 2 and half.tp > 0, name
