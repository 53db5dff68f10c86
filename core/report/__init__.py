"""The run report: OUT/report.html, one self-contained page a person opens to see whether a `track`
run went well, where people were and which video needs a second look. Built from the documented
outputs alone (summary.json, each video's JSONL and annotated video), streaming, in bounded memory.

`build_report(out_dir)` makes it from an output folder (`run.py report OUT`); `RunReport` makes it
along a `track` run: each video's section as the video finishes, the page at the end, also when
the run is interrupted or fails.
"""

from core.report.build import REPORT_NAME, RunReport, build_report

__all__ = ["REPORT_NAME", "RunReport", "build_report"]
