"""The offline pass inside `run.py track`, for files (live sources stay online).

While a file runs through the pipeline, its outputs are one `OfflineOutputs`: it keeps what each frame
needs to be written again (index, time, the FPS shown) while the tracker journals its matches
(core.track.offline.Journal; tracks, never frames). When the file ends, `close()` runs the offline
pass (link, fill, smooth) and writes every requested output in a second pass: the text outputs from the
kept records, the annotated video from the file decoded once more and drawn with the offline tracks.
So every output of a file carries the same, offline, identities and boxes, and memory stays bounded
on long videos (about 320 bytes per person and frame for the journal, 24 per frame for the records).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.track.offline import Journal, offline_tracks
from core.video.sinks import abort_all, writing
from core.video.sources import Frame

log = logging.getLogger(__name__)


class OfflineOutputs:
    """A sink (core.video.sinks.Sink) that defers a file's outputs to the offline pass.

    `outputs` are the real sinks, opened when the file joins (their temporary files exist from then on,
    as in an online run) and written at the end; `draw(image, tracks, fps)` annotates a frame for the
    video (None: no video requested); `reopen()` gives the file's frames again, in order, for it."""

    def __init__(
        self,
        outputs: list,
        tracker_config,
        draw: Callable | None = None,
        reopen: Callable[[], object] | None = None,
        progress: Callable[[int], object] | None = None,
    ):
        self.journal = Journal()
        self.path = Path("(offline pass)")
        self._outputs = outputs
        self._config = tracker_config
        self._draw = draw
        self._reopen = reopen
        self._progress = progress
        self._records: list[tuple[int, float, float]] = []  # (index, time, fps shown) per frame seen
        self._source = ""
        self.offline_s = 0.0  # seconds the offline pass itself took (linking, filling, smoothing)

    def write(self, frame: Frame, tracks: list, annotated: np.ndarray | None = None) -> None:
        self._records.append((frame.index, frame.time, np.nan if frame.fps is None else frame.fps))
        self._source = frame.source

    def abort(self) -> None:
        self._records.clear()
        self.journal = Journal()
        abort_all(self._outputs)

    def close(self) -> None:
        """Run the offline pass and write every output; an output that fails leaves none behind."""
        began = time.monotonic()
        result = offline_tracks(self.journal, self._config)
        self.offline_s = time.monotonic() - began
        log.info("offline pass: %.3f s for %d frames", self.offline_s, len(self._records))
        with writing(self._outputs) as sinks:
            frames = self._frames() if self._draw is not None else None
            bar = self._progress(len(self._records)) if self._progress else None
            for (_, tracks), (number, stamp, fps) in zip(result.by_frame(), self._records, strict=True):
                image = next(frames) if frames is not None else None
                frame = Frame(number, stamp, image, self._source, fps=None if np.isnan(fps) else fps)
                annotated = self._draw(image, tracks, frame.fps) if image is not None else None
                for sink in sinks:
                    sink.write(frame, tracks, annotated)
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()

    def _frames(self):
        """The images of the recorded frames, decoded again in order."""
        wanted = iter(number for number, _, _ in self._records)
        target = next(wanted, None)
        source = self._reopen()
        try:
            for frame in source:
                if target is None:
                    return
                if frame.index == target:
                    yield frame.image
                    target = next(wanted, None)
            if target is not None:
                raise UserError(f"{self._source}: frame {target} missing when decoded again for the video")
        finally:
            source.stop()


def journal_of(sinks: list) -> Journal | None:
    """The journal a source's tracker keeps for the offline pass, when its outputs are deferred."""
    for sink in sinks:
        if isinstance(sink, OfflineOutputs):
            return sink.journal
    return None
