"""Headless Chromium driven over the DevTools protocol: open a page, read what the console said,
evaluate JavaScript in it, take a screenshot. What the report's browser test, its screenshot for
the README and its load-time measurement share.

Debian's `chromium`, started as root on a closed network: no sandbox (root), no GPU, and nothing
that phones home (component updates, sync, background networking, QUIC). DevTools listens on a
free port of 127.0.0.1 that Chromium picks and writes into the fresh profile folder; the client is
the `websocket-client` package (the `test` extra). Nothing is downloaded.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class Chromium:
    """`with Chromium(path) as browser:` one headless browser with one page."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900, timeout: float = 60.0) -> None:
        self.executable = executable
        self.size = (width, height)
        self.timeout = timeout
        self.events: list[dict] = []
        self._next_id = 0

    def __enter__(self) -> Chromium:
        import websocket

        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        width, height = self.size
        self.process = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = self._port()
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
            with direct.open(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as answer:
                targets = json.load(answer)
            page = next(t for t in targets if t.get("type") == "page")
            # Our own TCP connection: websocket-client would send it through an http_proxy otherwise.
            connection = socket.create_connection(("127.0.0.1", port), timeout=self.timeout)
            self.channel = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True, socket=connection
            )
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        channel = getattr(self, "channel", None)
        if channel is not None:
            channel.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _port(self) -> int:
        """The port Chromium chose, from the DevToolsActivePort file it writes into the profile."""
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"chromium exited with status {self.process.returncode} before DevTools opened"
                )
            lines = marker.read_text().splitlines() if marker.is_file() else []
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
            time.sleep(0.05)
        raise TimeoutError("chromium did not open DevTools in time")

    # ------------------------------------------------------------------------------------ protocol
    def call(self, method: str, **params) -> dict:
        """One DevTools command and its result; events that arrive meanwhile go to `events`."""
        self._next_id += 1
        ident = self._next_id
        self.channel.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.channel.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        for i, message in enumerate(self.events):
            if message["method"] == event:
                return self.events.pop(i)
        while time.monotonic() < deadline:
            message = json.loads(self.channel.recv())
            if message.get("method") == event:
                return message
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"no {event} within the time limit")

    # --------------------------------------------------------------------------------------- page
    def open(self, path: Path) -> float:
        """Load a local file; seconds from the request to the page's load event."""
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        began = time.perf_counter()
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        return time.perf_counter() - began

    def evaluate(self, expression: str, awaited: bool = False):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=awaited
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"javascript failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def console_errors(self) -> list[str]:
        """Errors the page caused: console.error, uncaught exceptions, and the browser's own log
        (a blocked or failed resource, a Content Security Policy violation)."""
        self.call("Runtime.evaluate", expression="0")  # flush events that are on their way
        errors = []
        for message in self.events:
            method, params = message["method"], message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
                )
            elif method == "Runtime.exceptionThrown":
                errors.append(params.get("exceptionDetails", {}).get("text", "exception"))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", "error"))
        return errors

    def screenshot(self, path: Path, height: int | None = None) -> Path:
        """A PNG of the top of the page, `height` CSS pixels high (the window's by default)."""
        width = self.size[0]
        clip = {"x": 0, "y": 0, "width": width, "height": height or self.size[1], "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)[
            "data"
        ]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)
