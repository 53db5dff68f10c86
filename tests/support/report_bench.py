"""What the run report costs, measured (docs/report.md keeps the table):

    python -m tests.support.report_bench                  # everything below
    python -m tests.support.report_bench --skip-clip      # only the 200-video and 30-minute cases

1. The bench clip (core.bench.pipeline's 1080p clip, street.mp4 looped back and forth): `run.py
   track` on it with the report and with --no-report, interleaved, each in a fresh process; the
   report's own time is also measured inside the run (its hooks timed), which a 3 % share needs:
   the run-to-run noise of a shared machine is larger than that.
2. 200 videos: the files of one real `track` output (TUD-Stadtmitte's video, made once with the
   default untrained W32 model unless --source-out gives one) linked under 200 names with a
   200-entry summary.json. Timed: every section made cold (what `run.py report --rebuild` does),
   the page joined from made sections (what `track` does at the end of a run, its sections made as
   each video finished), the file's size, and Chromium opening it (load event; every image decoded).
3. A 30-minute video's JSONL (the real JSONL's frames repeated with new times and identities):
   the time and peak memory of reading it, and its section's size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
TUD = SHARED / "mot15" / "TUD-Stadtmitte" / "video.mp4"


def machine() -> list[str]:
    import cv2
    import matplotlib
    import numpy
    import torch

    cpu = platform.machine()
    flags: set[str] = set()
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    simd = " ".join(sorted(f for f in flags if f.startswith(("avx2", "avx512_bf16", "avx512f", "amx"))))
    load = os.getloadavg()
    return [
        f"machine: {cpu}, {os.cpu_count()} logical CPUs ({simd}); load average {load[0]:.1f} at the start",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, opencv {cv2.__version__}, "
        f"numpy {numpy.__version__}, matplotlib {matplotlib.__version__}",
        f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
    ]


# ------------------------------------------------------------------------------- 1. the bench clip
def one_run(argv: list[str]) -> int:
    """A `track` run in this process with the report's hooks timed; prints the times as JSON."""
    import core.report.build as build
    from core.cli import track

    spent = {"report_s": 0.0}

    def timed(method):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent["report_s"] += time.perf_counter() - began

        return wrapper

    build.RunReport.video_done = timed(build.RunReport.video_done)
    build.RunReport.write = timed(build.RunReport.write)
    began, cpu = time.perf_counter(), _cpu()
    code = track.main(argv)
    spent["run_s"] = time.perf_counter() - began
    spent["cpu_s"] = _cpu() - cpu
    print("TIMES " + json.dumps(spent), flush=True)
    return code


def _cpu() -> float:
    """CPU seconds of this process, every thread: less shaken than wall time by a shared machine."""
    times = os.times()
    return times.user + times.system


def bench_clip(args, work: Path) -> list[str]:
    from core.bench.pipeline import SHARED_VIDEO, make_video

    clip = make_video(work / "bench1080p.mp4", args.frames, (1920, 1080), SHARED_VIDEO / "street.mp4")
    runs: dict[str, list[dict]] = {"report": [], "no report": []}
    for repeat in range(args.repeats + 1):  # the first pair warms the disk cache and is dropped
        for kind in ("report", "no report")[:: 1 if repeat % 2 else -1]:  # ABBA: no order effect
            out = work / f"clip-{kind.replace(' ', '-')}-{repeat}"
            extra = [] if kind == "report" else ["--no-report"]
            command = [
                sys.executable,
                "-m",
                "tests.support.report_bench",
                "--one-run",
                "--source",
                str(clip),
                "--out",
                str(out),
                "--no-progress",
                *extra,
            ]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            times = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("TIMES "))[6:])
            print(
                f"  clip run {repeat} {kind}: {times['run_s']:.1f} s, CPU {times['cpu_s']:.1f} s, "
                f"report {times['report_s']:.2f} s",
                flush=True,
            )
            if repeat:
                runs[kind].append(times)
            shutil.rmtree(out)

    def median(kind: str, key: str) -> float:
        return statistics.median(t[key] for t in runs[kind])

    hook, wall, cpu = median("report", "report_s"), median("report", "run_s"), median("report", "cpu_s")
    bare_wall, bare_cpu = median("no report", "run_s"), median("no report", "cpu_s")
    clip = f"bench clip ({args.frames} frames 1920x1080, track's defaults)"
    return [
        f"| {clip}: the report's own time inside the run | {hook:.2f} s of {wall:.1f} s = "
        f"{100 * hook / wall:.1f} % | ≤ 3 % |",
        f"| same, whole runs with / without the report, wall time (medians of {args.repeats}, ABBA) | "
        f"{wall:.1f} s / {bare_wall:.1f} s = {100 * (wall / bare_wall - 1):+.1f} % | ≤ 3 % |",
        f"| same, CPU time of those runs | {cpu:.1f} s / {bare_cpu:.1f} s = "
        f"{100 * (cpu / bare_cpu - 1):+.1f} % | – |",
    ]


