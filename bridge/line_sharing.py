"""IPv6 through the AT sockets on the one line PPP holds: suspend PPP with ``+++``, run
the AT work, resume with ``ATO`` (V.250 6.3.6 and 6.3.7: online command state).

For a modem with a single UART (a Pycom GPy/FiPy's Sequans, a gateway's serial modem)
and no CMUX. The Pycom firmware does the same for each ``send_at_cmd`` while PPP runs,
at about 2.5 s a time; here one suspension carries every command waiting (a batch), and
the escape's guard time is set short in the bring-up (``ATS12``, in fiftieths of a
second: ``ModemSettings.escape_guard``), so a suspension costs about two guard times,
the work and ``ATO``:

    wanted (the AT side has commands) or poll (sockets open: the modem holds its ring
    URCs while online) -> PPP held (``DataPlane.hold``: not read, its writes kept) ->
    the line drained -> guard -> ``+++`` -> guard -> OK -> the AT work until the bridge
    is idle and the line quiet for ``linger`` (or ``MAX_LOAN`` is up: what is on the
    line completes, new work waits) -> ``ATO`` -> CONNECT -> PPP released, for at least
    ``MIN_PPP`` before the next loan.

A modem that does not answer ``+++`` stays online: the line cannot be shared and IPv6
stays off (``EscapeIgnored``); one that took ``+++`` but does not answer ``ATO`` has
lost the call (``LineLost``): the supervisor ends it. The costs are counted (``suspensions``,
``suspended_seconds``) for ``pppbridge status`` and the benchmark.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from netstack.at import AtChannel, CommandDone, Connected

from .at_pump import pump
from .atsocket_plane import AtSocketPlane
from .data_plane import DataPlane
from .modem import WriteModem
from .waiting import first_of

T = TypeVar("T")

log = logging.getLogger("pppbridge.atsocket")
ESCAPE = b"+++"
OK_TIMEOUT = 3.0
"""Seconds after the second guard time for the escape's OK."""
ATO_TIMEOUT = 5.0
DRAIN_TIMEOUT = 5.0
LINGER = 0.2
"""Seconds the line stays with AT once the work is done, for ring URCs that follow it."""
MAX_LOAN = 1.0
"""Seconds AT may keep the line while work keeps coming; then what is on the line
completes and PPP has it back for at least ``MIN_PPP``."""
MIN_PPP = 0.5
"""Seconds PPP keeps the line between two loans: IPv6 through AT never starves IPv4."""
POLL_INTERVAL = 2.0
"""Seconds between suspensions that only look for received data, while sockets are open."""
READ_SIZE = 4096


class LineLost(Exception):
    """The modem took ``+++`` but not ``ATO``: the call is gone."""


class EscapeIgnored(Exception):
    """No OK to ``+++``: the modem stays online (the three octets went to the peer as
    noise between frames, which PPP ignores); the line cannot be shared."""


