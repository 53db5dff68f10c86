"""Writing OUT/report.html: all at once from the output folder (`run.py report OUT`), or along a
`track` run (RunReport: each video's section when the video is done, the page when the run ends,
is interrupted or fails).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from pathlib import Path

from core.atomic import write_text_atomic
from core.errors import one_line
from core.report.outputs import read_outputs
from core.report.page import page
from core.report.sections import CACHE_DIR, section, sizes_for

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"


def build_report(
    out_dir: Path, output: Path | None = None, *, progress: bool = False, use_cache: bool = True
) -> Path:
    """Write the report of the run in `out_dir` (to OUT/report.html by default); its path.

    UserError when `out_dir` holds no run or the file cannot be written."""
    out_dir = Path(out_dir)
    run = read_outputs(out_dir)
    sizes = sizes_for(_planned_videos(run.summary, len(run.videos)))
    videos = run.ordered_videos()
    sections = []
    for video in _progress(videos, progress):
        sections.append(section(out_dir, video, sizes, use_cache))
    _prune_cache(out_dir, {str(v["stem"]) for v in run.videos})
    return write_text_atomic(output or out_dir / REPORT_NAME, page(run, sections))


def _planned_videos(summary: dict, recorded: int) -> int:
    """Inputs of the whole run (all shards), which sets the picture sizes, so a report written after
    Ctrl-C reuses the sections made during the run."""
    planned = summary.get("inputs")
    return planned if isinstance(planned, int) and planned > 0 else recorded


def _progress(videos: list[dict], enabled: bool):
    if not enabled or len(videos) < 2:
        return videos
    from tqdm import tqdm

    return tqdm(videos, desc="report", unit="video", dynamic_ncols=True)


def _prune_cache(out_dir: Path, stems: set[str]) -> None:
    """Sections of videos no longer in the run (a folder reused with other inputs) go."""
    folder = out_dir / CACHE_DIR
    with contextlib.suppress(OSError):
        for path in folder.glob("*.json"):
            if path.stem not in stems:
                path.unlink()


class RunReport:
    """The report of a `track` run as it goes. Never raises (Ctrl-C aside): a report that cannot
    be made is one warning line, and the run's outputs and exit status stay as they are."""

    def __init__(self, out_dir: Path, inputs: int, enabled: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.sizes = sizes_for(inputs)
        self.enabled = enabled
        # matplotlib's import and first drawing (font files, glyph caches) take about a second: they
        # happen while the first video runs, and the hooks wait for them (matplotlib is not thread-safe).
        self._warm = threading.Thread(target=_warm_up, name="report-warm-up", daemon=True)
        if enabled:
            self._warm.start()

    def video_done(self, entries: list[dict]) -> None:
        """Make the sections of the videos just finished, while their files are fresh in the cache."""
        if not self.enabled:
            return
        self._warm.join()
        for entry in entries:
            if entry.get("status") in ("done", "skipped"):
                try:
                    section(self.out_dir, entry, self.sizes)
                except Exception as error:
                    log.info("report section of %s: %s", entry.get("stem"), one_line(error))

    def write(self) -> Path | None:
        """Write report.html from what the output folder holds now."""
        if not self.enabled:
            return None
        self._warm.join()
        try:
            return build_report(self.out_dir)
        except Exception as error:
            print(f"warning: report not written: {one_line(error)}", file=sys.stderr)
            return None


def _warm_up() -> None:
    with contextlib.suppress(Exception):
        from core.report.plots import warm_up

        warm_up()