# ------------------------------------------------------------------------------------ 2. 200 videos
def real_output(args, work: Path) -> Path:
    if args.source_out:
        return Path(args.source_out)
    out = work / "tud"
    subprocess.run(
        [
            sys.executable,
            "run.py",
            "track",
            "--source",
            str(TUD),
            "--out",
            str(out),
            "--no-progress",
            "--no-report",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


def many_videos(source_out: Path, folder: Path, count: int) -> Path:
    """`count` videos' outputs: the real output's files hard-linked under new names."""
    from core.video import SINKS

    summary = json.loads((source_out / "summary.json").read_text())
    entry = summary["videos"][0]
    folder.mkdir(parents=True)
    videos = []
    for k in range(count):
        stem = f"camera{k // 20 + 1:02d}_shift{k % 20 + 1:02d}"
        for suffix in (sink.SUFFIX for sink in SINKS.values()):
            original = source_out / f"{entry['stem']}{suffix}"
            if original.exists():
                os.link(original, folder / f"{stem}{suffix}")
        videos.append({**entry, "stem": stem, "source": str(TUD)})
    summary.update(videos=videos, inputs=count)
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def open_in_chromium(report: Path, repeats: int) -> tuple[float, float]:
    """Median seconds to the load event and to every image decoded, each in a fresh browser."""
    from tests.support.browser import Chromium

    loads, decoded = [], []
    for _ in range(repeats):
        with Chromium(shutil.which("chromium") or "/usr/bin/chromium") as page:
            began = time.perf_counter()
            loads.append(page.open(report))
            page.evaluate("Promise.all([...document.images].map(i => i.decode()))", awaited=True)
            decoded.append(time.perf_counter() - began)
            assert page.console_errors() == [], page.console_errors()
    return statistics.median(loads), statistics.median(decoded)


def bench_many(args, work: Path, source_out: Path) -> list[str]:
    from core.report import build_report

    folder = many_videos(source_out, work / "many", args.videos)
    began = time.perf_counter()
    build_report(folder, use_cache=False)
    cold = time.perf_counter() - began
    joins = []
    for _ in range(3):
        began = time.perf_counter()
        report = build_report(folder)
        joins.append(time.perf_counter() - began)
    size = report.stat().st_size / 1e6
    load, decoded = open_in_chromium(report, 3)
    n = args.videos
    return [
        f"| {n} videos: page joined from sections made during the run (end of `track`) | "
        f"{statistics.median(joins):.2f} s | ≤ 10 s |",
        f"| {n} videos: every section made anew (`run.py report --rebuild`) | {cold:.1f} s "
        f"({1000 * cold / n:.0f} ms per video) | – |",
        f"| {n} videos: report.html size | {size:.1f} MB | ≤ 20 MB |",
        f"| {n} videos: Chromium, load event / every image decoded (median of 3, fresh browser) | "
        f"{load:.2f} s / {decoded:.2f} s | ≤ 2 s |",
    ]


# ------------------------------------------------------------------------------ 3. a 30-minute video
def long_jsonl(source: Path, target: Path, minutes: float) -> int:
    """The real JSONL's frames repeated to `minutes` of video, each repeat with new identities."""
    lines = source.read_text().splitlines()
    header, records = json.loads(lines[0]), [json.loads(x) for x in lines[1:]]
    fps = header["header"]["fps"]
    total = int(minutes * 60 * fps)
    with target.open("w") as file:
        file.write(lines[0] + "\n")
        for k in range(total):
            record = dict(records[k % len(records)])
            loop = k // len(records)
            record["frame"], record["time"] = k, round(k / fps, 4)
            record["tracks"] = [{**t, "id": t["id"] + 1000 * loop} for t in record["tracks"]]
            file.write(json.dumps(record, separators=(",", ":")) + "\n")
    return total


def bench_long(args, work: Path, source_out: Path) -> list[str]:
    from core.report.digest import read_digest
    from core.report.sections import section, sizes_for

    folder = work / "long"
    folder.mkdir()
    frames = long_jsonl(source_out / "video.jsonl", folder / "long.jsonl", args.minutes)
    began = time.perf_counter()
    digest = read_digest(folder / "long.jsonl")
    seconds = time.perf_counter() - began
    tracemalloc.start()  # a second pass for the memory: tracing slows Python several times over
    read_digest(folder / "long.jsonl")
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    entry = {"stem": "long", "source": str(TUD), "status": "done", "frames": frames, "fps": 1.0}
    (folder / "summary.json").write_text(json.dumps({"videos": [entry], "finished": True}))
    html = section(folder, entry, sizes_for(1), use_cache=False).html
    mb = (folder / "long.jsonl").stat().st_size / 1e6
    return [
        f"| {args.minutes:g}-minute video ({frames:,} frames, {digest.counts()['identities']:,} identities, "
        f"JSONL {mb:.0f} MB): reading it | {seconds:.1f} s, peak {peak:.1f} MB of Python memory | bounded |",
        f"| same: its section (plots, heat map; no annotated video) | {len(html) / 1e6:.2f} MB | – |",
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one-run"]:
        return one_run(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m tests.support.report_bench", description=__doc__)
    parser.add_argument("--frames", type=int, default=40, help="frames of the 1080p bench clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--source-out", help="a track output folder of one video to copy (default: made)")
    parser.add_argument("--skip-clip", action="store_true")
    parser.add_argument("--skip-many", action="store_true", help="only the bench clip")
    args = parser.parse_args(argv)
    rows = []
    for line in machine():
        print(line, flush=True)
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_clip:
            rows += bench_clip(args, work)
        if not args.skip_many:
            source_out = real_output(args, work)
            rows += bench_many(args, work, source_out)
            rows += bench_long(args, work, source_out)
    print("\n| case | measured | target |\n|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
