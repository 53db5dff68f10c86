"""`run.py gui --events FILE`: what happened to each source, one JSON line per event, appended.

For a person who watched cameras all day and wants to know afterwards when a camera froze, how
long it stayed away and what the frame rates were, and for the measured protocol
(tests/support/app_protocol.py), which reads its timings from here instead of guessing from
screenshots. Every line has `t` (seconds on the monotonic clock, comparable between lines),
`wall` (Unix time) and `event`:
- "open": sources asked for (`specs`, redacted), `add`;
- "sources": the sources running now (`keys`) and those just opened (`fresh`);
- "first_frame": a source's first frame painted on screen (`source`, `after_s` since its tile came);
- "state": a stream's state (`source`, `phase`, `text`, `age_s` since its last frame);
- "ended": a source ended (`source`, `reason`);
- "stats": once a second, per source: fps, frames, dropped, age_s (capture), tile_age_s (screen);
- "recording": recording started or ended (`on`, `text`); "paused": `on`.
Stream credentials never appear (names are redacted before they get here).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from core.errors import UserError


class EventLog:
    """Appends events to a JSONL file, each line flushed as it is written (a crash keeps them)."""

    def __init__(self, path: Path) -> None:
        try:
            self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open until closed)
        except OSError as error:
            raise UserError(f"cannot write the event log {path}: {error.strerror or error}") from None

    def write(self, event: str, **fields) -> None:
        line = {"t": round(time.monotonic(), 3), "wall": round(time.time(), 3), "event": event, **fields}
        with contextlib.suppress(OSError, ValueError):  # a full disk must not take the app down
            self._file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self._file.close()


class NoEventLog:
    """Without --events: nothing is written."""

    def write(self, event: str, **fields) -> None:
        pass

    def close(self) -> None:
        pass
