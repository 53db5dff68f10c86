"""The one exception type that reaches the user as a single line instead of a traceback."""


class UserError(Exception):
    """Bad input or an unavailable resource: `run.py` prints `error: <message>` and exits 2."""
