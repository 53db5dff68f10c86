"""A real RTSP server on loopback for the stream tests: GStreamer's, run by the system python
(python3-gi), with basic auth; started, killed, frozen and restarted on the same port."""

import os
import select
import signal
import socket
import subprocess

import pytest

from tests.support.helpers import ROOT, require

SYSTEM_PYTHON = "/usr/bin/python3"
PASSWORD = "s3cretPassw0rd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rtsp_server_available() -> bool:
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    if subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True).returncode != 0:
        return False
    plugins = (
        subprocess.run(["gst-inspect-1.0", "x264enc"], capture_output=True)
        if _has("gst-inspect-1.0")
        else None
    )
    return plugins is not None and plugins.returncode == 0


def _has(tool: str) -> bool:
    from shutil import which

    return which(tool) is not None


class RtspServer:
    """tests/support/rtsp_server.py as a subprocess: start, kill, restart on the same port."""

    def __init__(self, port: int, user: str = "user", password: str = PASSWORD, file: str = ""):
        self.port, self.user, self.password, self.file = port, user, password, file
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://{self.user}:{self.password}@127.0.0.1:{self.port}/test"

    def start(self, timeout: float = 15.0) -> "RtspServer":
        command = [
            SYSTEM_PYTHON,
            str(ROOT / "tests" / "support" / "rtsp_server.py"),
            "--port",
            str(self.port),
            "--user",
            self.user,
            "--password",
            self.password,
            *(["--file", self.file] if self.file else []),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        assert line.startswith("ready"), f"RTSP server did not start: {line!r}"
        return self

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def rtsp_server():
    """A started server (skipped locally without GStreamer, required in CI)."""
    require(
        rtsp_server_available(), "GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0, x264enc)"
    )
    server = RtspServer(free_port()).start()
    yield server
    server.kill()
