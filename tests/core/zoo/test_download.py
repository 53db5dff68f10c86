"""The downloader against a loopback server (127.0.0.1 only): progress, cache hits without a request,
digest mismatches, truncated bodies, 404, refused connections, stalls, interruptions, Range resume,
web pages, proxies, a mirror with credentials, and the offline line. Every failure is one UserError
line, names what failed (the proxy, not the host behind it) with credentials masked, and leaves no
cache entry."""

import base64
import os
import socket
import time

import pytest

from core.errors import UserError
from core.zoo import DownloadSettings, download, fetch, is_cached
from core.zoo.cache import entry_path, partial_path
from core.zoo.download import _classify
from tests.support.weights import pose_entry, registered, sha256

QUICK = DownloadSettings(connect_timeout=2.0, read_timeout=0.5, retries=3, backoff=0.01)
BODY = os.urandom(300_000)


def entry_for(monkeypatch, server, body=BODY, **behaviour):
    return registered(monkeypatch, server, pose_entry("test-pose", body), body, **behaviour)


def assert_not_cached(entry):
    assert not is_cached(entry)
    assert not entry_path(entry).exists()
    if not partial_path(entry).exists():  # nothing to resume: not even an empty folder is left
        assert not entry_path(entry).parent.exists()


def test_download_reports_progress_and_a_cache_hit_makes_no_request(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server)
    seen = []
    path = fetch(entry, lambda done, total: seen.append((done, total)), QUICK)
    assert path.read_bytes() == BODY and is_cached(entry)
    assert seen[-1] == (len(BODY), len(BODY))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # monotonic
    assert not partial_path(entry).exists()
    assert fetch(entry, settings=QUICK) == path
    assert weights_server.count(entry.file_name) == 1  # the second fetch was a cache hit


def test_a_file_whose_digest_differs_is_refused_and_nothing_is_cached(monkeypatch, weights_server):
    entry = registered(monkeypatch, weights_server, pose_entry("test-pose", b"the published file"), BODY)
    with pytest.raises(UserError, match=r"SHA-256 starts .*publishes .*nothing was cached"):
        download(entry, settings=QUICK)
    assert_not_cached(entry)
    assert not partial_path(entry).exists()
    assert weights_server.count(entry.file_name) == 1  # a mismatch is not retried


def test_a_truncated_body_is_resumed_with_a_range_request(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server, truncate_times=1)
    assert download(entry, settings=QUICK).read_bytes() == BODY
    ranges = [r for name, r in weights_server.state.requests if name == entry.file_name]
    assert ranges == [None, f"bytes={len(BODY) // 2}-"]


def test_a_body_truncated_every_time_fails_after_three_retries(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server, truncate_times=99, ranges=False)
    with pytest.raises(UserError, match=r"broke off.*4 attempts.*weights import test-pose"):
        download(entry, settings=QUICK)
    assert weights_server.count(entry.file_name) == 4
    assert_not_cached(entry)


def test_a_server_without_range_support_restarts_from_the_first_byte(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server, truncate_times=1, ranges=False)
    assert download(entry, settings=QUICK).read_bytes() == BODY


def test_404_is_one_line_without_retries(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server, status=404)
    with pytest.raises(UserError, match=r"cannot download test-pose from http://127\.0\.0\.1:\d+/.*HTTP 404"):
        download(entry, settings=QUICK)
    assert weights_server.count(entry.file_name) == 1
    assert_not_cached(entry)


def test_a_refused_connection_is_retried_then_reported(monkeypatch):
    monkeypatch.delenv("POSE_OFFLINE")
    entry = pose_entry("test-pose", BODY, url=f"http://127.0.0.1:{dead_port()}/file-{sha256(BODY)[:8]}.pth")
    started = time.monotonic()
    with pytest.raises(UserError, match=r"refused.*4 attempts"):
        download(entry, settings=QUICK)
    assert time.monotonic() - started < 5
    assert_not_cached(entry)


