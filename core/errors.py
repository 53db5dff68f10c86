"""The one exception type that reaches the user as a single line instead of a traceback, and the one
way any other exception is turned into such a line."""

from core.redact import redact_text

MAX_LINE = 300


class UserError(Exception):
    """Bad input or an unavailable resource: `run.py` prints `error: <message>` and exits 2."""


def one_line(error: BaseException) -> str:
    """An exception as one line fit to show a user, credentials redacted.

    UserError and OSError speak for themselves; any other type is named, since its message alone
    rarely says what went wrong. The first line of a multi-line message, except OpenCV's, whose
    last line names the failed check.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    message = lines[-1] if type(error).__module__.startswith("cv2") else lines[0]
    if not isinstance(error, UserError | OSError):
        message = f"{type(error).__name__}: {message}"
    if len(message) > MAX_LINE:
        message = message[: MAX_LINE - 1] + "…"
    return redact_text(message)
