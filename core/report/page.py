"""The report page: how the run ended (first, in colour), the facts of the run, a table of contents
with a row per video (failed ones first), then the videos' sections.

One self-contained HTML file: styles inline, pictures as data URIs, no script, and a Content
Security Policy that forbids loading anything else, so it opens the same from a USB stick, an
e-mail or a file server, and a stray external reference shows up as an error, not a silent fetch.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable

from core.report.outputs import RunOutputs, RunState
from core.report.sections import Section

UNTRAINED = (
    "Untrained weights: the poses in this report are meaningless. Give track a --checkpoint (or "
    "`python run.py weights get hrnet-w32` once) for real ones."
)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1d232a;
  margin:0;background:#f4f6f8}
main{max-width:1440px;margin:0 auto;padding:12px 24px 48px}
.banner{padding:12px 24px;font-weight:600;color:#fff}
.banner.finished{background:#2e7d32}.banner.failed,.banner.untrained{background:#c62828}
.banner.interrupted,.banner.unfinished{background:#e65100}
h1{font-size:24px;margin:18px 0 2px}h2{font-size:19px;margin:0 0 4px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#5b6570;margin:0 0 16px}
section,nav{background:#fff;border:1px solid #dde3e8;border-radius:6px;padding:16px 20px;margin:16px 0}
table{border-collapse:collapse;font-size:14px}th,td{padding:4px 10px;text-align:left;vertical-align:top}
table.facts th{color:#5b6570;font-weight:500;white-space:nowrap}
table.videos{width:100%}table.videos tr:nth-child(even){background:#f4f6f8}
table.videos th,table.counts th{border-bottom:1px solid #c9d1d8;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-size:12px;font-weight:600;padding:1px 7px;border-radius:9px;color:#fff;background:#607d8b;
  vertical-align:middle}
.status.done{background:#2e7d32}.status.skipped{background:#607d8b}.status.error{background:#c62828}
.status.interrupted{background:#e65100}
.source{color:#5b6570;font-size:13px;margin:0 0 8px;word-break:break-all}
.error-line{color:#b71c1c;font-weight:600}.note{color:#5b6570;font-style:italic}
.thumbs{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:8px}
.pair{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.pair .plots{flex:0 1 902px;min-width:0}.pair .where{flex:1 1 300px;max-width:640px}
figure{margin:0}figcaption{font-size:12px;color:#5b6570;text-align:center}
img{max-width:100%;height:auto;display:block}img.thumb{border-radius:3px}
.legend{display:flex;justify-content:space-between;flex-wrap:wrap;font-size:12px;color:#5b6570}
.legend .ramp{flex-basis:100%;height:10px;border-radius:2px;margin:4px 0 2px}
.caption{font-size:13px;color:#5b6570;margin:4px 0 0}
footer{color:#5b6570;font-size:13px;text-align:center}
"""


def page(run: RunOutputs, sections: list[Section]) -> str:
    """The whole page; `sections` in the order of run.ordered_videos()."""
    state = run.state()
    summary = run.summary
    title = f"Pose tracking report: {run.out_dir.resolve().name}"
    anchors = [f"video-{i + 1}" for i in range(len(sections))]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        _banner(state),
    ]
    if summary.get("weights") == "untrained":
        parts.append(f'<div class="banner untrained">{html.escape(UNTRAINED)}</div>')
    parts += [
        "<main>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(str(run.out_dir))} · report written '
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}</p>",
        _facts(run, sections),
        _contents(sections, anchors),
    ]
    parts += [
        f'<section id="{a}" class="video">\n{s.html}\n</section>'
        for a, s in zip(anchors, sections, strict=True)
    ]
    parts += [
        "<footer>Made from summary.json and each video's files by <code>python run.py report "
        f"{html.escape(str(run.out_dir))}</code>, which makes it again.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _banner(state: RunState) -> str:
    return f'<div class="banner {state.kind}" id="state">{html.escape(state.line)}</div>'


def _facts(run: RunOutputs, sections: list[Section]) -> str:
    summary, counts = run.summary, run.counts()
    model = summary.get("model") if isinstance(summary.get("model"), dict) else {}
    size = model.get("input_size")
    rows = [
        (
            "videos",
            f"{len(run.videos)}: {counts['done']} done, {counts['skipped']} skipped, "
            f"{counts['error']} failed, {counts['interrupted']} interrupted",
        ),
        ("started", summary.get("started")),
        ("wall time", _duration(summary.get("wall_s"))),
        ("mean processing FPS", _mean_fps(run.videos)),
        (
            "model",
            " ".join(
                p
                for p in (
                    f"HRNet-W{model['width']}" if model.get("width") else None,
                    f"preset {model['preset']}" if model.get("preset") else None,
                    f"input {size[0]}x{size[1]}" if isinstance(size, list) and len(size) == 2 else None,
                )
                if p
            )
            or None,
        ),
        ("weights", _weights(summary)),
        ("detector", _detector(summary)),
        (
            "backend, device",
            ", ".join(str(summary[k]) for k in ("backend", "device") if summary.get(k)) or None,
        ),
        ("tracker", _tracker(summary, sections)),
        ("outputs", ", ".join(summary.get("formats") or []) or None),
        ("shards", summary.get("shards")),
    ]
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
        if v not in (None, "")
    )
    return f'<section id="run"><h2>The run</h2><table class="facts">{body}</table></section>'