def test_a_stalled_server_times_out_within_a_bound(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server, stall_seconds=30)
    settings = DownloadSettings(connect_timeout=2.0, read_timeout=0.3, retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(UserError, match=r"timed out.*2 attempts"):
        download(entry, settings=settings)
    assert time.monotonic() - started < 3  # two reads of 0.3 s, not the server's 30 s
    assert_not_cached(entry)


def test_an_interrupted_download_leaves_no_entry_and_resumes_next_time(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server)

    def interrupt(done, total):
        if done > 100_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(entry, interrupt, QUICK)
    assert_not_cached(entry)
    assert 100_000 < partial_path(entry).stat().st_size < len(BODY)
    kept = partial_path(entry).stat().st_size
    assert download(entry, settings=QUICK).read_bytes() == BODY
    assert weights_server.state.requests[-1] == (entry.file_name, f"bytes={kept}-")


def test_offline_is_one_line_naming_the_url_and_the_import_command(monkeypatch, weights_server):
    entry = entry_for(monkeypatch, weights_server)
    monkeypatch.setenv("POSE_OFFLINE", "1")
    with pytest.raises(UserError) as caught:
        fetch(entry, settings=QUICK)
    message = str(caught.value)
    assert "\n" not in message
    assert "POSE_OFFLINE=1" in message and entry.url in message
    assert "python run.py weights import test-pose FILE" in message
    assert weights_server.state.requests == []
    assert_not_cached(entry)


def test_no_route_and_unresolvable_hosts_are_not_retried():
    """Classified from the errors the socket layer raises (no other host is ever contacted)."""
    from core.zoo.download import _NoRoute, _Transient

    assert isinstance(
        _classify(socket.gaierror(-2, "Name or service not known"), "https://x.org/f"), _NoRoute
    )
    assert isinstance(_classify(OSError(101, "Network is unreachable"), "https://x.org/f"), _NoRoute)
    assert isinstance(_classify(ConnectionRefusedError(111, "refused"), "https://x.org/f"), _Transient)


def test_a_mirror_serves_the_same_file_names_and_the_published_digest_still_applies(
    monkeypatch, weights_server
):
    """POSE_WEIGHTS_MIRROR redirects a real entry; a file that is not the published one is refused."""
    from core.zoo import lookup

    entry = lookup("hrnet-w32")
    weights_server.serve(entry.file_name, BODY)
    monkeypatch.setenv("POSE_WEIGHTS_MIRROR", weights_server.base)
    assert entry.download_url == f"{weights_server.base}/{entry.file_name}"
    with pytest.raises(UserError, match="the file name publishes 81c58e40"):
        download(entry, settings=QUICK)
    assert_not_cached(entry)


def dead_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_dead_proxy_is_named_not_the_host_it_never_reached(monkeypatch):
    """Only the proxy (a dead port on 127.0.0.1) is contacted; the origin's name is never resolved."""
    monkeypatch.delenv("POSE_OFFLINE")
    proxy = f"http://user:proxy-pw@127.0.0.1:{dead_port()}"
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    entry = pose_entry("test-pose", BODY, url=f"http://weights.example/file-{sha256(BODY)[:8]}.pth")
    with pytest.raises(UserError) as caught:
        download(entry, settings=QUICK)
    message = str(caught.value)
    assert f"the proxy http://***@127.0.0.1:{proxy.rsplit(':', 1)[1]} (from http_proxy): " in message
    assert "refused" in message and "proxy-pw" not in message
    assert "resume" not in message  # nothing arrived, so nothing resumes
    assert_not_cached(entry)


def test_a_web_page_is_refused_at_once_and_said_as_such(monkeypatch, weights_server):
    page = b"<html><head><title>Captive portal</title></head><body>Accept the terms</body></html>"
    entry = registered(monkeypatch, weights_server, pose_entry("test-pose", BODY), page)
    with pytest.raises(UserError, match=r"sent a web page \(HTML\) instead of the file: a captive portal"):
        download(entry, settings=QUICK)
    assert weights_server.count(entry.file_name) == 1
    assert_not_cached(entry)
    assert not partial_path(entry).exists()


def test_a_mirror_with_credentials_gets_them_as_basic_auth_and_they_are_never_shown(
    monkeypatch, weights_server
):
    from core.zoo import lookup

    entry = registered(monkeypatch, weights_server, pose_entry("test-pose", BODY), BODY)
    monkeypatch.setenv("POSE_WEIGHTS_MIRROR", weights_server.base.replace("//", "//reader:t%2Fk%23n@"))
    assert download(lookup("test-pose"), settings=QUICK).read_bytes() == BODY
    assert weights_server.state.authorizations == ["Basic " + base64.b64encode(b"reader:t/k#n").decode()]
    weights_server.state.files.pop(entry.file_name)
    with pytest.raises(UserError) as caught:
        download(lookup("test-pose"), settings=QUICK)
    assert "HTTP 404" in str(caught.value) and "t%2Fk" not in str(caught.value)
    assert "reader" not in str(caught.value)
