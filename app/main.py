"""`python run.py [gui]`: the desktop app — live pose tracking of webcams, streams and files."""

import argparse
import os
import signal
import sys

from core.cli.options import (
    CommandParser,
    add_detection_arguments,
    add_model_arguments,
    add_runtime_arguments,
    apply_zoo_defaults,
)
from core.errors import UserError
from core.model import parse_size


def build_parser(command: str = "gui") -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"run.py {command}",
        description="Live pose tracking with skeletons, track IDs and FPS on webcams, RTSP streams or files.",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="SPEC",
        help="webcam index, rtsp:// or http(s):// URL, video file, image folder or glob; repeat for a grid",
    )
    add_model_arguments(parser)
    add_runtime_arguments(parser)
    add_detection_arguments(parser)
    parser.add_argument("--flip", action="store_true", help="flip test: average with the mirrored image")
    parser.add_argument("--record-dir", default="recordings", help="folder for recordings and snapshots")
    return parser


def require_display() -> None:
    """Fail with one line where Qt would abort the process: Linux with no screen and no platform chosen."""
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError(
            "no display for the desktop app (DISPLAY is not set): use `run.py track` for headless work, "
            "or run it under xvfb-run or with QT_QPA_PLATFORM=offscreen"
        )


def main(argv: list[str], command: str = "gui") -> int:
    args = build_parser(command).parse_args(argv)
    parse_size(args.input_size)  # fail on a bad size before any window appears
    notes: list[str] = []
    apply_zoo_defaults(args, notes.append)  # model names and cached defaults, one line each
    if args.checkpoint is None:
        from core.model import resolve_positions

        resolve_positions(args.preset)  # an unknown preset fails here, not at the first Open

    require_display()
    for line in notes:
        print(line, file=sys.stderr)

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from app.window import MainWindow, WindowOptions

    app = QApplication.instance() or QApplication(sys.argv[:1])  # our options are parsed already
    app.setApplicationName("Attention-HRNet Pose Tracker")
    window = MainWindow(WindowOptions.from_args(args))
    window.show()
    if args.source:
        window.open_sources(args.source)
    # Ctrl-C in the terminal closes the window the normal way (recordings are finalised). Python
    # handles signals only when it runs, so a timer gives it a moment several times a second.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(200)
    return app.exec()
