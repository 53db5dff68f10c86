"""Credential redaction for stream URLs, so passwords never reach logs, outputs, errors or window titles.

Camera URLs routinely carry credentials (`rtsp://admin:pw@10.0.0.5/stream1`, `...?token=abc`). Every
place that shows a source name or an error about it goes through `redact_url` / `redact_text`.

People type passwords as they are: `rtsp://admin:pa/ss#1@cam/stream` is not a valid URL (`/` and
`#` must be percent-encoded), yet it must not leak either. So the user info is everything up to the
last `@` that a host name follows (then a port, then `/`, `?`, `#` or the end), not only what a URL
parser would call user info. An `@` later in a path or query (`?mail=a@b.org`) then masks more than
the credentials, never less.
"""

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# What may follow the user info's "@": a host name or [IPv6], an optional port, then the path or the end.
# An IPv6 address may carry a zone (`[fe80::1%25eth0]`) or lack its "]" (a typo): masked all the same.
_HOST = re.compile(r"(?:\[[^\]\s/?#@]*\]?|[A-Za-z0-9\-._~%]+)(?::\d*)?(?=[/?#]|$)")
# name=value in a query string (or fragment); the value runs to the next separator.
_PARAM = re.compile(r"(?P<sep>[?&;#])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s]*)")
# Any URL inside free text (error messages from OpenCV/FFmpeg, log lines).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")

# A query parameter is secret when one of its words (split at _ - . and camelCase) is one of these.
_SECRET_WORDS = {
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "key",
    "apikey",
    "auth",
    "sig",
    "signature",
    "credential",
    "credentials",
    "session",
    "sessionid",
}


def _is_secret_name(name: str) -> bool:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return any(word in _SECRET_WORDS for word in re.split(r"[_\-.]+", words))


def _userinfo(url: str) -> tuple[int, int] | None:
    """(start, end) of the user info in `url` (the `@` excluded), or None when it has none."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return None
    start = scheme.end()
    at = url.rfind("@", start)
    while at >= start:
        if _HOST.match(url, at + 1):
            return start, at
        at = url.rfind("@", start, at)
    return None


def redact_url(url: str) -> str:
    """`rtsp://user:pass@host/x?token=t&ch=1` -> `rtsp://***@host/x?token=***&ch=1`.

    Non-URL strings (file paths, webcam indices) come back unchanged.
    """
    if "://" not in url:
        return url
    span = _userinfo(url)
    if span is not None:
        url = f"{url[: span[0]]}{MASK}{url[span[1] :]}"

    def mask_param(match: re.Match) -> str:
        if _is_secret_name(match["name"]):
            return f"{match['sep']}{match['name']}={MASK}"
        return match[0]

    return _PARAM.sub(mask_param, url)


def url_secrets(url: str) -> list[str]:
    """The literal secrets in a URL (password, user info, secret query values), as written and
    percent-decoded (a library may echo either), longest first."""
    secrets: list[str] = []
    span = _userinfo(url)
    if span is not None:
        userinfo = url[span[0] : span[1]]
        secrets.append(userinfo)
        if ":" in userinfo:
            secrets.append(userinfo.split(":", 1)[1])
    secrets += [m["value"] for m in _PARAM.finditer(url) if _is_secret_name(m["name"]) and m["value"]]
    secrets += [unquote(secret) for secret in secrets]
    return sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Redact every URL found in `text`, then any literal `secrets` left (e.g. a password echoed alone)."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m[0]), text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