def _duration(seconds) -> str | None:
    if not isinstance(seconds, int | float):
        return None
    minutes, rest = divmod(float(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return (
        f"{hours} h {minutes} min {rest:.0f} s"
        if hours
        else f"{minutes} min {rest:.1f} s"
        if minutes
        else f"{rest:.1f} s"
    )


def _mean_fps(videos: Iterable[dict]) -> str | None:
    """Frames processed per second of processing, over every video done in this run."""
    frames = seconds = 0.0
    for video in videos:
        if video.get("status") == "done" and (video.get("fps") or 0) > 0 and video.get("frames"):
            frames += video["frames"]
            seconds += video["frames"] / video["fps"]
    return f"{frames / seconds:.2f} frames per second ({frames:,.0f} frames)" if seconds else None


def _weights(summary: dict) -> str:
    trained = summary.get("weights") != "untrained"
    checkpoint = summary.get("checkpoint")
    what = "trained" if trained else "untrained (random): poses are meaningless"
    return f"{what}; checkpoint {checkpoint}" if checkpoint else what


def _detector(summary: dict) -> str | None:
    detector = summary.get("detector")
    if not detector:
        return None
    interval = summary.get("interval")
    return f"{detector}, every frame" if interval in (None, 1) else f"{detector}, every {interval} frames"


def _tracker(summary: dict, sections: list[Section]) -> str | None:
    tracker = summary.get("tracker") if isinstance(summary.get("tracker"), dict) else {}
    modes = sorted({str(s.row["mode"]) for s in sections if s.row.get("mode")})
    mode = summary.get("tracker_mode") or tracker.get("mode") or ", ".join(modes) or "online"
    notes = [f"{mode} (Kalman + Hungarian)"]
    if tracker.get("motion"):
        notes.append(f"motion model {tracker['motion']}")
    if tracker:
        notes.append(f"min hits {tracker.get('min_hits')}, max age {tracker.get('max_age')} s")
        if tracker.get("smoothing"):
            notes.append("keypoints smoothed")
    return ", ".join(str(n) for n in notes)


def _contents(sections: list[Section], anchors: list[str]) -> str:
    head = (
        '<tr><th class="num">#</th><th>video</th><th>status</th><th class="num">video time</th>'
        '<th class="num">frames</th><th class="num">people per frame</th><th class="num">identities</th>'
        '<th class="num">FPS</th><th>note</th></tr>'
    )
    rows = []
    for i, (anchor, s) in enumerate(zip(anchors, sections, strict=True)):
        row = s.row
        status = html.escape(str(row.get("status")))
        rows.append(
            f'<tr><td class="num">{i + 1}</td><td><a href="#{anchor}">{html.escape(s.stem)}</a></td>'
            f'<td><span class="status {status}">{status}</span></td>'
            f'<td class="num">{_number(row.get("duration_s"), "{:.1f} s")}</td>'
            f'<td class="num">{_number(row.get("frames"), "{:,}")}</td>'
            f'<td class="num">{_number(row.get("people"), "{:.1f}")}</td>'
            f'<td class="num">{_number(row.get("identities"), "{:,}")}</td>'
            f'<td class="num">{_number(row.get("fps"), "{:.2f}")}</td>'
            f"<td>{html.escape(str(row.get('error') or ''))}</td></tr>"
        )
    return f'<nav id="contents"><h2>Videos</h2><table class="videos">{head}{"".join(rows)}</table></nav>'


def _number(value, form: str) -> str:
    return form.format(value) if isinstance(value, int | float) else "–"
