"""An MJPEG camera on loopback: what many IP cameras serve over http (`multipart/x-mixed-replace`,
one JPEG per part, for ever), so a test can track a live http stream and stop it with Ctrl-C."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "frame"


class MjpegServer:
    """`with MjpegServer() as camera:` serves `camera.url` until the block ends."""

    def __init__(self, size: tuple[int, int] = (64, 48), fps: float = 25.0) -> None:
        width, height = size
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 255, (height, width, 3), dtype=np.uint8) for _ in range(8)]
        self.jpegs = [cv2.imencode(".jpg", frame)[1].tobytes() for frame in frames]
        self.period = 1.0 / fps
        self.stopped = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                index = 0
                try:
                    while not server.stopped.wait(server.period):
                        jpeg = server.jpegs[index % len(server.jpegs)]
                        head = (
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                        )
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                        index += 1
                except OSError:  # the client went away
                    pass

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> MjpegServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.http.shutdown()
        self.http.server_close()
