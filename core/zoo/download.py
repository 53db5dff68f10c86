"""Fetching a registry file into the cache: never a hang, never a half-written entry, one line on failure.

- Bounded: a connect timeout and a read timeout (every blocking read, so a server that stalls
  mid-body is dropped too), three retries with doubling backoff for what may pass (timeouts, resets,
  truncated bodies, 5xx), none for what will not (404, a digest mismatch, no route to the host, a
  web page where the file should be, a cache that cannot be written).
- One download per entry: the entry's lock (core.zoo.cache.entry_lock) is held from the first byte
  to the rename; a second process asking for the same entry waits, showing the first one's
  progress, and then uses its file.
- Resumable: bytes go to `<file>.partial`; a retry or a later run asks for the rest with an HTTP
  Range request and appends when the server answers 206 (a 200 starts over).
- Verified: the partial file is renamed into the cache only after its SHA-256 matches the published
  digest (or, without one, after its structure checks pass and its digest is recorded).
- Proxies come from the environment (`http_proxy`, `https_proxy`, `no_proxy`), as urllib reads them;
  a connection that fails names the proxy, not the origin it never reached. URLs are shown with
  their credentials masked (core.redact), a mirror's included.
- Offline (`POSE_OFFLINE=1`, or no route to the host): one line naming the URL and the
  `weights import` command that takes a file fetched another way.
Nothing here runs unless the user names a registry entry or runs `weights get`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from core.errors import UserError, one_line
from core.redact import redact_url, url_secrets
from core.zoo.cache import (
    WEB_PAGE_CAUSE,
    cached_file,
    discard,
    entry_lock,
    install,
    is_cached,
    partial_path,
    prune_empty,
    starts_like_web_page,
    storage_error,
)
from core.zoo.registry import MIRROR_ENV, ZooEntry

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
Notice = Callable[[str], None]  # one line for the user (waiting for another process)
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


class _Storage(Exception):
    """The partial file cannot be written: the cache's problem, not the server's."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def import_hint(entry: ZooEntry) -> str:
    return (
        f"fetch {redact_url(entry.download_url)} another way (browser, proxy) and run "
        f"`python run.py weights import {entry.name} FILE`"
    )


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fetch(
    entry: ZooEntry,
    progress: Progress | None = None,
    settings: DownloadSettings | None = None,
    notice: Notice = say,
) -> Path:
    """The entry's verified file: from the cache when there, else downloaded (no request on a hit).
    Another process downloading the same entry is waited for, and its file used."""
    if is_cached(entry):
        return cached_file(entry)
    return _locked_download(entry, progress, settings, notice, reuse_cached=True)


def download(
    entry: ZooEntry,
    progress: Progress | None = None,
    settings: DownloadSettings | None = None,
    notice: Notice = say,
) -> Path:
    """Download, verify and install the entry's file; UserError (one line) when that cannot be done.
    Only when another process was downloading it at the same time is its file used instead."""
    return _locked_download(entry, progress, settings, notice, reuse_cached=False)


def _locked_download(
    entry: ZooEntry,
    progress: Progress | None,
    settings: DownloadSettings | None,
    notice: Notice,
    reuse_cached: bool,
) -> Path:
    if is_offline():
        raise UserError(f"cannot download {entry.name}: offline ({OFFLINE_ENV}=1); {import_hint(entry)}")
    url = _checked_url(entry)
    waiting = _Waiting(entry, progress, notice)
    with entry_lock(entry, f"download {entry.name} into the weights cache", waiting) as waited:
        if (reuse_cached or waited) and is_cached(entry):
            return cached_file(entry)  # the other process's download
        try:
            return _download(entry, url, progress, settings or DownloadSettings())
        except UserError:
            prune_empty(entry)  # a failed first download leaves no empty folder behind
            raise


class _Waiting:
    """While another process holds the entry: one line saying so, then that download's progress as
    the size of its partial file."""

    def __init__(self, entry: ZooEntry, progress: Progress | None, notice: Notice) -> None:
        self.entry, self.progress, self.notice, self.said = entry, progress, notice, False

    def __call__(self, seconds: float) -> None:
        if not self.said:
            self.notice(f"{self.entry.name}: another process is downloading it; waiting for it to finish")
            self.said = True
        if self.progress is not None:
            with contextlib.suppress(OSError):
                self.progress(partial_path(self.entry).stat().st_size, None)


def _checked_url(entry: ZooEntry) -> str:
    """The URL to fetch, refused in one line when it cannot be (a mistyped $POSE_WEIGHTS_MIRROR).
    The line never quotes the parser's complaint: it may hold a piece of a password."""
    url = entry.download_url
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0-65535
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0
        why = "" if usable else "not an http:// or https:// URL with a host"
    except ValueError:
        why = "its host or port cannot be read"
        if url_secrets(url):
            why += "; write / # ? @ in a user name or password as %2F %23 %3F %40"
    if not why:
        return url
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    where = f"{MIRROR_ENV}={redact_url(mirror)!r}" if mirror else redact_url(url)
    raise UserError(f"cannot download {entry.name}: {where} is not a usable URL ({why})")


