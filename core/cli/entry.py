"""The one path from a command's exception to the user's screen: a `UserError` is one `error:` line
and exit 2, Ctrl-C is `interrupted` and exit 130, anything else is a bug and keeps its traceback.
`run.py` and the developer scripts (`python -m core.bench.mot`, …) all end here."""

from __future__ import annotations

import sys
from collections.abc import Callable

from core.errors import UserError


def run_command(main: Callable[..., int | None], argv: list[str], **kwargs) -> int:
    try:
        return int(main(argv, **kwargs) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def script(main: Callable[..., int | None]) -> None:
    """`if __name__ == "__main__": script(main)` in a developer script."""
    sys.exit(run_command(main, sys.argv[1:]))
