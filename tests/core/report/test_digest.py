"""Reading a `track` JSONL into what the report shows: counts, identities with their gaps, where
people stood, and the series over time, in seconds of the video's own timestamps."""

import json

import numpy as np
import pytest

from core.keypoints import NAMES
from core.records import Track
from core.report.digest import MAX_SEGMENTS, foot_point, read_digest
from core.video import Frame
from core.video.sinks import JsonlSink

ANKLES = (NAMES.index("left_ankle"), NAMES.index("right_ankle"))


def person(track_id: int, x: float, score: float = 0.9) -> Track:
    keypoints = np.zeros((len(NAMES), 3))
    keypoints[:, :2] = (x + 10, 50)
    keypoints[:, 2] = score
    keypoints[ANKLES[0]] = (x + 4, 98, score)
    keypoints[ANKLES[1]] = (x + 16, 98, score)
    return Track(track_id, np.array([x, 20, x + 20, 100.0]), 0.9, keypoints)


def write_jsonl(path, frames: list[list[Track]], fps: float = 10.0, header: bool = True):
    meta = {"source": "a.mp4", "weights": "trained", "fps": fps, "size": [200, 100], "keypoints": list(NAMES)}
    with JsonlSink(path, header=meta if header else None) as sink:
        for index, tracks in enumerate(frames):
            sink.write(Frame(index, index / fps, np.zeros((100, 200, 3), np.uint8), "a", fps=5.0), tracks)
    return path


def test_counts_identities_and_gaps_in_seconds_of_video(tmp_path):
    frames = [[person(1, 10), person(2, 100)] if k not in (3, 4) else [person(2, 100)] for k in range(10)]
    frames += [[person(3, 50)]]
    digest = read_digest(write_jsonl(tmp_path / "a.jsonl", frames))
    assert digest.fps == 10.0 and digest.size == (200, 100)
    assert digest.duration == pytest.approx(1.1)  # 11 frames at 10 FPS
    counts = digest.counts()
    assert counts["frames"] == 11 and counts["people_frames"] == 19 and counts["identities"] == 3
    spans = {span.id: span for span in digest.tracks}
    assert spans[1].segments == [[0.0, 0.2], [0.5, 0.9]]  # missing from frames 3 and 4: a gap
    assert spans[2].segments == [[0.0, 0.9]] and spans[2].frames == 10
    assert counts["longest_track_s"] == pytest.approx(1.0)
    assert counts["median_track_s"] == pytest.approx(1.0)  # 1.0, 1.0 and 0.1 s
    assert np.nanmax(digest.people.mean) == 2 and np.nanmin(digest.people.mean) == 1
    np.testing.assert_allclose(digest.confidence.mean, 0.9)
    np.testing.assert_allclose(digest.speed.mean[1:], 5.0)


def test_foot_points_come_from_confident_ankles_else_the_box(tmp_path):
    sure, unsure = person(1, 10, 0.9), person(2, 100, 0.1)
    as_json = [json.loads(line) for line in write_jsonl(tmp_path / "a.jsonl", [[sure, unsure]]).open()][1]
    assert foot_point(as_json["tracks"][0], ANKLES) == pytest.approx((20.0, 98.0))  # between the ankles
    assert foot_point(as_json["tracks"][1], ANKLES) == pytest.approx((110.0, 100.0))  # box bottom centre
    assert foot_point({"box": [0, 0, 10, 10], "keypoints": None}, ANKLES) == (5.0, 10)
    assert foot_point({"box": None}, ANKLES) is None


def test_the_heat_grid_counts_every_person_frame(tmp_path):
    frames = [[person(1, 10), person(2, 150)] for _ in range(6)]
    digest = read_digest(write_jsonl(tmp_path / "a.jsonl", frames))
    assert digest.heat.sum() == 12
    assert digest.heat.shape[1] > digest.heat.shape[0]  # the grid has the frame's shape (200 x 100)
    row, col = np.unravel_index(np.argmax(digest.heat), digest.heat.shape)
    assert digest.heat[row, col] == 6


def test_kept_records_are_whole_for_thumbnails(tmp_path):
    frames = [[person(1, 10 * k)] for k in range(8)]
    digest = read_digest(write_jsonl(tmp_path / "a.jsonl", frames), keep=[0, 5])
    assert sorted(digest.kept) == [0, 5]
    assert digest.kept[5]["frame"] == 5 and digest.kept[5]["tracks"][0]["box"][0] == 50


def test_a_flickering_identity_keeps_bounded_segments_spanning_its_life(tmp_path):
    frames = [[person(1, 10)] if k % 2 == 0 else [] for k in range(2 * MAX_SEGMENTS + 50)]
    digest = read_digest(write_jsonl(tmp_path / "a.jsonl", frames))
    span = digest.tracks[0]
    assert len(span.segments) == MAX_SEGMENTS
    assert span.segments[0][0] == 0.0 and span.segments[-1][1] == pytest.approx(span.last)


def test_odd_lines_are_counted_and_a_file_without_header_still_reads(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [[person(1, 10)]] * 3, header=False)
    with path.open("a") as file:
        file.write("not json\n[1, 2]\n\n")
    digest = read_digest(path)
    assert digest.records == 3 and digest.bad_lines == 2
    assert digest.fps == 25.0 and digest.size is None and digest.heat is None


def test_an_empty_jsonl_is_an_empty_digest(tmp_path):
    digest = read_digest(write_jsonl(tmp_path / "a.jsonl", []))
    assert digest.records == 0 and digest.duration == 0.0 and digest.tracks == []
    assert digest.counts()["longest_track_s"] is None
