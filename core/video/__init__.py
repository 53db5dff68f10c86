"""Frames in and out: capture threads (`capture`), sources for files, folders, cameras and streams
(`sources`), the output files (`sinks`, chosen by name in `formats`) and what is drawn on frames (`drawing`:
`DrawStyle` says how, `annotate` draws a result, `id_color` is a track's colour, on frames and in the app)."""

from core.video.capture import check_video_file
from core.video.drawing import DEFAULT_STYLE, UNTRAINED_BANNER, DrawStyle, annotate, burn_hud, id_color
from core.video.formats import FORMATS, SINKS, open_sinks, output_paths, partial_files
from core.video.sources import Frame, FrameSource, SourceState, open_source

__all__ = [
    "DEFAULT_STYLE",
    "FORMATS",
    "SINKS",
    "UNTRAINED_BANNER",
    "DrawStyle",
    "Frame",
    "FrameSource",
    "SourceState",
    "annotate",
    "burn_hud",
    "check_video_file",
    "id_color",
    "open_sinks",
    "open_source",
    "output_paths",
    "partial_files",
]