class LineSharing:
    def __init__(
        self,
        fd: int,
        data_plane: DataPlane,
        guard: float,
        *,
        poll_interval: float = POLL_INTERVAL,
        linger: float = LINGER,
    ) -> None:
        self._fd = fd
        self._data = data_plane
        self._at: AtSocketPlane | None = None
        self._guard = guard
        self._poll = poll_interval
        self._linger = linger
        self._loop = asyncio.get_running_loop()
        self._wanted = asyncio.Event()
        self._released_at = self._loop.time()
        self.suspensions = 0
        self.suspended_seconds = 0.0
        self.last_suspension: float | None = None
        """Seconds the last suspension kept PPP off the line."""

    def wanted(self) -> None:
        """The AT side has commands waiting (``AtSocketPlane(on_wanted=...)``)."""
        self._wanted.set()

    async def borrow(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` on the line in command mode between ``+++`` and ``ATO`` (the
        context's address is read so); ``LineLost`` when the modem does not follow."""
        started = self._loop.time()
        if await self._escape() is None:
            self._data.release()
            raise EscapeIgnored("the modem did not answer +++ (no online command state)")
        try:
            return await work()
        finally:
            trailing = await go_online(self._fd, ATO_TIMEOUT)
            self._data.release(trailing or b"")
            self._count(started)
            if trailing is None:
                raise LineLost("the modem did not go back online (ATO)")

    async def run(self, at_plane: AtSocketPlane) -> None:
        """Suspend and resume as ``at_plane`` needs, for the whole call. ``LineLost``
        when the modem did not go back online, ``EscapeIgnored`` when it stopped taking
        ``+++``."""
        self._at = at_plane
        while True:
            poll = self._poll if at_plane.bridge.sockets() else None
            await first_of(self._wanted.wait(), timeout=poll)
            self._wanted.clear()
            # PPP's share of the line: a rate limit, not a wait for news.
            await asyncio.sleep(max(0.0, self._released_at + MIN_PPP - self._loop.time()))
            started = self._loop.time()
            rest = await self._escape()
            if rest is None:
                self._data.release()
                raise EscapeIgnored("the modem no longer answers +++")
            at_plane.command_mode(rest)
            await self._work(at_plane)
            trailing = await at_plane.go_online(ATO_TIMEOUT)
            self._data.release(trailing or b"")
            self._count(started)
            if trailing is None:
                raise LineLost("the modem did not go back online (ATO)")

    def _count(self, started: float) -> None:
        self._released_at = self._loop.time()
        took = self._released_at - started
        self.suspensions += 1
        self.suspended_seconds += took
        self.last_suspension = took
        log.debug("PPP suspended %.3f s for AT", took)

    async def _escape(self) -> bytes | None:
        """PPP held, the line quiet for the guard time, ``+++``, quiet again: the bytes
        after the modem's OK, or None when no OK came."""
        self._data.hold()
        await first_of(self._data.drained(), timeout=DRAIN_TIMEOUT)
        # V.250 6.3.6: the guard times are the protocol's own timing, not a wait for news;
        # the first counts from when the last octet left the UART, not the kernel.
        on_the_wire = max(0.0, self._data.quiet_at - self._loop.time())
        await asyncio.sleep(min(on_the_wire, DRAIN_TIMEOUT) + self._guard)
        try:
            os.write(self._fd, ESCAPE)
        except OSError:
            return None
        return await self._read_ok(self._guard + OK_TIMEOUT)

    async def _read_ok(self, timeout: float) -> bytes | None:
        """Read until the escape's OK: what came after it, or None after ``timeout``.
        What came before is the tail of PPP's last frames (dropped: PPP recovers)."""
        seen = bytearray()
        found: asyncio.Future[bytes] = self._loop.create_future()

        def readable() -> None:
            try:
                seen.extend(os.read(self._fd, READ_SIZE))
            except BlockingIOError:
                return
            except OSError:
                self._loop.remove_reader(self._fd)
                return
            at = seen.find(b"OK\r\n")
            if at >= 0 and not found.done():
                found.set_result(bytes(seen[at + 4 :]))

        self._loop.add_reader(self._fd, readable)
        try:
            async with asyncio.timeout(timeout):
                return await found
        except TimeoutError:
            return None
        finally:
            self._loop.remove_reader(self._fd)

    async def _work(self, at_plane: AtSocketPlane) -> None:
        """Until the AT side is idle and has been for ``linger`` (rings that follow the
        work); after ``MAX_LOAN`` until the command on the line is done (new ones wait).
        Bounded by the commands' own timeouts."""
        started = quiet_since = self._loop.time()
        while True:
            now = self._loop.time()
            if now - started >= MAX_LOAN:
                at_plane.finish()
                if not at_plane.line_busy:
                    return
            elif at_plane.busy:
                quiet_since = now
            elif now - quiet_since >= self._linger:
                return
            await first_of(at_plane.progress(), timeout=self._linger / 4)


class _GoOnline:
    """``ATO`` as a machine for ``at_pump.pump``: ``Connected`` (its ``trailing``) or
    ``CommandDone`` (the modem stayed in command mode: NO CARRIER, ERROR, no answer)."""

    def __init__(self, timeout: float) -> None:
        self._channel = AtChannel()
        self._timeout = timeout

    def start(self, now: float) -> Sequence[object]:
        return [WriteModem(self._channel.send("ATO", now, self._timeout), "ATO")]

    def receive(self, data: bytes, now: float) -> Sequence[object]:
        return self._channel.receive(data, now)

    def next_deadline(self) -> float | None:
        return self._channel.next_deadline()

    def handle_timer(self, now: float) -> Sequence[object]:
        return self._channel.handle_timer(now)


async def go_online(fd: int, timeout: float) -> bytes | None:
    """``ATO`` on ``fd``: the bytes after its CONNECT, or None."""
    try:
        result = await pump(
            fd,
            _GoOnline(timeout),
            lambda output: isinstance(output, Connected | CommandDone),
            timeout + 1.0,
        )
    except (OSError, TimeoutError):
        return None
    return result.trailing if isinstance(result, Connected) else None
