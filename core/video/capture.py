"""The blocking half of a frame source: probing and opening files, image sequences, webcams and streams.

Each `probe_*` opens its input synchronously, reads the first frame (so bad input fails at once with
one UserError line) and returns a `Probe` that core.video.sources wraps in a capture thread. Stream opens
are bounded in time even when FFmpeg does not honour its own timeouts.
"""

import atexit
import base64
import glob
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import cv2
import numpy as np

from core.atomic import special_kind
from core.errors import UserError, one_line
from core.redact import redact_text, redact_url, url_secrets

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
log = logging.getLogger(__name__)

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt")


class Reader(Protocol):
    def read(self) -> tuple[np.ndarray | None, float | None]:
        """(BGR image, timestamp in ms or None); (None, None) at the end or on failure."""

    def release(self) -> None: ...


class CaptureReader:
    """cv2.VideoCapture for files, webcams and streams."""

    def __init__(self, capture: cv2.VideoCapture):
        self.capture = capture

    def read(self) -> tuple[np.ndarray | None, float | None]:
        ok, image = self.capture.read()
        if not ok or image is None:
            return None, None
        return image, self.capture.get(cv2.CAP_PROP_POS_MSEC)

    def release(self) -> None:
        self.capture.release()


# The largest frame a source may have: 8192 x 8192 (8K video is 7680 x 4320). A 20000 x 20000 image
# takes 1.2 GB decoded, and every stage after it (detector, crops, annotated video) scales with it.
MAX_FRAME_PIXELS = 8192 * 8192


def frame_size_problem(width: int, height: int) -> str:
    """Why frames of this size cannot be tracked ("" when they can)."""
    if width * height > MAX_FRAME_PIXELS:
        return f"frames of {width}x{height} are larger than 8192x8192 pixels; scale it down first"
    return ""


def encoded_image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG's or a JPEG's header, without decoding the pixels."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            return int.from_bytes(data[at + 7 : at + 9], "big"), int.from_bytes(data[at + 5 : at + 7], "big")
        at += 2 + length
    return None


def read_image(path: Path) -> tuple[np.ndarray | None, str]:
    """(BGR image, "") or (None, why). A JPEG without its end marker is refused before libjpeg sees it:
    libjpeg would decode the grey rest of it and print "Premature end of JPEG file" on the process's
    stderr, beside the one line a user should get. An image larger than MAX_FRAME_PIXELS is refused
    from its header, before it takes gigabytes."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, one_line(error)
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
        return None, "truncated JPEG"
    size = encoded_image_size(data)
    if size is not None and frame_size_problem(*size):
        return None, frame_size_problem(*size)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None, "not an image OpenCV can decode"
    problem = frame_size_problem(image.shape[1], image.shape[0])
    return (None, problem) if problem else (image, "")


class ImageListReader:
    """A sorted list of image files read one by one; unreadable images are skipped (and counted)."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self.position = 0
        self.skipped: list[Path] = []

    def read(self) -> tuple[np.ndarray | None, float | None]:
        while self.position < len(self.paths):
            path = self.paths[self.position]
            self.position += 1
            image, why = read_image(path)
            if image is not None:
                return image, None
            self.skipped.append(path)
            log.warning("skipping unreadable image %s (%s)", path, why)
        return None, None

    def release(self) -> None:
        self.position = len(self.paths)


@dataclass
class Probe:
    """An opened input with its first frame; `reopen` (streams, webcams) opens it again after a failure.

    `reopen(cancel)` gives up early (UserError) once the `cancel` event is set.
    """

    name: str  # redacted display name
    kind: str  # "file" | "images" | "webcam" | "stream"
    reader: Reader
    first_image: np.ndarray
    first_msec: float | None
    live: bool  # the natural mode; open_source(live=...) may override it
    fps: float | None
    frame_count: int | None
    reopen: Callable[[threading.Event], Reader] | None = None
    secrets: tuple[str, ...] = field(default=())


