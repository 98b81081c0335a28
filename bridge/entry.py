"""How a ``pppbridge`` command ends as a process: exit statuses, stop signals, one line.

Whatever happens, the user sees at most one line on standard error about it, never a
traceback (``PPPBRIDGE_TRACEBACK=1`` shows one for an internal error, to report a bug),
and the exit status says how it ended (``EXIT_STATUS_HELP``, shown by ``--help``).

Stop signals (SIGINT, SIGTERM, SIGHUP: the terminal closed) are the same everywhere.
``install_stop_signals`` makes them raise ``StopSignal`` wherever Python is, which is
safe until an event loop runs; on the loop, ``bridge.guard.Guard`` takes them over.
This module stays light (no asyncio): it is imported before the handlers are in place,
when a signal would still end in the interpreter's traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType
    from typing import IO, Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_STATUS_HELP = """\
exit status:
  0      done (selftest passed; simulate stopped by Ctrl-C, SIGTERM or SIGHUP)
  1      failed while running (selftest failed; a write, the modem line or
         standard output failed)
  2      bad command line: an unknown or bad switch, a path that cannot be used
  128+N  selftest stopped by signal N (130: Ctrl-C, 143: SIGTERM, 129: SIGHUP)
  3-8    pppbridge run only: the modem, the SIM, the network (pppbridge run --help)"""
"""The exit statuses as ``--help`` shows them."""


class StopSignal(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt: no ``except
    Exception`` on the way out may swallow it."""

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum)
        super().__init__(f"stopped by {self.signal.name}")


class Failed(Exception):
    """The command failed while running; the message is the line the user sees."""


def os_error_text(exc: OSError) -> str:
    """The reason of an OSError in words: its strerror, or its message when it has none
    (``AF_UNIX path too long``)."""
    return exc.strerror or str(exc)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopSignal(signum)


def install_stop_signals() -> None:
    """Stop signals raise ``StopSignal`` (see the module docstring). First thing a
    command does: from here on no signal ends it without its line."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)


class LineWriter:
    """Lines of text to a stream the user reads; a failed write is ``Failed`` naming the
    stream, e.g. ``standard output was closed`` when its reader went away."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream = stream
        self.name = name

    def line(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except BrokenPipeError:
            raise Failed(f"{self.name} was closed") from None
        except OSError as exc:
            raise Failed(f"{self.name}: {os_error_text(exc)}") from None


def internal_error(exc: BaseException) -> str:
    if os.environ.get("PPPBRIDGE_TRACEBACK"):
        import traceback

        traceback.print_exception(exc)
    return f"internal error (a bug, please report it): {type(exc).__name__}: {exc}"


def exit_status(program: str, exc: BaseException, stopped_status: int | None) -> int:
    """Say in one line how ``program`` ended with ``exc``; its exit status.
    ``stopped_status``: the status after a stop signal (None: 128 + the signal)."""
    if isinstance(exc, KeyboardInterrupt):  # a SIGINT before install_stop_signals
        exc = StopSignal(signal.SIGINT)
    if isinstance(exc, StopSignal):
        say(f"{program}: {exc}")
        return 128 + exc.signal if stopped_status is None else stopped_status
    from netstack.errors import UsageError  # not before: see the module docstring

    if isinstance(exc, UsageError):
        say(f"{program}: error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, Failed):
        say(f"{program}: error: {exc}")
        return EXIT_FAILED
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"{program}: error: {where}{os_error_text(exc)}")
        return EXIT_FAILED
    say(f"{program}: error: {internal_error(exc)}")
    return EXIT_FAILED


def close_quietly(stream: IO[Any]) -> None:
    """Close a stream whose failed write was already reported: closing retries the same
    flush, and fails the same way."""
    with contextlib.suppress(OSError):
        stream.close()


def say(text: str) -> None:
    """One line on standard error; if even that fails, there is no one left to tell."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)


def settle_standard_output() -> None:
    """Flush standard output; if its reader is gone, point it at /dev/null so the
    interpreter's own flush at exit has nothing to complain about."""
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
