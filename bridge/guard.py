"""A command's work on the event loop, ended by a stop signal or a failure, never in the
middle of its clean-up (see ``bridge.entry`` for how the process then ends)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

from .entry import STOP_SIGNALS, Failed, StopSignal, internal_error

T = TypeVar("T")


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