def natural_key(path: Path) -> list:
    """frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def image_files(paths: list[Path]) -> list[Path]:
    images = (p for p in paths if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    return sorted(images, key=natural_key)


def _valid_fps(value: float) -> float | None:
    return float(value) if np.isfinite(value) and 0.0 < value < 1000.0 else None


def probe_path(text: str, image_fps: float) -> Probe:
    """A video file, an image folder, a single image or a glob of images."""
    path = Path(text).expanduser()
    if path.is_dir():
        images = image_files(list(path.iterdir()))
        if not images:
            raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}")
        return probe_images(images, str(path), image_fps)
    if path.is_file():
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return probe_images([path], str(path), image_fps)
        return probe_video_file(path)
    kind = special_kind(path)
    if kind is not None:  # a FIFO, /dev/zero, /dev/urandom: FFmpeg would read it forever
        raise UserError(f"not a regular video file: {path} is a {kind}")
    if any(ch in text for ch in "*?["):
        matches = [Path(p) for p in glob.glob(str(path), recursive=True)]
        images = image_files(matches)
        if not images:
            files = [p for p in matches if p.is_file()]
            if files:
                raise UserError(
                    f"glob {text!r} matches {len(files)} files but no images: one source is one video "
                    "(open them together, or give the glob to `run.py track`)"
                )
            raise UserError(f"glob {text!r} matches nothing")
        return probe_images(images, text, image_fps)
    raise UserError(f"source not found: {text}")


# Signatures of the containers FFmpeg reads video from: (offset, magic bytes, name).
_CONTAINER_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MOV"),
    (4, b"mdat", "MOV"),
    (4, b"wide", "MOV"),
    (4, b"free", "MOV"),
    (4, b"skip", "MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"RIFF", "AVI"),
    (0, b"OggS", "Ogg"),
    (0, b"FLV", "FLV"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMV"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"\x00\x00\x01\xb3", "MPEG video"),
    (0, b"\x00\x00\x00\x01", "H.264/HEVC stream"),
    (0, b"\x00\x00\x01", "MPEG elementary stream"),
    (0, b"YUV4MPEG2", "Y4M"),
    (0, b"GIF8", "GIF"),
    (0, b"\xff\xd8\xff", "MJPEG"),
    (0, b"DKIF", "IVF"),
)


def container_format(head: bytes) -> str | None:
    """The video container these first bytes start (by signature), or None when none matches."""
    for offset, magic, name in _CONTAINER_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:  # MPEG-TS: a sync byte every 188
        return "MPEG-TS"
    return None


def looks_like_text(head: bytes) -> bool:
    """Printable text (UTF-8, no NUL, hardly any control bytes): what no video container starts with."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # a multi-byte character cut at the end is still text
            return False
        text = head[: error.start].decode("utf-8")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\x1b")
    return controls <= len(text) // 100


class UnreadableInput(UserError):
    """An input this user may not read: its own job fails, the batch goes on (a batch checks its
    inputs before the model loads, and one unreadable video must not stop the others)."""


