"""`run.py gui --events FILE`: each source's events and numbers as JSON lines, for a day's review
and for the measured protocol (tests/support/app_protocol.py)."""

import itertools
import json

import pytest

PyQt6 = pytest.importorskip("PyQt6")
from app.window import MainWindow, WindowOptions  # noqa: E402
from core.pipeline import PipelineConfig  # noqa: E402
from tests.app.conftest import INPUT_SIZE  # noqa: E402
from tests.support.qt import pipeline_threads, wait_until  # noqa: E402


def test_the_event_log_tells_when_each_frame_and_state_came(qapp, checkpoint, street, tmp_path):
    log = tmp_path / "events.jsonl"
    config = PipelineConfig(checkpoint=checkpoint, width=8, input_size=INPUT_SIZE)
    window = MainWindow(WindowOptions(config, tmp_path, events=log))
    window.show()
    try:
        window.open_sources([str(street)])
        assert wait_until(lambda: "end of file" in window.status_text(), 60), window.status_text()
        # numbers once a second: wait for some taken after frames came out (a short file on a fast
        # machine can end before the first second's numbers, which then say 0 frames)
        assert wait_until(lambda: counted_frames(log, str(street)) >= 1, 5)
    finally:
        window.close()
    assert wait_until(lambda: not pipeline_threads(), 10)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [event["event"] for event in events]
    for kind in ("open", "sources", "first_frame", "stats", "ended", "closed"):
        assert kind in kinds, kinds
    first, ended = events[kinds.index("first_frame")], events[kinds.index("ended")]
    # first frames are logged at the next statistics refresh (0.5 s), a short file may have ended
    # by then: the time it was painted (`at`, the log's clock) is what comes before the end
    assert kinds.index("open") < kinds.index("first_frame") and first["at"] < ended["t"]
    assert first["source"] == str(street) and 0 <= first["after_s"] < 60
    numbers = [e for e in events if e["event"] == "stats"][-1]["sources"][str(street)]
    assert numbers["frames"] >= 1 and {"fps", "dropped", "age_s", "tile_age_s"} <= set(numbers)
    assert all(e["t"] <= f["t"] for e, f in itertools.pairwise(events))  # one clock, in order


def counted_frames(log, source: str) -> int:
    """Frames out in the newest "stats" event of `source` (0 before any)."""
    stats = [json.loads(line) for line in log.read_text().splitlines() if '"stats"' in line]
    return stats[-1]["sources"].get(source, {}).get("frames", 0) if stats else 0
