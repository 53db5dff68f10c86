"""Credentials in stream URLs are masked wherever a source is named."""

from core.redact import redact_text, redact_url, url_secrets


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
