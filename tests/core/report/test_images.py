"""The report's pictures from video frames, and how pictures are packed into the page."""

import base64

import cv2
import numpy as np
import pytest

from core.report.images import (
    colormap_stops,
    draw_record,
    heat_map,
    jpeg,
    palette_png,
    read_frames,
    resize_to_width,
    spread,
)


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory):
    """Frame k is filled with grey level 2k, so a frame read back tells its position."""
    path = tmp_path_factory.mktemp("video") / "numbered.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    for k in range(120):
        writer.write(np.full((48, 64, 3), 2 * k, np.uint8))
    writer.release()
    return path


def test_frames_are_read_at_their_positions_near_by_reading_far_by_seeking(numbered_video):
    frames = read_frames(numbered_video, [100, 3, 5, 60, 119, 500])
    assert sorted(frames) == [3, 5, 60, 100, 119]  # position 500 does not exist: left out
    for position, image in frames.items():
        assert abs(float(image.mean()) - 2 * position) < 3, position


def test_an_unreadable_file_gives_no_frames(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    assert read_frames(tmp_path / "x.mp4", [0, 1]) == {}


def test_spread_takes_the_middle_of_equal_parts():
    assert spread(6, 120) == [10, 30, 50, 70, 90, 110]
    assert spread(6, 3) == [0, 1, 2] and spread(6, 0) == []


def test_a_record_is_drawn_like_track_draws_it():
    image = np.zeros((100, 100, 3), np.uint8)
    keypoints = [[50.0, 20 + 4 * i, 0.9] for i in range(17)]
    record = {"tracks": [{"id": 3, "box": [30, 10, 70, 95], "score": 0.9, "keypoints": keypoints}]}
    drawn = draw_record(image, record)
    assert drawn.any() and not image.any()  # drawn on a copy
    assert not draw_record(image, {"tracks": [{"id": 1, "box": None}]}).any()


def test_the_heat_map_glows_where_people_stood_over_a_greyed_frame():
    background = np.zeros((90, 160, 3), np.uint8)
    background[..., 2] = 200  # red: the heat map's background is grey, whatever the colours were
    grid = np.zeros((9, 16))
    grid[6, 12] = 40
    image = heat_map(background, grid, (160, 90), width=320)
    assert image.shape == (180, 320, 3)
    hot = image[int(6.5 * 20), int(12.5 * 20)].astype(int)
    cold = image[20, 20].astype(int)
    assert hot.sum() > 3 * cold.sum()
    assert abs(cold[0] - cold[2]) <= 2  # grey where nobody stood
    assert heat_map(None, np.zeros((9, 16)), (160, 90), 100).shape == (56, 100, 3)


def test_pictures_carry_their_size_and_decode_from_their_data_uri():
    image = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    picture = jpeg(image, 80)
    assert (picture.width, picture.height, picture.mime) == (40, 30, "image/jpeg")
    data = base64.b64decode(picture.uri.split(",", 1)[1])
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (30, 40, 3)
    plot = palette_png(np.dstack([image, np.full((30, 40), 255, np.uint8)]))
    assert plot.data.startswith(b"\x89PNG") and (plot.width, plot.height) == (40, 30)


def test_resizing_only_shrinks_and_the_legend_runs_dark_to_bright():
    image = np.zeros((100, 200, 3), np.uint8)
    assert resize_to_width(image, 50).shape == (25, 50, 3)
    assert resize_to_width(image, 400) is image
    stops = colormap_stops(3)
    assert len(stops) == 3 and all(s.startswith("#") and len(s) == 7 for s in stops)
    assert sum(int(stops[0][i : i + 2], 16) for i in (1, 3, 5)) < sum(
        int(stops[-1][i : i + 2], 16) for i in (1, 3, 5)
    )
