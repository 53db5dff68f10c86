"""`python run.py [gui]`: the desktop app — live pose tracking of webcams, streams and files."""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from app import APP_NAME
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
    parser.add_argument(
        "--events",
        type=Path,
        metavar="FILE",
        help="append each source's events (opened, first frame on screen, lost, reconnected, ended) and "
        "its numbers once a second to FILE as JSON lines",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="start recording at once (annotated video + JSONL per source into --record-dir); it ends "
        "with Record, closing the window, Ctrl+Q, Ctrl-C or SIGTERM, the files complete each time",
    )
    return parser


# What Qt 6's xcb platform plugin loads besides libxcb itself: (library, its soname, Debian package).
XCB_LIBRARIES = (
    ("xcb-cursor", "libxcb-cursor.so.0", "libxcb-cursor0"),
    ("xkbcommon-x11", "libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("xcb-icccm", "libxcb-icccm.so.4", "libxcb-icccm4"),
    ("xcb-keysyms", "libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("xcb-image", "libxcb-image.so.0", "libxcb-image0"),
    ("xcb-render-util", "libxcb-render-util.so.0", "libxcb-render-util0"),
    ("xcb-shape", "libxcb-shape.so.0", "libxcb-shape0"),
    ("xcb-randr", "libxcb-randr.so.0", "libxcb-randr0"),
    ("xcb-xkb", "libxcb-xkb.so.1", "libxcb-xkb1"),
)


def loadable(soname: str) -> bool:
    """The dynamic linker finds the library, as Qt's plugin will (milliseconds; ctypes.util's
    find_library runs ldconfig or a compiler for each name: seconds on a busy machine, before the
    splash)."""
    import ctypes

    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_packages(find_library=None) -> list[str]:
    """Debian packages of the X11 libraries Qt's xcb plugin needs and this machine lacks;
    `find_library(name)` is None for a missing one (by default: whether its soname loads)."""
    if find_library is None:
        sonames = {library: soname for library, soname, _ in XCB_LIBRARIES}

        def find_library(name: str) -> str | None:
            return sonames[name] if loadable(sonames[name]) else None

    return [package for library, _, package in XCB_LIBRARIES if find_library(library) is None]


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
    # Something on screen at once: the option parser's help imports torch (seconds, more on a busy
    # machine), building the window and loading the model take seconds more. Without a usable
    # display, or for --help, the options come first.
    wants_help = any(word in ("-h", "--help") for word in argv)
    splash = Splash() if display_usable() and not wants_help else None
    try:
        if splash is not None:
            splash.say("checking the options…")
        args = build_parser(command).parse_args(argv)
        notes: list[str] = []
        apply_zoo_defaults(args, notes.append)  # model names and cached defaults, one line each
        config = pipeline_config_from_args(args)  # every option checked as `track` checks it
        style = draw_style_from_args(args)
        require_display()
        for line in notes:
            print(line, file=sys.stderr)
        splash = splash or Splash()
        splash.say("building the window…")
        from app.window import MainWindow, WindowOptions

        window = MainWindow(WindowOptions(config, Path(args.record_dir), style, args.events))
    except BaseException:
        if splash is not None:
            splash.close()
        raise
    window.show()
    splash.close()
    if args.source:
        window.open_sources(args.source)
    if args.record:
        window.toggle_recording()
    return run_until_closed(window)


def display_usable() -> bool:
    try:
        require_display()
    except UserError:
        return False
    return True


class Splash:
    """The app's name on screen within a moment of starting, painted before anything slow runs."""

    def __init__(self) -> None:
        from PyQt6.QtCore import Qt
        from PyQt6.QtGui import QColor, QPainter, QPixmap
        from PyQt6.QtWidgets import QApplication, QSplashScreen

        self.app = QApplication.instance() or QApplication(sys.argv[:1])  # our options are parsed
        self.app.setApplicationName(APP_NAME)
        pixmap = QPixmap(460, 170)
        pixmap.fill(QColor("#202024"))
        painter = QPainter(pixmap)
        font = painter.font()
        font.setPixelSize(22)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#f0f0f0"))
        painter.drawText(pixmap.rect().adjusted(0, 30, 0, -70), Qt.AlignmentFlag.AlignCenter, APP_NAME)
        painter.end()
        self.widget = QSplashScreen(pixmap)
        self.widget.show()
        self.say("starting…")
        deadline = time.monotonic() + 1.0  # mapped is not painted: wait for the screen to show it
        while not self.widget.windowHandle().isExposed() and time.monotonic() < deadline:
            self.app.processEvents()
            time.sleep(0.01)
        self.widget.repaint()  # QSplashScreen.repaint also processes events: painted now

    def say(self, text: str) -> None:
        from PyQt6.QtCore import Qt
        from PyQt6.QtGui import QColor

        alignment = Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter
        self.widget.showMessage(f"{text}\n", alignment, QColor("#c8c8d0"))
        self.widget.repaint()

    def close(self) -> None:
        self.widget.close()


def run_until_closed(window) -> int:
    """The event loop; Ctrl-C in the terminal, SIGTERM (a service manager, `kill`) and the other stop
    signals of the commands (core.cli.entry.STOP_SIGNALS: a closed terminal's SIGHUP, …) close the
    window the normal way, so a recording in progress is finalised. Python handles signals only when
    it runs, so a timer gives it a moment ten times a second."""
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from core.cli.entry import STOP_SIGNALS

    def close(*_) -> None:
        window.close()

    for number in STOP_SIGNALS:
        signal.signal(number, close)
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(100)
    return QApplication.instance().exec()
