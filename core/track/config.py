"""The tracker's settings (`TrackerConfig`): every default with the reason for it, in time units, and the
range checks that turn a bad value, or a value from before the unit change, into one clear error."""

import math
from dataclasses import dataclass, field, fields

import numpy as np

from core.errors import UserError
from core.track.imm import MANOEUVRE_NOISE, MANOEUVRE_TIME, STEADY_TIME
from core.track.kalman import POSITION_NOISE, POSITION_WEIGHT, VELOCITY_NOISE
from core.track.motion import ENGINES, MOTION_MODELS

# Longest sane max_age: a lost person's predicted path means little after a minute. Until the tracker
# worked in seconds, max_age counted frames (30 was common); such a value read as seconds is this large.
MAX_AGE_LIMIT = 60.0
# Fastest sane relink growth, box heights per second: a sprinter covers ~2 body heights a second.
RELINK_GROWTH_LIMIT = 2.0
UNIT_CHANGE = "counted frames before the tracker worked in seconds; give seconds"


def _in(
    unit: str | None = None,
    cli_unit: str | None = None,
    *,
    low: float = 0.0,
    high: float = math.inf,
    above: bool = False,
) -> dict:
    """Field metadata of a numeric setting: its unit and its range, low to high (low itself excluded when
    `above`), both shown by the CLI's help and the range checked by TrackerConfig; `cli_unit` is the
    suffix the command line requires because the unit changed (core.cli.options.number_with_unit)."""
    metadata: dict = {"range": (float(low), float(high), above)}
    if unit is not None:
        metadata["unit"] = unit
    if cli_unit is not None:
        metadata["cli_unit"] = cli_unit
    return metadata


_SCORE = _in("detection score", high=1.0)
_FRACTION = _in(high=1.0)


