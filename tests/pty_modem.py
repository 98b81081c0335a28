"""A modem the test plays byte by byte on the far end of a real pty, for the AT-socket
plane and line-sharing tests; and the event loop run that collects what its exception
handler saw (a callback's exception is a bug there, never a pass)."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Callable, Coroutine
from typing import Any

TIMEOUT = 20.0
"""Generous for a busy machine; each wait ends on its condition long before."""


class Modem:
    """The pty's modem end: what the bridge wrote (``seen``), and answers written back."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""
        self.times: dict[str, float] = {}

    async def _more(self) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(self.fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)
        self.seen += os.read(self.fd, 4096)

    async def until(self, wanted: bytes) -> None:
        """Until ``wanted`` was written; what came before it is dropped."""
        async with asyncio.timeout(TIMEOUT):
            while wanted not in self.seen:
                await self._more()
        self.seen = self.seen[self.seen.index(wanted) + len(wanted) :]

    async def line(self, prefix: bytes) -> bytes:
        """Until a command line starting with ``prefix``; that line. Every other command
        line before it is answered OK (the vendor's set-up commands)."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                *lines, _ = self.seen.split(b"\r")
                for line in lines:
                    self.seen = self.seen[len(line) + 1 :]
                    if line.strip().startswith(prefix):
                        return line.strip()
                    self.say("\r\nOK\r\n")
                await self._more()

    def say(self, data: str | bytes) -> None:
        os.write(self.fd, data.encode() if isinstance(data, str) else data)


def on_a_pty(scenario: Callable[[Modem, int], Coroutine[Any, Any, None]]) -> list[Any]:
    """``scenario(modem, line_fd)`` on a new raw pty; the errors the event loop saw."""
    errors: list[Any] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: errors.append(context))
        modem_fd, line_fd = os.openpty()
        tty.setraw(modem_fd)
        tty.setraw(line_fd)
        try:
            await scenario(Modem(modem_fd), line_fd)
        finally:
            for fd in (modem_fd, line_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass  # the scenario closed it (the line unplugged)

    asyncio.run(main())
    return errors
