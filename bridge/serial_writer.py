"""Writes to the modem's line that never block the event loop.

What the line does not take at once waits in a backlog, written as the descriptor
becomes writable. Above ``high`` bytes of backlog ``on_pressure(True)`` tells the owner
to stop producing (the data plane stops reading the TUN: the kernel queues, then drops,
as it would for a slow NIC); below ``low`` again, ``on_pressure(False)``. A write that
fails (the device went away) clears the backlog and calls ``on_failed`` once per failure.

Users: the PPP data plane (``bridge.data_plane``) and the AT-socket plane
(``bridge.atsocket_plane``), each on its own line.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

BACKLOG_HIGH = 256 * 1024
"""Bytes waiting for the serial line above which the producer is asked to pause."""
BACKLOG_LOW = 64 * 1024
"""...and below which it may resume."""


class SerialWriter:
    def __init__(
        self,
        fd: int,
        on_failed: Callable[[OSError], None],
        on_pressure: Callable[[bool], None] = lambda paused: None,
        *,
        high: int = BACKLOG_HIGH,
        low: int = BACKLOG_LOW,
        baud: int | None = None,
    ) -> None:
        self._fd = fd
        self._on_failed = on_failed
        self._on_pressure = on_pressure
        self._high = high
        self._low = low
        self._loop = asyncio.get_running_loop()
        self._backlog = bytearray()
        self._writing = False
        self._paused = False
        self._running = True
        self._empty = asyncio.Event()
        self._empty.set()
        self._seconds_per_octet = 10 / baud if baud else 0.0
        self._on_the_wire = 0.0
        """When the octets handed to the kernel so far have left a UART at ``baud`` (8N1:
        10 bits an octet); the kernel takes them long before."""
        os.set_blocking(fd, False)  # a blocking write would stop the whole loop

    @property
    def backlog(self) -> int:
        """Bytes not yet taken by the line."""
        return len(self._backlog)

    @property
    def quiet_at(self) -> float:
        """Loop time from which the line is silent, if nothing more is written."""
        return self._on_the_wire

    def _taken(self, count: int) -> None:
        start = max(self._on_the_wire, self._loop.time())
        self._on_the_wire = start + count * self._seconds_per_octet

    async def drained(self) -> None:
        """Until the line has taken everything written (the caller bounds the wait)."""
        await self._empty.wait()

    def write(self, data: bytes) -> None:
        if not self._running or not data:
            return
        if not self._backlog:
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                self._failed(exc)
                return
            self._taken(written)
            if written == len(data):
                return
            data = data[written:]
        self._backlog += data
        self._empty.clear()
        if not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        if len(self._backlog) > self._high and not self._paused:
            self._paused = True
            self._on_pressure(True)

    def stop(self) -> None:
        """Forget the backlog and the descriptor (its owner closes it)."""
        self._running = False
        self._backlog.clear()
        self._stop_writing()

    def _flush(self) -> None:
        try:
            written = os.write(self._fd, self._backlog)
        except BlockingIOError:
            return
        except OSError as exc:
            self._failed(exc)
            return
        self._taken(written)
        del self._backlog[:written]
        if not self._backlog:
            self._stop_writing()
        if self._paused and len(self._backlog) < self._low and self._running:
            self._paused = False
            self._on_pressure(False)

    def _stop_writing(self) -> None:
        self._empty.set()
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    def _failed(self, exc: OSError) -> None:
        # (EINTR never reaches here: os.write retries it, PEP 475.)
        self._backlog.clear()
        self._stop_writing()
        self._on_failed(exc)
