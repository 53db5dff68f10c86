"""The README's report screenshot: `track` on TUD-Stadtmitte's real video, its report.html opened in
headless Chromium, the page photographed whole and scaled to fit a README:

    python -m tests.support.report_screenshot assets/report.png
    python -m tests.support.report_screenshot assets/report.png --out out/tud   # an existing run

Without --out the run uses track's defaults (the cached weights, else the untrained model, which
the report then says in red). The PNG is reduced to 256 colours, dithered (smooth photos and colour
ramps), to stay under MAX_BYTES.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from core.report import build_report
from tests.support.browser import Chromium
from tests.support.helpers import ROOT, SHARED_DATA

VIDEO = SHARED_DATA / "mot15" / "TUD-Stadtmitte" / "video.mp4"
VIEW = (1440, 900)  # the browser window; the page is photographed to its full height
WIDTH = 1100  # of the PNG
MAX_BYTES = 500_000


def photograph(report: Path, target: Path) -> Path:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    shot = target.with_suffix(".full.png")
    with Chromium(chromium, *VIEW) as page:
        page.open(report)
        page.evaluate("Promise.all([...document.images].map(i => i.decode()))", awaited=True)
        errors = page.console_errors()
        if errors:
            raise SystemExit(f"the page logged errors: {errors}")
        page.screenshot(shot, page.evaluate("document.documentElement.scrollHeight"))
    image = Image.open(shot).convert("RGB")
    shot.unlink()
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.Resampling.LANCZOS)
    data = io.BytesIO()
    palette = image.quantize(256, method=Image.Quantize.FASTOCTREE)
    image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(data, "PNG", optimize=True)
    if data.tell() > MAX_BYTES:
        raise SystemExit(f"the screenshot is {data.tell() // 1000} KB, over {MAX_BYTES // 1000} KB")
    target.write_bytes(data.getvalue())
    print(f"wrote {target} ({image.width}x{image.height}, {data.tell() // 1000} KB)")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.report_screenshot", description=__doc__)
    parser.add_argument("target", type=Path, help="the PNG to write, e.g. assets/report.png")
    parser.add_argument(
        "--out", type=Path, help="a track output folder of the video (default: run track now)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-shot-") as tmp:
        out = args.out
        if out is None:  # the video under its sequence's name, which the report then shows
            source = Path(tmp) / "mot15" / "TUD-Stadtmitte.mp4"
            source.parent.mkdir()
            source.symlink_to(VIDEO)
            out = Path(tmp) / "tud-stadtmitte"
            command = [
                sys.executable,
                "run.py",
                "track",
                "--source",
                str(source),
                "--out",
                str(out),
                "--no-progress",
            ]
            subprocess.run(command, cwd=ROOT, check=True)
        photograph(build_report(out), args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
