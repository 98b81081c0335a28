"""One pump for a pure AT machine on an open serial port: bytes read -> outputs -> timer.

A machine has ``start(now)``, ``receive(data, now)``, ``next_deadline()`` and
``handle_timer(now)``, each returning outputs (the contract of ``bridge.modem.BringUp``):
``WriteModem`` is written to the port, ``Transcript`` goes to the debug log, and the
first output that ``is_result`` accepts ends the pump and is returned. Every other output
goes to ``on_output``. The machine's own deadlines bound the run; ``limit`` is a last
guard on top (``TimeoutError``). A line that fails or closes is ``OSError``.

Users: the bring-up before each dial (``bridge.modem_session.bring_up``), ``pppbridge
info`` (``bridge.modem.query.ModemQuery``) and ``pppbridge at``
(``bridge.at_command.OneCommand``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Protocol

from .modem import Transcript, WriteModem

log = logging.getLogger("pppbridge.modem")
READ_SIZE = 4096


class AtMachine(Protocol):
    def start(self, now: float) -> Sequence[object]: ...

    def receive(self, data: bytes, now: float) -> Sequence[object]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timer(self, now: float) -> Sequence[object]: ...


async def pump(
    fd: int,
    machine: AtMachine,
    is_result: Callable[[object], bool],
    limit: float,
    on_output: Callable[[object], None] = lambda output: None,
) -> object:
    """Run ``machine`` over the non-blocking descriptor ``fd`` until its result."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[object] = loop.create_future()
    timer: asyncio.TimerHandle | None = None

    def apply(outputs: Sequence[object]) -> None:
        nonlocal timer
        for output in outputs:
            if result.done():
                break
            if isinstance(output, WriteModem):
                write_line(fd, output.data)
            elif isinstance(output, Transcript):
                log.debug("%s", output.text)
            elif is_result(output):
                result.set_result(output)
            else:
                on_output(output)
        if timer is not None:
            timer.cancel()
            timer = None
        deadline = None if result.done() else machine.next_deadline()
        if deadline is not None:
            timer = loop.call_at(deadline, lambda: apply(machine.handle_timer(loop.time())))

    def readable() -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            lost(f"the modem's line failed: {exc.strerror}")
            return
        if not data:
            lost("the modem's line closed")
        elif not result.done():
            apply(machine.receive(data, loop.time()))

    def lost(why: str) -> None:
        loop.remove_reader(fd)
        if not result.done():
            result.set_exception(OSError(why))

    loop.add_reader(fd, readable)
    try:
        apply(machine.start(loop.time()))
        async with asyncio.timeout(limit):
            return await result
    finally:
        loop.remove_reader(fd)
        if timer is not None:
            timer.cancel()


def write_line(fd: int, data: bytes) -> None:
    """A command line is a few dozen bytes: the line takes it at once. A full line (a
    modem that stopped reading) loses it, and the command times out as it should."""
    try:
        os.write(fd, data)
    except OSError as exc:
        log.debug("write to the modem failed: %s", exc)
