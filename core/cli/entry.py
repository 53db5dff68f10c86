"""The one path from a command's exception to the user's screen: a `UserError` is one `error:` line
and exit 2, Ctrl-C is `interrupted` and exit 130 (another stop signal: 128 + its number, SIGTERM
143), a closed pipe ends quietly with 141, anything else is a bug and keeps its traceback. `run.py`
and the developer scripts (`python -m core.bench.mot`, …) all end here. Whatever reaches the screen
this way (the error line, a bug's traceback, an uncaught exception in a thread) has URL credentials
masked (core.redact), a last line of defence behind the places that name a source.

The first stop signal raises KeyboardInterrupt, so the command cleans up as on Ctrl-C (partial
files discarded, summary written): SIGINT, SIGTERM, SIGHUP (a closed terminal), SIGQUIT (Ctrl-\\)
and SIGUSR1/2, whose default actions would end the process on the spot and leave `.partial` files.
Further ones while it cleans up are noted, not raised: a second KeyboardInterrupt in the middle of
stopping threads would leave native threads running at exit (`terminate called without an active
exception`, exit 134) and the summary unwritten. A third quits at once, for a clean-up that hangs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

from core.errors import UserError
from core.redact import redact_text

QUIT_AFTER = 3  # signals: the third ends the process without waiting for the clean-up
# Signals that end a command with its clean-up (those a platform lacks are left out).
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)


class Interrupts:
    """STOP_SIGNALS' handlers for the duration of a command; remembers the first signal's number."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.count = 0
        self.previous: dict[int, object] = {}

    def handle(self, signum: int, frame) -> None:
        self.count += 1
        if self.count == 1:
            self.first = signum
            raise KeyboardInterrupt
        if self.count >= QUIT_AFTER:
            print("interrupted again: quitting without clean-up", file=sys.stderr, flush=True)
            os._exit(128 + (self.first or signum))
        print("interrupted: finishing clean-up (once more to quit at once)", file=sys.stderr, flush=True)

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # only the main thread may set handlers
                self.previous[signum] = signal.signal(signum, self.handle)

    def ignore(self) -> None:
        for signum in self.previous:
            with contextlib.suppress(ValueError):
                signal.signal(signum, signal.SIG_IGN)

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)

    @property
    def exit_code(self) -> int:
        return 128 + (self.first or signal.SIGINT)


def run_command(
    main: Callable[..., int | None], argv: list[str], *, handle_signals: bool = True, **kwargs
) -> int:
    """`main(argv, **kwargs)` with its exit code; `handle_signals=False` leaves the signals alone
    (the desktop app, whose Qt loop handles them)."""
    interrupts = Interrupts()
    if handle_signals:
        interrupts.install()
    sys.excepthook, threading.excepthook = redacted_excepthook, redacted_thread_excepthook
    try:
        code = int(main(argv, **kwargs) or 0)
        sys.stdout.flush()  # buffered output meeting a closed pipe fails here, not at exit
        return code
    except UserError as error:
        print(f"error: {redact_text(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return interrupts.exit_code
    except BrokenPipeError:
        return closed_output()
    finally:
        if interrupts.count == 0:
            interrupts.restore()
        else:  # the command is over: a late signal must not kill the exit with SIGINT's default action
            interrupts.ignore()


def redacted_excepthook(kind, value, trace) -> None:
    """sys.excepthook: the interpreter's traceback of a bug, URL credentials masked."""
    text = "".join(traceback.format_exception(kind, value, trace))
    print(redact_text(text), file=sys.stderr, end="", flush=True)


def redacted_thread_excepthook(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: threading's own report of an exception that ended a thread (often one
    named after the stream it opens), URL credentials masked."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else threading.get_ident()
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    print(redact_text(f"Exception in thread {name}:\n{text}"), file=sys.stderr, end="", flush=True)


def closed_output() -> int:
    """The reader of our output went away (`run.py weights list | head -2`): stop quietly, as Unix tools
    do, with SIGPIPE's exit status. stdout is pointed at /dev/null so the interpreter's last flush
    cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def script(main: Callable[..., int | None]) -> None:
    """`if __name__ == "__main__": script(main)` in a developer script."""
    sys.exit(run_command(main, sys.argv[1:]))
