"""Frames in and out: capture threads (`capture`), sources for files, folders, cameras and streams
(`sources`), the output files (`sinks`) and what is drawn on frames (`drawing`)."""

from core.video.sinks import FORMATS, open_sinks, output_paths, partial_files
from core.video.sources import Frame, FrameSource, open_source

__all__ = ["FORMATS", "Frame", "FrameSource", "open_sinks", "open_source", "output_paths", "partial_files"]
