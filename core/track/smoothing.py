"""One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), vectorised over any array of coordinates.

A low-pass filter whose cutoff rises with speed: a still joint is smoothed hard (jitter removed), a
fast joint barely (no lag). One filter object holds the state of every element of the array it is
given, e.g. a person's 17 × 2 keypoint coordinates.

`scale` divides the speed before it adapts the cutoff, so `beta` can be stated in box heights per
second rather than pixels per second and the filter behaves the same for people near and far.
"""

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """`filter(x, t, scale=1.0) -> smoothed x`; x keeps its shape from call to call.

    min_cutoff (Hz): cutoff at rest; lower removes more jitter but lags slow motion.
    beta: how fast the cutoff rises with speed (per unit of speed / scale); higher lags less.
    d_cutoff (Hz): cutoff of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 3.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("One-Euro filter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or self.x.shape != x.shape or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        speed = (x - self.x) / dt
        self.dx = self.dx + _alpha(self.d_cutoff, dt) * (speed - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx) / max(scale, 1e-9)
        self.x = self.x + _alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x.copy()
