"""`run.py report OUT`: make OUT/report.html again from a `track` output folder alone.

    python run.py report out/                      # out/report.html
    python run.py report out/ --output run.html    # elsewhere
    python run.py report out/ --rebuild            # every video's section anew, none from the cache

`track` writes the report itself at the end of every run (also when it is interrupted or fails);
this command is for a folder copied elsewhere, a run killed too hard to write one, or a report of
an earlier version. Only summary.json (or summary.rank*.json) and each video's files are read.
"""

from pathlib import Path

from core.atomic import check_writable
from core.cli.options import CommandParser


def main(argv: list[str], command: str = "report") -> int:
    parser = CommandParser(prog=f"run.py {command}", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder of a run.py track run")
    parser.add_argument("--output", type=Path, help="where to write the page (default: OUT/report.html)")
    parser.add_argument(
        "--rebuild", action="store_true", help="make every section anew instead of reusing OUT/.report-cache"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from core.report import REPORT_NAME, build_report
    from core.report.outputs import read_outputs

    run = read_outputs(args.out)  # a folder without a run is one error line before anything is made
    output = args.output or args.out / REPORT_NAME
    files = [video.get("outputs") for video in run.videos]
    outputs = [Path(str(path)) for paths in files if isinstance(paths, dict) for path in paths.values()]
    check_writable(output, inputs=[*run.sources, *outputs])
    path = build_report(args.out, output, progress=not args.no_progress, use_cache=not args.rebuild)
    print(f"report: {path}")
    return 0
