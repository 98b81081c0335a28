"""How a ``pppbridge`` command ends as a process: exit statuses, stop signals, one line.

Whatever happens, the user sees at most one line on standard error about it, never a
traceback (``PPPBRIDGE_TRACEBACK=1`` shows one for an internal error, to report a bug),
and the exit status says how it ended (``EXIT_STATUS_HELP``, shown by ``--help``).

Stop signals (SIGINT, SIGTERM, SIGHUP: the terminal closed) are the same everywhere.
``install_stop_signals`` makes them raise ``StopSignal`` wherever Python is, which is
safe until an event loop runs; on the loop, ``Guard`` takes them over: a signal ends the
guarded work (cancelled, so its ``finally`` clauses run) and ``watch`` raises
``StopSignal``; the caller's clean-up, still inside the guard, is never interrupted: a
signal that arrives then is only noted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Coroutine
from types import FrameType
from typing import IO, Any, TextIO, TypeVar

from netstack.errors import UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_STATUS_HELP = """\
exit status:
  0      done (selftest passed; simulate stopped by Ctrl-C, SIGTERM or SIGHUP)
  1      failed while running (selftest failed; a write, the modem line or
         standard output failed)
  2      bad command line: an unknown or bad switch, a path that cannot be used
  128+N  selftest stopped by signal N (130: Ctrl-C, 143: SIGTERM, 129: SIGHUP)"""
"""The exit statuses as ``--help`` shows them."""
T = TypeVar("T")


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


class Guard:
    """Stop signals and failures on the running loop, for one command (module docstring).

    ``with Guard() as guard:`` then ``await guard.watch(work)``: ``work`` runs until it
    ends, a stop signal comes (it is cancelled, then ``StopSignal``), or an exception
    escapes a loop callback (it is cancelled, then ``Failed``). Outside the main thread,
    or where no handlers could be installed, signals are simply not watched.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ending = asyncio.Event()
        self._signal: signal.Signals | None = None
        self._failure: str | None = None
        self._previous: dict[signal.Signals, Any] = {}
        self._previous_handler = self._loop.get_exception_handler()

    def __enter__(self) -> Guard:
        self._loop.set_exception_handler(self._callback_failed)
        for signum in STOP_SIGNALS:
            previous = signal.getsignal(signum)
            try:
                self._loop.add_signal_handler(signum, self._stop, signum)
            except (ValueError, RuntimeError):  # not the main thread
                continue
            self._previous[signum] = previous
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            self._loop.remove_signal_handler(signum)
            # None: a handler not set from Python; the default is the closest we can do.
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._loop.set_exception_handler(self._previous_handler)

    def fail(self, message: str) -> None:
        """End the watched work with ``Failed(message)`` (the first failure wins)."""
        if self._failure is None:
            self._failure = message
        self._ending.set()

    async def watch(self, work: Coroutine[Any, Any, T]) -> T:
        task = self._loop.create_task(work)
        ending = self._loop.create_task(self._ending.wait())
        try:
            await asyncio.wait({task, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ending.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task  # let its finally clauses run
        if self._signal is None and self._failure is None:
            return task.result()
        if not task.cancelled():
            task.exception()  # retrieved: the signal or the failure is what is reported
        if self._signal is not None:
            raise StopSignal(self._signal)
        raise Failed(str(self._failure))

    def _stop(self, signum: signal.Signals) -> None:
        if self._signal is None:
            self._signal = signum
        self._ending.set()

    def _callback_failed(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is None:
            return  # a warning about a resource, not an error of ours
        self.fail(internal_error(exc))


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
