"""Frames in and out: capture threads (`capture`), sources for files, folders, cameras and streams
(`sources`), the output files (`sinks`, chosen by name in `formats`) and what is drawn on frames (`drawing`;
`id_color`: a track's colour, on frames and in the app)."""

from core.video.capture import check_video_file
from core.video.drawing import id_color
from core.video.formats import FORMATS, SINKS, open_sinks, output_paths
from core.video.sinks import partial_files
from core.video.sources import Frame, FrameSource, SourceState, open_source

__all__ = [
    "FORMATS",
    "SINKS",
    "Frame",
    "FrameSource",
    "SourceState",
    "check_video_file",
    "id_color",
    "open_sinks",
    "open_source",
    "output_paths",
    "partial_files",
]
