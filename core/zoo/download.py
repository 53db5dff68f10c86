"""Fetching a registry file into the cache: never a hang, never a half-written entry, one line on failure.

- Bounded: a connect timeout and a read timeout (every blocking read, so a server that stalls
  mid-body is dropped too), three retries with doubling backoff for what may pass (timeouts, resets,
  truncated bodies, 5xx), none for what will not (404, a digest mismatch, no route to the host).
- Resumable: bytes go to `<file>.partial`; a retry or a later run asks for the rest with an HTTP
  Range request and appends when the server answers 206 (a 200 starts over).
- Verified: the partial file is renamed into the cache only after its SHA-256 matches the published
  digest (or, without one, after its structure checks pass and its digest is recorded).
- Proxies come from the environment (`http_proxy`, `https_proxy`, `no_proxy`), as urllib reads them.
- Offline (`POSE_OFFLINE=1`, or no route to the host): one line naming the URL and the
  `weights import` command that takes a file fetched another way.
Nothing here runs unless the user names a registry entry or runs `weights get`.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from core.errors import UserError, one_line
from core.zoo.cache import cached_file, digest_path, install, is_cached, partial_path, prune_empty
from core.zoo.registry import ZooEntry

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
OFFLINE_ENV = "POSE_OFFLINE"
CHUNK = 1 << 16
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN}


@dataclass(frozen=True)
class DownloadSettings:
    connect_timeout: float = 15.0
    read_timeout: float = 30.0  # per blocking read: a stalled server costs at most this per attempt
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry, doubling after each


class _Transient(Exception):
    """Worth another attempt (after a pause), resuming what arrived."""


class _Permanent(Exception):
    """Another attempt would fail the same way."""


class _NoRoute(_Permanent):
    """The network is not there: said as the offline line."""


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def import_hint(entry: ZooEntry) -> str:
    return (
        f"fetch {entry.download_url} another way (browser, proxy) and run "
        f"`python run.py weights import {entry.name} FILE`"
    )


def fetch(
    entry: ZooEntry, progress: Progress | None = None, settings: DownloadSettings | None = None
) -> Path:
    """The entry's verified file: from the cache when there, else downloaded (no request on a hit)."""
    if is_cached(entry):
        return cached_file(entry)
    return download(entry, progress, settings)


def download(
    entry: ZooEntry, progress: Progress | None = None, settings: DownloadSettings | None = None
) -> Path:
    """Download, verify and install the entry's file; UserError (one line) when that cannot be done."""
    try:
        return _download(entry, progress, settings or DownloadSettings())
    except UserError:
        prune_empty(entry)  # a failed first download leaves no empty folder behind
        raise


def _download(entry: ZooEntry, progress: Progress | None, settings: DownloadSettings) -> Path:
    url = entry.download_url
    if is_offline():
        raise UserError(f"cannot download {entry.name}: offline ({OFFLINE_ENV}=1); {import_hint(entry)}")
    partial_file = partial_path(entry)
    partial_file.parent.mkdir(parents=True, exist_ok=True)
    digest_path(entry).parent.mkdir(parents=True, exist_ok=True)
    opener = _opener(settings.read_timeout)
    problem = ""
    for attempt in range(settings.retries + 1):
        if attempt:
            time.sleep(settings.backoff * 2 ** (attempt - 1))
        try:
            _transfer(opener, url, partial_file, progress, settings.connect_timeout)
            break
        except _NoRoute as error:
            raise UserError(f"cannot download {entry.name}: {error}; {import_hint(entry)}") from None
        except _Permanent as error:
            _discard(partial_file)
            raise UserError(f"cannot download {entry.name} from {url}: {error}") from None
        except _Transient as error:
            problem = str(error)
    else:
        raise UserError(
            f"cannot download {entry.name}: {problem} ({settings.retries + 1} attempts; the partial file "
            f"resumes next time); or {import_hint(entry)}"
        )
    try:
        return install(entry, partial_file)
    except UserError as error:
        _discard(partial_file)
        raise UserError(f"downloaded {entry.name} from {url}, but {error}; nothing was cached") from None


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _transfer(opener, url: str, target: Path, progress: Progress | None, connect_timeout: float) -> None:
    """One attempt: fetch `url` into `target`, resuming what is there when the server allows it."""
    start = target.stat().st_size if target.exists() else 0
    headers = {"User-Agent": "attention-hrnet-pose weights", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = opener.open(urllib.request.Request(url, headers=headers), timeout=connect_timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # the partial file is not a prefix this server knows
            _discard(target)
            raise _Transient("the server refused to resume; starting over") from None
        if error.code >= 500 or error.code in (408, 429):
            raise _Transient(f"HTTP {error.code} {error.reason}") from None
        raise _Permanent(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _classify(error.reason, url) from None
    except (OSError, http.client.HTTPException) as error:
        raise _classify(error, url) from None
    with response:
        resumed = response.status == 206 and _content_range_start(response) == start
        done = start if resumed else 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else None
        try:
            with open(target, "ab" if resumed else "wb") as file:
                while chunk := response.read(CHUNK):
                    file.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        except (OSError, http.client.HTTPException) as error:
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES):
                raise _Permanent(f"cannot write {target}: {one_line(error)}") from None
            raise _Transient(f"transfer broke off after {done} bytes ({_describe(error)})") from None
    if total is not None and done != total:
        raise _Transient(f"transfer broke off after {done} of {total} bytes")


def _content_range_start(response) -> int | None:
    """The first byte of a 206 answer (`Content-Range: bytes START-END/TOTAL`)."""
    value = response.headers.get("Content-Range", "")
    unit, _, span = value.partition(" ")
    first = span.partition("-")[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(error, http.client.IncompleteRead):
        return "the connection closed early"
    return one_line(error)


def _classify(error, url: str) -> Exception:
    host = urllib.request.urlparse(url).hostname
    if isinstance(error, socket.gaierror):
        return _NoRoute(f"no route to {host} (its name does not resolve: offline?)")
    if isinstance(error, OSError) and error.errno in _NO_ROUTE:
        return _NoRoute(f"no route to {host} ({one_line(error)})")
    if isinstance(error, OSError | http.client.HTTPException):
        return _Transient(f"{host}: {_describe(error)}")
    return _Transient(f"{host}: {error}")


# ---- connections whose reads time out separately from connecting ---------------------------------


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, read_timeout: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()  # bounded by the connect timeout
        self.sock.settimeout(self.read_timeout)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, read_timeout: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req):
        return self.do_open(partial(_HTTPConnection, read_timeout=self.read_timeout), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def https_open(self, req):
        connection = partial(_HTTPSConnection, read_timeout=self.read_timeout)
        return self.do_open(connection, req, context=self._context)


def _opener(read_timeout: float) -> urllib.request.OpenerDirector:
    """urllib with the environment's proxies (ProxyHandler reads them) and our timed connections."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler(), _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout)
    )


# ---- a progress bar for the command line --------------------------------------------------------


@contextlib.contextmanager
def tqdm_progress(entry: ZooEntry) -> Iterator[Progress]:
    """A tqdm bar on stderr fed by the downloader's (done, total) calls."""
    from tqdm import tqdm

    bar = tqdm(desc=entry.name, unit="B", unit_scale=True, unit_divisor=1024, leave=False, delay=0.5)

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
