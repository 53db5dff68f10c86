"""One video's plots over time, as a PNG of fixed width whatever the video's length."""

import cv2
import numpy as np

from core.report.digest import TrackSpan, VideoDigest
from core.report.plots import DPI, MAX_IDENTITIES, WIDTH_IN, identities_shown, timeline_figure
from core.report.series import BinnedSeries


def digest_with(identities: int, seconds: float = 30.0) -> VideoDigest:
    digest = VideoDigest(header={}, fps=25.0, size=(640, 360), records=int(seconds * 25))
    series = [BinnedSeries(digest.interval) for _ in range(3)]
    for k in range(digest.records):
        t = k / 25
        series[0].add(t, 2 + np.sin(t))
        series[1].add(t, 0.7)
        series[2].add(t, 8.0)
    digest.people, digest.confidence, digest.speed = (s.values() for s in series)
    digest.first_time, digest.last_time = 0.0, seconds - 0.04
    digest.tracks = [
        TrackSpan(
            i,
            i * 0.1,
            i * 0.1 + 1 + i % 7,
            10 + i % 7,
            [[i * 0.1, i * 0.1 + 0.5], [i * 0.1 + 0.8, i * 0.1 + 1 + i % 7]],
        )
        for i in range(1, identities + 1)
    ]
    return digest


def decode(picture):
    return cv2.imdecode(np.frombuffer(picture.data, np.uint8), cv2.IMREAD_COLOR)


def test_the_figure_is_a_png_of_fixed_width_growing_with_the_identities():
    few, many = timeline_figure(digest_with(3)), timeline_figure(digest_with(30))
    assert few.mime == "image/png" and few.width == many.width == round(WIDTH_IN * DPI)
    assert many.height > few.height
    assert decode(few).shape == (few.height, few.width, 3)


def test_the_timeline_shows_the_identities_seen_longest_in_order_of_appearance():
    digest = digest_with(MAX_IDENTITIES + 25)
    shown = identities_shown(digest)
    assert len(shown) == MAX_IDENTITIES
    firsts = [span.first for span in shown]
    assert firsts == sorted(firsts)
    least_shown = min(span.frames for span in shown)
    assert all(span.frames <= least_shown for span in digest.tracks if span not in shown)


def test_a_video_without_people_or_speeds_still_plots():
    digest = digest_with(0, seconds=2.0)
    digest.speed = BinnedSeries(digest.interval).values()
    assert decode(timeline_figure(digest)) is not None
