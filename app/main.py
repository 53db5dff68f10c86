"""`python run.py [gui]`: the desktop app — live pose tracking of webcams, streams and files."""

import argparse
import os
import signal
import sys
from pathlib import Path

from core.cli.options import (
    CommandParser,
    add_detection_arguments,
    add_model_arguments,
    add_runtime_arguments,
    apply_zoo_defaults,
    draw_style_from_args,
    pipeline_config_from_args,
)
from core.errors import UserError


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


# What Qt 6's xcb platform plugin loads besides libxcb itself: (library, Debian/Ubuntu package).
XCB_LIBRARIES = (
    ("xcb-cursor", "libxcb-cursor0"),
    ("xkbcommon-x11", "libxkbcommon-x11-0"),
    ("xcb-icccm", "libxcb-icccm4"),
    ("xcb-keysyms", "libxcb-keysyms1"),
    ("xcb-image", "libxcb-image0"),
    ("xcb-render-util", "libxcb-render-util0"),
    ("xcb-shape", "libxcb-shape0"),
    ("xcb-randr", "libxcb-randr0"),
    ("xcb-xkb", "libxcb-xkb1"),
)


def missing_xcb_packages(find_library=None) -> list[str]:
    """Debian packages of the X11 libraries Qt's xcb plugin needs and this machine lacks."""
    if find_library is None:
        from ctypes.util import find_library
    return [package for library, package in XCB_LIBRARIES if find_library(library) is None]


def require_display(find_library=None) -> None:
    """Fail with one line where Qt would abort the process with many: Linux with no screen and no
    platform chosen, or an X11 screen without the libraries Qt's xcb plugin loads."""
    if sys.platform != "linux":
        return
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not platform and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError(
            "no display for the desktop app (DISPLAY is not set): use `run.py track` for headless work, "
            "or run it under xvfb-run or with QT_QPA_PLATFORM=offscreen"
        )
    uses_xcb = platform.startswith("xcb") or (not platform and not os.environ.get("WAYLAND_DISPLAY"))
    missing = missing_xcb_packages(find_library) if uses_xcb else []
    if missing:
        raise UserError(
            f"Qt cannot use the X11 display without {', '.join(missing)}: "
            f"sudo apt-get install {' '.join(missing)}"
        )


def main(argv: list[str], command: str = "gui") -> int:
    args = build_parser(command).parse_args(argv)
    notes: list[str] = []
    apply_zoo_defaults(args, notes.append)  # model names and cached defaults, one line each
    config = pipeline_config_from_args(args)  # every option checked as `track` checks it, before a window
    require_display()
    for line in notes:
        print(line, file=sys.stderr)

    from PyQt6.QtCore import Qt, QTimer
    from PyQt6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv[:1])  # our options are parsed already
    app.setApplicationName("Attention-HRNet Pose Tracker")
    # Something on screen at once: importing torch and building the window take seconds.
    splash = QLabel("Attention-HRNet Pose Tracker\n\nloading…")
    splash.setAlignment(Qt.AlignmentFlag.AlignCenter)
    splash.setWindowFlag(Qt.WindowType.SplashScreen)
    splash.setStyleSheet("font-size: 16px; padding: 30px; background: #202024; color: #f0f0f0;")
    splash.resize(420, 160)
    splash.show()
    app.processEvents()

    from app.window import MainWindow, WindowOptions

    window = MainWindow(WindowOptions(config, Path(args.record_dir), draw_style_from_args(args)))
    window.show()
    splash.close()
    if args.source:
        window.open_sources(args.source)
    # Ctrl-C in the terminal closes the window the normal way (recordings are finalised). Python
    # handles signals only when it runs, so a timer gives it a moment several times a second.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(200)
    return app.exec()