def check_video_file(path: Path | str) -> None:
    """Refuse what is not a video before FFmpeg gets to guess: its tty demuxer would happily show a
    text file (a MOTChallenge gt.txt) as frames of ANSI art. Judged by content, not by extension.
    Anything that is not a regular file (a folder, a camera index, a URL) is left to its opener."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() in IMAGE_EXTENSIONS:
        return
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
    except OSError as error:
        raise UnreadableInput(f"cannot read {path}: {error.strerror or error}") from None
    if not head:
        raise UserError(f"not a video: {path} is empty")
    if container_format(head) is None and looks_like_text(head):
        raise UserError(
            f"not a video: {path} is a text file (give a video, image, camera index or stream URL)"
        )


def probe_video_file(path: Path) -> Probe:
    check_video_file(path)
    try:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    except cv2.error as exc:
        raise UserError(f"cannot read video {path}: {one_line(exc)}") from None
    if not capture.isOpened():
        capture.release()
        raise UserError(f"cannot read video {path}: not a video file, corrupt, or an unsupported codec")
    ok, image = capture.read()
    if not ok or image is None:
        capture.release()
        raise UserError(f"video has no frames: {path}")
    problem = frame_size_problem(image.shape[1], image.shape[0])
    if problem:
        capture.release()
        raise UserError(f"cannot track {path}: {problem}")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    return Probe(
        name=str(path),
        kind="file",
        reader=CaptureReader(capture),
        first_image=image,
        first_msec=capture.get(cv2.CAP_PROP_POS_MSEC),
        live=False,
        fps=_valid_fps(capture.get(cv2.CAP_PROP_FPS)),
        frame_count=count if count > 0 else None,
    )


def probe_images(images: list[Path], name: str, fps: float) -> Probe:
    reader = ImageListReader(images)
    if len(images) == 1:  # one image: why it cannot be read is the error itself, not a warning
        first, why = read_image(images[0])
        reader.position = 1
        if first is None:
            raise UserError(f"cannot read image {name}: {why}")
    else:
        first, _ = reader.read()
    if first is None:
        raise UserError(f"no readable images in {name}")
    return Probe(
        name=name,
        kind="images",
        reader=reader,
        first_image=first,
        first_msec=None,
        live=False,
        fps=fps,
        frame_count=len(images) - len(reader.skipped),
    )


MAX_CAMERA_INDEX = 9999  # OpenCV reads larger numbers as a backend plus an index, beyond a C int at 2^31


def camera_index(text: str | int) -> int:
    """The camera a source like "0" names; UserError for a number no camera can have."""
    value = str(text).strip()
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_CAMERA_INDEX:
        raise UserError(
            f"camera index must be a whole number from 0 to {MAX_CAMERA_INDEX}, got {value[:40]!r}"
        )
    return int(value)


def probe_webcam(index: int) -> Probe:
    def open_camera() -> tuple[cv2.VideoCapture, np.ndarray]:
        capture = cv2.VideoCapture(index)
        ok, image = capture.read() if capture.isOpened() else (False, None)
        if not ok or image is None:
            capture.release()
            raise UserError(f"cannot open camera {index}: no such device, or it is busy")
        return capture, image

    capture, image = open_camera()
    return Probe(
        name=f"camera {index}",
        kind="webcam",
        reader=CaptureReader(capture),
        first_image=image,
        first_msec=None,
        live=True,
        fps=_valid_fps(capture.get(cv2.CAP_PROP_FPS)),
        frame_count=None,
        reopen=lambda cancel: CaptureReader(open_camera()[0]),
    )


def probe_stream(
    url: str, connect_timeout: float, stall_timeout: float, cancel: threading.Event | None = None
) -> Probe:
    """A network stream; live unless it is an http(s) file with a frame count."""
    display = redact_url(url)
    timeouts = (connect_timeout, stall_timeout)
    capture, image = open_stream_bounded(url, *timeouts, cancel)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    live = url.split("://", 1)[0].lower() in LIVE_SCHEMES or count <= 0
    return Probe(
        name=display,
        kind="stream",
        reader=CaptureReader(capture),
        first_image=image,
        first_msec=capture.get(cv2.CAP_PROP_POS_MSEC),
        live=live,
        fps=_valid_fps(capture.get(cv2.CAP_PROP_FPS)),
        frame_count=None if live else count,
        reopen=lambda cancel: CaptureReader(open_stream_bounded(url, *timeouts, cancel)[0]),
        secrets=tuple(url_secrets(url)),
    )


# Open threads given up on (a timeout, Ctrl-C, SIGTERM): waited for (bounded) at exit, since tearing
# down a process while one is still inside FFmpeg aborts it ("terminate called without an active
# exception", exit 134) instead of exiting cleanly. Each sets its event as its last act: after a join
# that KeyboardInterrupt cut short, Python 3.11's Thread.is_alive() and join() can claim a thread
# has ended while it is still inside FFmpeg.
_abandoned_opens: list[threading.Event] = []


@atexit.register
def _join_abandoned_opens(budget: float = 15.0) -> None:
    deadline = time.monotonic() + budget
    for finished in _abandoned_opens:
        finished.wait(max(0.0, deadline - time.monotonic()))


def open_stream_bounded(
    url: str, timeout: float, stall_timeout: float, cancel: threading.Event | None = None
) -> tuple[cv2.VideoCapture, np.ndarray]:
    """Open a stream and read one frame, giving up after `timeout` even if FFmpeg ignores its own timeouts.

    The open runs in a helper thread (OpenCV releases the GIL); on timeout that thread is abandoned and
    releases its capture itself when the blocking call finally returns (DNS lookups cannot be cut short).
    """
    display = redact_url(url)
    if url.lower().startswith(("rtsp://", "rtsps://")):
        # Set before opening: OpenCV reads it at each open. TCP survives NAT and packet loss; UDP does not.
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    # FFmpeg gets a little less than the whole budget, so it normally gives up first and cleanly; the
    # thread join below is only the backstop.
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(max(0.1, min(timeout * 0.9, timeout - 0.3)) * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(stall_timeout * 1000),
    ]
    result: dict = {}
    lock = threading.Lock()
    abandoned = False
    finished = threading.Event()

    def worker() -> None:
        capture = None
        try:
            capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
            if not capture.isOpened():
                refused = not abandoned and rtsp_status(url, min(2.0, timeout)) == 401
                result["why"] = (
                    "authentication failed (wrong user or password)"
                    if refused
                    else "cannot connect, or not a supported stream"
                )
                return
            ok, image = capture.read()
            if not ok or image is None:
                result["why"] = "connected, but no frame arrived"
                return
            with lock:
                if not abandoned:
                    result["capture"], result["image"], capture = capture, image, None
        except cv2.error as exc:
            result["why"] = one_line(exc)
        finally:
            if capture is not None:
                capture.release()
            finished.set()

    thread = threading.Thread(target=worker, name=f"open {display}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while thread.is_alive() and time.monotonic() < deadline and not (cancel and cancel.is_set()):
            thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
    except BaseException:  # Ctrl-C or SIGTERM mid-open: waited for at exit, not torn down in FFmpeg
        with lock:
            abandoned = True
        _abandoned_opens.append(finished)
        raise
    with lock:
        if "capture" not in result and thread.is_alive():
            abandoned = True
            _abandoned_opens.append(finished)
            why = "cancelled" if cancel and cancel.is_set() else f"no answer within {timeout:g} s"
            raise UserError(f"cannot open stream {display}: {why}")
    if "capture" not in result:
        thread.join()  # it has finished or is about to: the reason is being written
        why = redact_text(result.get("why", "unknown error"), url_secrets(url))
        raise UserError(f"cannot open stream {display}: {why}")
    return result["capture"], result["image"]


def rtsp_status(url: str, timeout: float) -> int | None:
    """The status an RTSP server answers a DESCRIBE of `url` with (its credentials sent as Basic
    auth), or None when it cannot be asked. OpenCV reports every failed open alike; this tells a
    refused password (401) apart, which FFmpeg only writes to its log."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a password with an unencoded "/" makes part of it read as the port
    except ValueError:
        return None
    if parts.scheme.lower() != "rtsp" or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    lines = [
        f"DESCRIBE {urlunsplit(parts._replace(netloc=netloc))} RTSP/1.0",
        "CSeq: 1",
        "Accept: application/sdp",
    ]
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append("Authorization: Basic " + base64.b64encode(token).decode("ascii"))
    try:
        with socket.create_connection((parts.hostname, port or 554), timeout=timeout) as connection:
            connection.settimeout(timeout)
            connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            answer = connection.recv(256)
    except OSError:
        return None
    match = re.match(rb"RTSP/\d\.\d (\d{3})", answer)
    return int(match.group(1)) if match else None
