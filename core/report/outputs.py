"""What a `track` run left in its output folder, read from the documented files alone: summary.json
(or, while the shards of a torchrun job are unmerged, their summary.rank*.json) and each video's
files named after its stem. Nothing here needs the process that wrote them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.video.formats import FORMATS, output_paths

# Order of the report's sections: what needs a second look first.
STATUS_ORDER = {"error": 0, "interrupted": 1, "done": 2, "skipped": 3}
_RANK_FILE = re.compile(r"summary\.rank(\d+)\.json")


@dataclass(frozen=True)
class RunState:
    """How the run ended, in the words the report opens with."""

    kind: str  # finished | failed | interrupted | unfinished
    line: str


@dataclass
class RunOutputs:
    out_dir: Path
    summary: dict  # the run's summary (shards combined when they are not merged yet)
    sources: list[Path]  # the summary files it was read from

    @property
    def videos(self) -> list[dict]:
        return [v for v in self.summary.get("videos", []) if isinstance(v, dict) and v.get("stem")]

    def ordered_videos(self) -> list[dict]:
        """Failed first, then interrupted, then the rest; each group in input order."""
        videos = self.videos
        return sorted(videos, key=lambda v: STATUS_ORDER.get(v.get("status"), 0))

    def counts(self) -> dict[str, int]:
        statuses = [v.get("status") for v in self.videos]
        return {status: statuses.count(status) for status in STATUS_ORDER}

    def state(self) -> RunState:
        summary, counts = self.summary, self.counts()
        done = counts["done"] + counts["skipped"]
        total = len(self.videos)
        if summary.get("failure"):
            return RunState("failed", f"The run failed: {summary['failure']}. {_of(done, total)} done.")
        if summary.get("interrupted"):
            return RunState(
                "interrupted",
                f"The run was interrupted (Ctrl-C or SIGTERM) after {_of(done, total)} videos; this "
                "report shows what was done.",
            )
        if not summary.get("finished"):
            return RunState(
                "unfinished",
                f"The run has not finished: it is still running, or it was killed. {_of(done, total)} "
                "videos done so far.",
            )
        if counts["error"]:
            return RunState("failed", f"{_of(counts['error'], total)} videos failed; they come first below.")
        return RunState("finished", f"All {total} videos done." if total != 1 else "The video is done.")


def video_files(out_dir: Path, video: dict) -> dict[str, Path]:
    """A video's output files that exist now, by format (video, jsonl, csv, coco, mot). Found by
    its stem in `out_dir`, not by the summary's paths, which are relative to where track ran."""
    paths = output_paths(out_dir, str(video["stem"]), FORMATS)
    return {fmt: path for fmt, path in paths.items() if path.is_file()}


def _of(part: int, total: int) -> str:
    return f"{part} of {total}"


def read_outputs(out_dir: Path) -> RunOutputs:
    """The run in `out_dir`; UserError when it holds no readable summary of a `track` run."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError(f"no such output folder: {out_dir}")
    merged = out_dir / "summary.json"
    ranks = sorted(
        (p for p in out_dir.glob("summary.rank*.json") if _RANK_FILE.fullmatch(p.name)),
        key=lambda p: int(_RANK_FILE.fullmatch(p.name)[1]),
    )
    newest_rank = max((_mtime(p) for p in ranks), default=None)
    if ranks and (not merged.is_file() or newest_rank > _mtime(merged)):
        parts = [data for data in map(_read_json, ranks) if data is not None]
        if parts:
            return RunOutputs(out_dir, combine_shards(parts), ranks)
    data = _read_json(merged) if merged.is_file() else None
    if data is None:
        what = "an unreadable summary.json" if merged.is_file() else "no summary.json"
        raise UserError(f"{out_dir} holds {what}: not the output folder of a run.py track run")
    return RunOutputs(out_dir, data, [merged])


def combine_shards(parts: list[dict]) -> dict:
    """The shards' summaries as one run, however far each has got (merge_summaries in the runner
    waits for all of them to finish; a report is wanted before that, too)."""
    combined = {key: value for key, value in parts[0].items() if key not in ("videos", "shard")}
    count = max((p.get("shard") or [0, 1])[1] for p in parts)
    combined["shards"] = count
    combined["finished"] = len(parts) == count and all(p.get("finished") for p in parts)
    combined["interrupted"] = any(p.get("interrupted") for p in parts)
    failures = [p["failure"] for p in parts if p.get("failure")]
    combined["failure"] = failures[0] if failures else None
    combined["wall_s"] = max(float(p.get("wall_s") or 0.0) for p in parts)
    if any(p.get("weights") == "untrained" for p in parts):
        combined["weights"] = "untrained"
    videos = [v for p in parts for v in p.get("videos", []) if isinstance(v, dict)]
    combined["videos"] = sorted(videos, key=lambda v: str(v.get("source")))
    return combined


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