@dataclass
class TrackerConfig:
    """Tracker settings; times in seconds, sizes in box heights. Why each default:

    The values follow from how people move and how long they stay hidden, stated per second so they
    hold at any frame rate. Six MOT15 sequences (`python -m core.bench.mot`: static and moving cameras,
    7-30 fps, each at its real frame rate, also with frames dropped) check them, leaving one sequence
    out: a value is kept only if, picked on the other five, it helps on most held-out sequences
    (docs/tracking.md has the tables). Several values tuned on two TUD sequences (max_height_change,
    relink_growth, min_hits, velocity_noise) were checked that way and kept: their alternatives, picked
    on five, helped on at most three held-out sequences of six.

    - high_score 0.6, low_score 0.1: ByteTrack's split. Public MOT15 detections score 0.5-1.0; the
      0.5-0.6 band is mostly partly hidden people, good for keeping a track but not for starting one.
    - new_track_score 0.6: only confident boxes start tracks (fewer false tracks).
    - new_track_ratio 0.8: and only boxes scoring at least 0.8 times the median of the latest 1000
      detection scores: what is confident depends on the detector (public MOT15 boxes score 0.96-0.99
      at the median, HOG's sigmoid much less) and on the scene, so the bar follows both. A box a
      detector is unsure of is often a part of someone already tracked, a reflection or a passer-by
      half hidden; if it is a person, confident boxes of her follow. Picked 0.8 on five folds of six
      (0.85 on the sixth; candidates off, 0.75-0.88): held out IDF1 better on five (ADL-Rundle-6 +3.0,
      PETS09-S2L1 +2.2), level on one (TUD-Stadtmitte -0.1), ID switches 136 -> 123 overall.
    - min_iou 0.2: below SORT's 0.3 because the Kalman gate (below) and the height check already
      reject implausible pairs, and low overlap is common right after a turn or a partial occlusion.
    - low_min_iou 0.5: weak boxes must overlap the prediction well (ByteTrack's value).
    - max_height_change 0.3: a pair whose box heights differ by more than e^0.3 ≈ 1.35× is two people at
      different depths (one behind the other overlaps well in IoU but not in height).
    - min_hits 3: three matches in a row (among the frames the tracker sees) before a track is
      reported, as SORT; a count of detections, not of time, because it guards against detector noise.
    - max_age 3 s (at most 60 s; it counted frames in earlier versions): people stay hidden behind
      passers-by or pillars for 1-2 s (walking at ~1 body height per second behind someone ~1 m wide);
      twice that keeps their id without keeping a gone person's track long. A lost track keeps
      predicting and its gate widens with the seconds lost.
    - gate_chi2 20: lost tracks only accept boxes within this squared Mahalanobis distance (4 dof) of
      their prediction. The 95 % bound is 9.5, but the velocity of a lost track is a guess.
    - gate_tracked False: for tracks seen last frame IoU + height already suffice.
    - cascade True: tracks seen last frame choose first, lost tracks take what is left (DeepSORT);
      otherwise a lost track next to a tracked person steals her box.
    - reupdate True (OC-SORT's observation-centric re-update): when a lost track is matched again, its
      filter is rerun from the last observation along the straight path to the new one, one virtual
      observation per frame seen in between, so the velocity it leaves with is the gap's real mean
      velocity rather than the guess it was lost with.
    - direction_weight 0.2, direction_time 0.2 s (OC-SORT's momentum term, in seconds): a box that
      would make a track turn by an angle θ costs 0.2·θ/π more (IoU is in [0, 1]). The direction is
      read from observations ≥ 0.2 s apart (OC-SORT's 3 frames at 15-30 fps) and counts in full only
      once the track moved three detection noises over them (a standing person has no direction).
      People walk straight over a second; two who cross or pass each other walk in different
      directions, which IoU alone cannot tell apart once their boxes overlap.
    - relink True, distance 0.5 + 0.25 per second lost (box heights; the growth counted per frame in
      earlier versions, at most 2 h/s): a track confirmed now takes the id of a lost track whose
      extrapolated path it continues, so a person who reappears after a long occlusion, when the lost
      track's box no longer overlaps, keeps her id. Half a height is where a detection of the same
      person lands; 0.25 h/s (0.4 m/s) is the spread of walking speeds.
    - position_weight 1/20 of the box height: detection noise (DeepSORT's). position_noise 1/20 h per
      √s and velocity_noise 0.05 h/s per √s: the Kalman process noise in time, see core.track.kalman
      (the box centre sways ~8 cm a second; a walker's velocity drifts by ~9 cm/s within a second).
      Scenes of sudden manoeuvres at low frame rates (sport, people running) do better with 0.3.
    - motion "imm": the steady walker's filter mixed per track and moment with a manoeuvring one
      (core.track.imm), which follows a person who changes pace or heading, or whose box a moving
      camera shifts, while a steady walker keeps the stiff prediction that carries her through
      occlusions and dropped frames. manoeuvre_noise 0.15 h/s per √s (three times the steady walker's),
      steady_time 2 s between manoeuvres, manoeuvre_time 1 s each. Chosen by leave-one-sequence-out on
      the six MOT15 sequences of docs/tracking.md (all frames and every 3rd frame): picked on every five,
      it scored better on four of the six held-out sequences than "steady" (every 3rd frame +1.6 IDF1
      overall, 10 fewer ID switches, all frames the same IDF1); "steady" is the one-filter model.
    - Offline pass (recorded files, core.track.offline): link_time 5 s (the longest gap a link bridges;
      people hidden longer have usually left); link_velocity True: a link compares the velocities
      of the end and the start as well as their boxes (people whose paths meet walk on in different
      directions), gated at link_chi2 30 (7 dof); relink_height is the size gate. Picked together on
      every five sequences of six (box only at 20 / with velocity at 15, 20, 30): with velocity on
      all six folds, 30 on five; held out IDF1 better on three, level on three, every 3rd frame
      better on five; the smoother's model is the steady walker's (velocity_noise:
      0.2 scored lower on five held-out sequences of six); fill_time 1 s (gaps filled by the smoother;
      longer ones stay empty, as the straight path drifts from where a hidden person went; picked over
      0.5 and 2 s on every five); keypoint_noise 0.02 h and keypoint_velocity_noise 3 h/s per √s (each
      joint's smoother: a limb changes speed within a fraction of a second).
      weak_track_ratio 0.88: a person whose detections score on average below 0.88 times the file's
      median detection score is dropped. A detector scores a real person high in most frames; a false
      track (a poster, a reflection, half of someone) stays weak throughout, which only the whole
      track shows. Relative to the file's median, not an absolute score, so it means the same for
      detectors whose scores sit lower (HOG, YOLO). Picked 0.88 on five of the six folds (0.85 on
      the sixth; candidates off, 0.8-0.92): better held out on five (MOTA +0.8 to +8.6), level on
      PETS09-S2L1.
      crossing_window 1 s (core.track.crossings): where two tracks touch, their tails change hands
      if that makes both paths likelier under the steady walker's filter over 1 s either side of the
      meeting: seven frames at 7 fps to read a heading before and after, short enough that a later
      turn does not count. On for all six folds (off, 1-3 s; the folds split between 1 and 3 s, which
      tie on all six): held out IDF1 better on three (up to +3.6), level on three.
    - output_box "mean": the mean of the observed and the filtered box. The observed box is sharper
      but jumps when a detection merges two people; the filtered one is smooth but lags; the mean
      scored best on both MOTA and ID switches.
    - kalman "numpy": every track's filter steps in one numpy call a frame; "filterpy" steps one
      filterpy KalmanFilter (IMMEstimator for "imm") per track, the same equations (tests hold them to
      1e-9): the reference, kept selectable, and much slower with a crowd (`python -m core.bench.mot`).
    - OKS: weight 0.5 and gate 0.5 (COCO's loose-match level); keypoints count from score 0.3.
    - One-Euro min_cutoff 1 Hz, beta 3 (per box height per second), d_cutoff 1 Hz: at rest keypoint
      jitter drops ~5×, and a sudden move of a whole body height is 90 % followed within two frames.
    - fps 30: the clock when `update` gets no timestamps (frame / fps), and the step taken when a
      timestamp does not move forward (a repeated frame or a source whose clock restarts).
    """

    high_score: float = field(default=0.6, metadata=_SCORE)
    low_score: float = field(default=0.1, metadata=_SCORE)
    new_track_score: float = field(default=0.6, metadata=_SCORE)
    new_track_ratio: float = field(
        default=0.8, metadata=_in("fraction of the recent median detection score; 0 = off", high=1.0)
    )
    min_iou: float = field(default=0.2, metadata=_FRACTION)
    low_min_iou: float = field(default=0.5, metadata=_FRACTION)
    max_height_change: float = field(default=0.3, metadata=_in("log of the height ratio"))
    min_hits: int = field(default=3, metadata=_in("matches in a row", low=1))
    max_age: float = field(
        default=3.0,
        metadata=_in("seconds; it counted frames in earlier versions", "s", high=MAX_AGE_LIMIT),
    )
    gate_chi2: float = field(default=20.0, metadata=_in("squared Mahalanobis distance; 0 = off"))
    gate_tracked: bool = False
    cascade: bool = True
    reupdate: bool = True
    direction_weight: float = field(default=0.2, metadata=_in("cost of a U-turn; 0 = off"))
    direction_time: float = field(default=0.2, metadata=_in("seconds"))
    relink: bool = True
    relink_distance: float = field(default=0.5, metadata=_in("box heights"))
    relink_growth: float = field(
        default=0.25,
        metadata=_in(
            "box heights per second; it was per frame in earlier versions", "/s", high=RELINK_GROWTH_LIMIT
        ),
    )
    relink_height: float = field(default=0.3, metadata=_in("log of the height ratio"))
    position_weight: float = field(default=POSITION_WEIGHT, metadata=_in("box heights", above=True))
    position_noise: float = field(default=POSITION_NOISE, metadata=_in("box heights per √s", above=True))
    velocity_noise: float = field(
        default=VELOCITY_NOISE, metadata=_in("box heights per second per √s", above=True)
    )
    motion: str = field(default="imm", metadata={"choices": tuple(MOTION_MODELS)})
    manoeuvre_noise: float = field(
        default=MANOEUVRE_NOISE, metadata=_in("box heights per second per √s", above=True)
    )
    steady_time: float = field(default=STEADY_TIME, metadata=_in("seconds", above=True))
    manoeuvre_time: float = field(default=MANOEUVRE_TIME, metadata=_in("seconds", above=True))
    output_box: str = field(default="mean", metadata={"choices": ("detection", "filter", "mean")})
    link_time: float = field(default=5.0, metadata=_in("seconds", high=MAX_AGE_LIMIT))
    fill_time: float = field(default=1.0, metadata=_in("seconds", high=MAX_AGE_LIMIT))
    link_chi2: float = field(default=30.0, metadata=_in("squared Mahalanobis distance"))
    link_velocity: bool = True
    crossing_window: float = field(default=1.0, metadata=_in("seconds; 0 = off", high=MAX_AGE_LIMIT))
    weak_track_ratio: float = field(
        default=0.88, metadata=_in("fraction of the file's median detection score; 0 = off", high=1.0)
    )
    keypoint_noise: float = field(default=0.02, metadata=_in("box heights", above=True))
    keypoint_velocity_noise: float = field(
        default=3.0, metadata=_in("box heights per second per √s", above=True)
    )
    kalman: str = field(default="numpy", metadata={"choices": tuple(ENGINES)})
    oks_weight: float = field(default=0.5, metadata=_FRACTION)
    min_oks: float = field(default=0.5, metadata=_FRACTION)
    keypoint_threshold: float = field(default=0.3, metadata=_in("keypoint score", high=1.0))
    smoothing: bool = True
    min_cutoff: float = field(default=1.0, metadata=_in("Hz", above=True))
    beta: float = field(default=3.0, metadata=_in("per box height per second"))
    d_cutoff: float = field(default=1.0, metadata=_in("Hz", above=True))
    fps: float = field(default=30.0, metadata=_in("frames per second", low=0.01, high=1000.0))

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type is bool:
                if not isinstance(value, bool | np.bool_):
                    raise UserError(f"tracker {item.name} must be true or false, got {value!r}")
                continue
            if item.type is str:
                if value not in item.metadata["choices"]:
                    allowed = ", ".join(repr(choice) for choice in item.metadata["choices"])
                    raise UserError(f"tracker {item.name} must be one of {allowed}, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise UserError(f"tracker {item.name} must be a number, got {value!r}")
            low, high, open_low = item.metadata["range"]
            if not (math.isfinite(value) and (value > low if open_low else value >= low)):
                raise UserError(
                    f"tracker {item.name} must be finite and {'>' if open_low else '>='} {low:g}, got {value}"
                )
            if value > high:
                note = f"; it {UNIT_CHANGE}" if "cli_unit" in item.metadata else ""  # the unit changed
                raise UserError(
                    f"tracker {item.name} must be at most {high:g} ({_unit(item)}), got {value:g}{note}"
                )
        if self.min_hits != int(self.min_hits):
            raise UserError(f"tracker min_hits must be a whole number, got {self.min_hits}")
        if self.low_score > self.high_score:
            raise UserError(
                f"tracker low_score ({self.low_score:g}) must not exceed high_score ({self.high_score:g})"
            )


def _unit(item) -> str:
    return item.metadata.get("unit", "").split(",")[0].split(";")[0] or "no unit"


def range_text(item) -> str:
    """A numeric TrackerConfig field's range as the CLI's help shows it: "0-1", "> 0", ">= 1"."""
    low, high, above = item.metadata["range"]
    if math.isinf(high):
        return f"{'>' if above else '>='} {low:g}"
    return f"{low:g}-{high:g}" if not above else f"> {low:g}, <= {high:g}"
