"""How a command ends (``bridge.entry``), in process: the guard turns a stop signal or an
exception escaping a loop callback into one ending, after the clean-up; the handlers it
borrowed are given back; every ending is one line with a documented status."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from collections.abc import Callable

import pytest

from bridge.entry import EXIT_FAILED, EXIT_USAGE, Failed, StopSignal, exit_status
from bridge.guard import Guard
from netstack.errors import UsageError


async def guarded(before: Callable[[], object]) -> None:
    """``before()``, then 30 s of work under a guard; the work's clean-up must have run
    by the time the guard ends it."""
    cleaned: list[str] = []

    async def work_then_cleanup() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("work's finally ran")

    with Guard() as guard:
        before()
        try:
            await guard.watch(work_then_cleanup())
        finally:
            assert cleaned == ["work's finally ran"]


def test_a_stop_signal_ends_the_work_after_its_cleanup_and_handlers_come_back() -> None:
    previous = signal.getsignal(signal.SIGHUP)
    with pytest.raises(StopSignal) as stopped:
        asyncio.run(guarded(before=lambda: os.kill(os.getpid(), signal.SIGHUP)))
    assert stopped.value.signal is signal.SIGHUP
    assert str(stopped.value) == "stopped by SIGHUP"
    assert signal.getsignal(signal.SIGHUP) is previous


def test_an_exception_in_a_loop_callback_is_one_failure_not_a_logged_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def boom() -> None:
        raise ZeroDivisionError("a bug")

    def schedule() -> None:
        asyncio.get_running_loop().call_soon(boom)

    with pytest.raises(Failed, match=r"^internal error .*ZeroDivisionError: a bug$"):
        asyncio.run(guarded(before=schedule))
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "exc, status, line",
    [
        (StopSignal(signal.SIGINT), 130, "p: stopped by SIGINT"),
        (KeyboardInterrupt(), 130, "p: stopped by SIGINT"),
        (UsageError("--x: bad"), EXIT_USAGE, "p: error: --x: bad"),
        (Failed("standard output was closed"), EXIT_FAILED, "p: error: standard output was closed"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x"), 1, "p: error: /x: No"),
        (OSError("AF_UNIX path too long"), EXIT_FAILED, "p: error: AF_UNIX path too long"),
        (ValueError("oops"), EXIT_FAILED, "p: error: internal error (a bug"),
    ],
)
def test_every_ending_is_one_line_and_a_status(
    exc: BaseException, status: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_status("p", exc, stopped_status=None) == status
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(line), err


def test_a_command_that_runs_until_stopped_ends_0_on_a_stop_signal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert exit_status("p", StopSignal(signal.SIGTERM), stopped_status=0) == 0
    assert capsys.readouterr().err == "p: stopped by SIGTERM\n"