def _download(entry: ZooEntry, url: str, progress: Progress | None, settings: DownloadSettings) -> Path:
    shown = redact_url(url)
    partial_file = partial_path(entry)
    try:
        partial_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage_error(error, f"download {entry.name} into the weights cache") from None
    opener = _opener(settings.read_timeout)
    problem = ""
    for attempt in range(settings.retries + 1):
        if attempt:
            time.sleep(settings.backoff * 2 ** (attempt - 1))
        try:
            _transfer(opener, url, partial_file, progress, settings.connect_timeout)
            break
        except _Storage as error:
            raise storage_error(error.error, f"download {entry.name} into the weights cache") from None
        except _NoRoute as error:
            raise UserError(f"cannot download {entry.name}: {error}; {import_hint(entry)}") from None
        except _Permanent as error:
            discard(partial_file)
            raise UserError(f"cannot download {entry.name} from {shown}: {error}") from None
        except _Transient as error:
            problem = str(error)
    else:
        kept = partial_file.stat().st_size if partial_file.is_file() else 0
        if not kept:
            discard(partial_file)
        resumes = f"; the {kept} bytes that arrived resume next time" if kept else ""
        raise UserError(
            f"cannot download {entry.name}: {problem} ({settings.retries + 1} attempts{resumes}); "
            f"or {import_hint(entry)}"
        )
    try:
        return install(entry, partial_file)
    except UserError as error:
        discard(partial_file)
        raise UserError(f"downloaded {entry.name} from {shown}, but {error}; nothing was cached") from None


def _transfer(opener, url: str, target: Path, progress: Progress | None, connect_timeout: float) -> None:
    """One attempt: fetch `url` into `target`, resuming what is there when the server allows it.
    The file is opened first, so a cache that cannot be written costs no request; errors reading the
    network may pass (_Transient), errors writing the file will not (_Storage)."""
    try:
        with open(target, "ab") as file:
            _fetch_into(opener, url, file, progress, connect_timeout)
    except OSError as error:  # opening, writing, or the last flush: the cache's disk, not the network
        error.filename = error.filename or str(target)
        raise _Storage(error) from None


def _fetch_into(opener, url: str, file, progress: Progress | None, connect_timeout: float) -> None:
    start = file.tell()  # append mode: the bytes already there
    headers = {"User-Agent": "attention-hrnet-pose weights", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = opener.open(_request(url, headers), timeout=connect_timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # the partial file is not a prefix this server knows
            file.truncate(0)
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
        if not resumed:
            file.truncate(0)  # appends now start from the first byte
        done = start if resumed else 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else None
        done = _copy_body(response, file, done, total, progress)
    if total is not None and done != total:
        raise _Transient(f"transfer broke off after {done} of {total} bytes")


def _request(url: str, headers: dict[str, str]) -> urllib.request.Request:
    """A GET of `url`; credentials in it (a private mirror's `https://user:token@host/…`) go into a
    Basic Authorization header that is not repeated to wherever a redirect points (urllib itself
    would take `user:token@host` for the host name)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return urllib.request.Request(url, headers=headers)
    host = parts.netloc.rpartition("@")[2]
    request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=host)), headers=headers)
    user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _copy_body(response, file, done: int, total: int | None, progress: Progress | None) -> int:
    """Append the response body to `file`; the byte count reached. Read errors are _Transient; write
    errors stay OSError for the caller."""
    while True:
        try:
            chunk = response.read(CHUNK)
        except (OSError, http.client.HTTPException) as error:
            raise _Transient(f"transfer broke off after {done} bytes ({_describe(error)})") from None
        if not chunk:
            return done
        if done == 0 and starts_like_web_page(chunk):
            raise _Permanent(f"the server sent a web page (HTML) instead of the file: {WEB_PAGE_CAUSE}")
        file.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)


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
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # "Connection refused", without "[Errno 111]"
    return one_line(error)


def _classify(error, url: str) -> Exception:
    """A failed connection as _NoRoute, or _Transient, naming what could not be reached: the proxy
    from the environment when the request goes through one (never the origin it was not sent to)."""
    parts = urllib.parse.urlsplit(url)
    where = parts.hostname
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.netloc):
        where = f"the proxy {redact_url(proxy)} (from {parts.scheme}_proxy)"
    if isinstance(error, socket.gaierror):
        return _NoRoute(f"no route to {where} (its name does not resolve: offline?)")
    if isinstance(error, OSError) and error.errno in _NO_ROUTE:
        return _NoRoute(f"no route to {where} ({one_line(error)})")
    if isinstance(error, OSError | http.client.HTTPException):
        return _Transient(f"{where}: {_describe(error)}")
    return _Transient(f"{where}: {error}")


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
    """A tqdm bar on stderr fed by the downloader's (done, total) calls; none when stderr is not a
    terminal, where its carriage returns would leave a stale `0%` line glued before the next line."""
    from tqdm import tqdm

    bar = tqdm(
        desc=entry.name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
        delay=0.5,
        disable=not sys.stderr.isatty(),
    )

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
