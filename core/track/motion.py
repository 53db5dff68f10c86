"""The motion models a track's box filter can follow, by name, each in two engines: "numpy" steps all
tracks of a frame at once, "filterpy" steps filterpy's filters one track at a time (the reference).

- "steady": one constant-velocity Kalman filter, a steady walker's velocity noise (core.track.kalman);
- "imm": a steady walker and a manoeuvring person mixed per track and moment (core.track.imm).
"""

import numpy as np

from core.track.imm import BoxIMM, FilterPyBoxIMM
from core.track.kalman import BoxKalman, FilterPyBoxKalman

MOTION_MODELS: dict[str, dict[str, type[BoxKalman]]] = {
    "steady": {"numpy": BoxKalman, "filterpy": FilterPyBoxKalman},
    "imm": {"numpy": BoxIMM, "filterpy": FilterPyBoxIMM},
}
ENGINES = ("numpy", "filterpy")


def engine(config) -> type[BoxKalman]:
    """The filter class a TrackerConfig asks for (its `motion` and `kalman`)."""
    return MOTION_MODELS[config.motion][config.kalman]


def new_filter(box: np.ndarray, config) -> BoxKalman:
    """A new track's box filter, with the TrackerConfig's noise settings."""
    noise = [config.position_weight, config.velocity_noise, config.position_noise]
    if config.motion == "imm":
        noise += [config.manoeuvre_noise, config.steady_time, config.manoeuvre_time]
    return engine(config)(box, *noise)
