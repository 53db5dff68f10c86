"""FPS of the app vs `track` on the same long clip (same model and detector), one after the other:

OMP_NUM_THREADS=1 xvfb-run -a python -m tests.support.app_vs_track
"""

import json
import subprocess
import sys
from pathlib import Path

from PyQt6.QtWidgets import QApplication

from app.window import MainWindow, WindowOptions
from core.pipeline import PipelineConfig
from tests.support.helpers import SHARED_DATA, loop_video
from tests.support.qt import wait_until

clip = loop_video(Path("/tmp/fps11/long.mp4"), SHARED_DATA / "video" / "soccer.mp4", 200, (640, 360))
args = ["--width", "8", "--input-size", "64x96", "--backend", "eager"]
out = Path("/tmp/fps11/out")
run = subprocess.run(
    [
        sys.executable,
        "run.py",
        "track",
        "--source",
        str(clip),
        "--out",
        str(out),
        "--formats",
        "jsonl",
        "--no-progress",
        *args,
    ],
    capture_output=True,
    text=True,
)
track_fps = json.loads((out / "summary.json").read_text())["videos"][0]["fps"]
app = QApplication([])
window = MainWindow(
    WindowOptions(PipelineConfig(width=8, input_size=(96, 64)[::-1], backend="eager"), Path("/tmp/fps11/rec"))
)
window.show()
wait_until(lambda: window.worker.models_info().model is not None, 60)
window.open_sources([str(clip)])
wait_until(lambda: "end of file" in window.status_text(), 600)
stats = window.worker.stats()[str(clip)]
print("| clip | frames | track FPS (summary) | app FPS (mean, same definition) | app / track |")
ratio = stats.mean_fps / track_fps
print(f"| soccer looped, 640x360 | {stats.frames} | {track_fps:.2f} | {stats.mean_fps:.2f} | {ratio:.2f} |")
window.close()
