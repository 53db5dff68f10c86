"""A time series in fixed memory: per-frame values folded into at most `bins` equal time bins.

A 30-minute video has 54,000 frames at 30 FPS, and a plot a few hundred pixels wide cannot show
more than a few hundred of them anyway. Each bin keeps the count, sum, minimum and maximum of the
values that fell into it, so the plot shows the mean as a line and the range as a band: nothing a
bin hides goes unseen. When time runs past the last bin, neighbouring bins merge pairwise and the
bin width doubles, so the memory is the same for a 10-second clip and a day-long recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_BINS = 600  # about one bin per pixel of a plot at screen resolution


@dataclass(frozen=True)
class BinnedValues:
    """A finished series for plotting: bin centres (s) and per-bin mean, minimum and maximum (NaN
    where a bin saw no value)."""

    times: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    width: float  # seconds a bin spans

    def __len__(self) -> int:
        return len(self.times)

    @property
    def binned(self) -> bool:
        """True when a bin holds more than one frame (then low/high differ from the mean)."""
        return bool(np.any(self.high > self.low))


class BinnedSeries:
    """Values over video time (seconds) in at most `bins` bins of equal width.

    `width` is the first bin width: one frame interval keeps every frame of a short clip apart."""

    def __init__(self, width: float, bins: int = DEFAULT_BINS) -> None:
        if not (width > 0 and math.isfinite(width)) or bins < 2 or bins % 2:
            raise ValueError("the bin width must be positive and the bin count even")
        self.width = float(width)
        self.bins = bins
        self._count = np.zeros(bins, dtype=np.int64)
        self._sum = np.zeros(bins)
        self._low = np.full(bins, np.inf)
        self._high = np.full(bins, -np.inf)
        self.last = -1  # highest bin used

    def add(self, time: float, value: float | None) -> None:
        """One frame's value at `time` s; None, NaN and negative times are ignored."""
        if value is None or not math.isfinite(value) or not math.isfinite(time) or time < 0:
            return
        index = self._index(time)
        while index >= self.bins:
            self._halve()
            index = self._index(time)
        self._count[index] += 1
        self._sum[index] += value
        self._low[index] = min(self._low[index], value)
        self._high[index] = max(self._high[index], value)
        self.last = max(self.last, index)

    def _index(self, time: float) -> int:
        # Frame times are multiples of the first width; the nudge keeps 0.12 / 0.04 in bin 3, not 2.
        return int(time / self.width + 1e-6)

    def _halve(self) -> None:
        """Merge bins pairwise: the width doubles, the first half holds everything."""
        half = self.bins // 2
        self._count[:half] = self._count.reshape(half, 2).sum(axis=1)
        self._sum[:half] = self._sum.reshape(half, 2).sum(axis=1)
        self._low[:half] = self._low.reshape(half, 2).min(axis=1)
        self._high[:half] = self._high.reshape(half, 2).max(axis=1)
        self._count[half:], self._sum[half:] = 0, 0.0
        self._low[half:], self._high[half:] = np.inf, -np.inf
        self.width *= 2
        self.last = self.last // 2 if self.last >= 0 else -1

    def values(self) -> BinnedValues:
        used = self.last + 1
        count = self._count[:used]
        seen = count > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(seen, self._sum[:used] / np.maximum(count, 1), np.nan)
        return BinnedValues(
            times=(np.arange(used) + 0.5) * self.width,
            mean=mean,
            low=np.where(seen, self._low[:used], np.nan),
            high=np.where(seen, self._high[:used], np.nan),
            width=self.width,
        )
