"""Records between stages: a track's state is a named type that still writes as its plain name."""

import json

from core.records import Track, TrackState


def test_a_track_state_writes_and_compares_as_its_plain_name():
    state = Track(id=1, box=None, score=0.9).state
    assert state is TrackState.CONFIRMED and state == "confirmed"
    assert json.dumps({"state": TrackState.LOST}) == '{"state": "lost"}'
    assert f"{TrackState.TENTATIVE}" == str(TrackState.TENTATIVE) == "tentative"
    assert TrackState("merged") is TrackState.MERGED
