"""Credentials in stream URLs are masked wherever a source is named."""

from core.redact import redact_text, redact_url, url_secrets
from tests.support.helpers import TINY_MODEL, run_track


def test_user_and_password_are_masked():
    assert redact_url("rtsp://user:pass@host/x") == "rtsp://***@host/x"
    assert redact_url("rtsp://admin:s3cr3t@10.0.0.5:554/Streaming/Channels/101") == (
        "rtsp://***@10.0.0.5:554/Streaming/Channels/101"
    )
    # A password containing "@" is masked whole, not cut at the first "@".
    assert redact_url("rtmp://u:p@ss@cam.local/live") == "rtmp://***@cam.local/live"


def test_secret_query_values_are_masked_and_others_kept():
    url = "https://cam.example/stream.m3u8?channel=2&password=hunter2&token=abc123&api_key=k&authKey=z"
    assert redact_url(url) == (
        "https://cam.example/stream.m3u8?channel=2&password=***&token=***&api_key=***&authKey=***"
    )


def test_urls_without_credentials_and_paths_are_unchanged():
    for text in ("rtsp://127.0.0.1:8554/test", "/data/video.mp4", "0", "frames/*.jpg", "http://h/x?monkey=1"):
        assert redact_url(text) == text


def test_redact_text_finds_urls_and_literal_secrets_in_messages():
    url = "rtsp://user:topsecret@127.0.0.1:8554/test?token=tok123"
    message = f"[rtsp] could not open '{url}' (password topsecret rejected, token tok123)"
    redacted = redact_text(message, url_secrets(url))
    assert "topsecret" not in redacted and "tok123" not in redacted
    assert "rtsp://***@127.0.0.1:8554/test?token=***" in redacted


def test_passwords_with_slash_hash_or_question_mark_are_masked_whether_encoded_or_not():
    """People type passwords as they are; `/`, `#` and `?` end a URL's user info, but not its secret."""
    for password in ("pa/ss", "pa#ss", "pa?ss", "p/a#s?s@1", "pa%2Fss%231"):
        url = f"rtsp://admin:{password}@10.0.0.5:554/stream1?channel=2"
        assert redact_url(url) == "rtsp://***@10.0.0.5:554/stream1?channel=2"
        assert password in url_secrets(url)
    assert redact_url("rtsp://admin:pa#ss@[fe80::1]/s") == "rtsp://***@[fe80::1]/s"
    # A library may echo the decoded password alone (FFmpeg decodes the user info to authenticate).
    url = "rtsp://admin:pa%2Fss%231@cam/s"
    assert redact_text("401 for admin:pa/ss#1 at cam", url_secrets(url)) == "401 for *** at cam"


def test_an_at_sign_after_the_host_masks_more_never_less():
    assert redact_url("http://host/pkg@1.0/file") == "http://***@1.0/file"
    assert redact_url("https://cam.example/s?mail=a@b.org") == "https://***@b.org"


def test_credentials_never_reach_the_log_or_summary_of_track(tmp_path):
    """Unreachable streams (a refused port on 127.0.0.1): each fails in one line naming the masked URL."""
    sources = [
        "rtsp://admin:pa/ss#1@127.0.0.1:9/raw",
        "rtsp://admin:pa%2Fss%231@127.0.0.1:9/encoded",
        "http://login:passw0rd@127.0.0.1:9/clip.mp4",
    ]
    args = [arg for source in sources for arg in ("--source", source)]
    done = run_track(*args, "--out", tmp_path, "--checkpoint", "none", "--detector", "hog", *TINY_MODEL)
    summary = (tmp_path / "summary.json").read_text()
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    for text in (done.stdout + done.stderr, summary):
        for secret in ("pa/ss", "pa%2F", "pa#", "passw0rd", "admin", "login"):
            assert secret not in text, text
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert sorted(errors) == sorted(
        f"error: cannot open stream {url}: cannot connect, or not a supported stream"
        for url in (
            "rtsp://***@127.0.0.1:9/raw",
            "rtsp://***@127.0.0.1:9/encoded",
            "http://***@127.0.0.1:9/clip.mp4",
        )
    )
