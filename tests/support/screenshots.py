"""The README's app screenshots, taken from the real window (run under a display, e.g. Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m tests.support.screenshots assets/

app_grid.png: two videos side by side at the default window size (HUD painted at screen size);
app_lost_stream.png: an RTSP stream whose server was killed (greyed last frame, reconnect badge
counting down, state in the status bar). Uses the loopback
GStreamer server of tests/support/rtsp.py and the shared data; nothing is downloaded.
"""

import sys
import time
from pathlib import Path

from PyQt6.QtWidgets import QApplication

from app.window import MainWindow, WindowOptions
from core.pipeline import PipelineConfig
from tests.support.helpers import SHARED_DATA
from tests.support.qt import settle, wait_until
from tests.support.rtsp import RtspServer, free_port


def shoot(window: MainWindow, path: Path) -> None:
    settle(0.5)
    window.grab().save(str(path), "PNG")
    print(f"wrote {path}")


def main(out: Path) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    config = PipelineConfig(width=32, backend="eager")
    window = MainWindow(WindowOptions(config, Path("/tmp/recordings")))
    window.resize(1440, 900)
    window.show()
    videos = [SHARED_DATA / "video" / "street.mp4", SHARED_DATA / "video" / "soccer.mp4"]
    window.open_sources([str(videos[0])])
    window.open_sources([str(videos[1])], add=True)
    assert wait_until(
        lambda: len(window.views) == 2 and all(v.frames_shown >= 3 for v in window.views.values()), 120
    )
    window.worker.pause()
    window.refresh_stats()
    shoot(window, out / "app_grid.png")
    window.worker.resume()
    window.stop()
    wait_until(lambda: not window.worker.running, 30)

    server = RtspServer(free_port()).start()
    try:
        window.open_sources([server.url])
        assert wait_until(lambda: window.views and next(iter(window.views.values())).frames_shown >= 5, 60)
        server.kill()
        view = next(iter(window.views.values()))
        assert wait_until(lambda: view.stale() and "attempt 2" in view.badge(), 30)
        time.sleep(0.3)
        window.refresh_stats()
        shoot(window, out / "app_lost_stream.png")
    finally:
        server.kill()
        window.close()
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "assets")))
