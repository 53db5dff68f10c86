"""A time series in fixed memory: what the report's plots over time are drawn from."""

import numpy as np
import pytest

from core.report.series import BinnedSeries


def test_each_frame_of_a_short_clip_keeps_its_own_bin():
    series = BinnedSeries(width=0.04, bins=600)
    for k in range(10):
        series.add(k * 0.04, float(k))  # 0.12 / 0.04 is 2.9999…: still bin 3
    values = series.values()
    assert len(values) == 10 and not values.binned
    np.testing.assert_allclose(values.mean, np.arange(10.0))
    np.testing.assert_allclose(values.times, (np.arange(10) + 0.5) * 0.04)


def test_a_long_video_merges_bins_and_keeps_sums_and_ranges():
    series = BinnedSeries(width=1.0, bins=8)
    for second in range(100):
        series.add(second, float(second % 10))
    values = series.values()
    assert series.width == 16.0 and len(values) == 7  # 100 s in bins of 16 s, memory never grew
    assert values.binned
    np.testing.assert_allclose(values.low[:6], 0.0)
    np.testing.assert_allclose(values.high[:6], 9.0)
    np.testing.assert_allclose(values.mean[0], np.mean([s % 10 for s in range(16)]))
    np.testing.assert_allclose(values.mean[6], np.mean([s % 10 for s in range(96, 100)]))


def test_missing_values_leave_empty_bins_as_gaps():
    series = BinnedSeries(width=1.0, bins=8)
    for time, value in [(0, 1.0), (1, None), (2, float("nan")), (3, 2.0), (-1, 5.0)]:
        series.add(time, value)
    values = series.values()
    assert np.isnan(values.mean[1]) and np.isnan(values.mean[2])
    np.testing.assert_allclose(values.mean[[0, 3]], [1.0, 2.0])


def test_an_empty_series_has_no_bins():
    assert len(BinnedSeries(0.04).values()) == 0


@pytest.mark.parametrize(("width", "bins"), [(0.0, 8), (float("nan"), 8), (1.0, 7), (1.0, 0)])
def test_bad_settings_are_refused(width, bins):
    with pytest.raises(ValueError):
        BinnedSeries(width, bins)
