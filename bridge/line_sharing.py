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
import contextlib
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
"""Seconds between suspensions that only look for received data, while sockets are open
(or results due); doubled after each that found nothing, up to ``POLL_MAX``."""
POLL_MAX = 30.0
ESCAPE_TRIES = 3
"""Escapes without an OK in a row before the modem is taken not to do ``+++``."""
GUARD_MARGIN = 1.5
"""The first guard time is kept this much longer: a UART's FIFO and the modem's own
clock make it a little short otherwise."""
READ_SIZE = 4096


class LineLost(Exception):
    """The modem took ``+++`` but not ``ATO`` (or the line failed): the call is gone."""


class EscapeIgnored(Exception):
    """No OK to ``+++``, ``ESCAPE_TRIES`` times in a row: the modem stays online (the
    three octets went to the peer as noise between frames, which PPP ignores); the line
    cannot be shared."""


class _Loan:
    """One loan of the line: what PPP sent before the escape's OK (its frames, handed
    back to PPP at the release) and whether the modem may be in command mode."""

    def __init__(self) -> None:
        self.ppp = b""
        self.escaped = False
        """``+++`` went out: the modem may be in command mode and must get ``ATO``."""
        self.ok = False
        """The modem answered the escape: it is in command mode."""


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
        self._guard = guard
        self._poll = poll_interval
        self._linger = linger
        self._loop = asyncio.get_running_loop()
        self._wanted = asyncio.Event()
        self._released_at = self._loop.time()
        self._misses = 0
        self.suspensions = 0
        self.suspended_seconds = 0.0
        self.last_suspension: float | None = None
        """Seconds the last suspension kept PPP off the line."""

    def wanted(self) -> None:
        """The AT side has commands waiting (``AtSocketPlane(on_wanted=...)``)."""
        self._wanted.set()

    async def borrow(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` on the line in command mode between ``+++`` and ``ATO`` (the
        context's address is read so); ``EscapeIgnored`` or ``LineLost`` when the modem
        does not follow."""
        for _ in range(ESCAPE_TRIES):
            loan = _Loan()
            started = self._loop.time()
            try:
                if await self._escape(loan) is None:
                    continue
                return await work()
            finally:
                await self._end(loan, started, None)
        raise EscapeIgnored("the modem did not answer +++ (no online command state)")

    async def run(self, at_plane: AtSocketPlane) -> None:
        """Suspend and resume as ``at_plane`` needs, for the whole call. ``LineLost``
        when the modem did not go back online, ``EscapeIgnored`` when it stopped taking
        ``+++``. Cancelled mid-loan, it still sends ``ATO`` (bounded) before it ends."""
        poll = self._poll
        while True:
            # Rings and results after OK wait in the modem while it is online: look for
            # them while sockets are open or results are due, less often while nothing
            # comes (the interval doubles, up to POLL_MAX).
            busy = at_plane.busy or at_plane.bridge.sockets()
            await first_of(self._wanted.wait(), timeout=poll if busy else None)
            wanted = self._wanted.is_set()
            self._wanted.clear()
            # PPP's share of the line: a rate limit, not a wait for news.
            await asyncio.sleep(max(0.0, self._released_at + MIN_PPP - self._loop.time()))
            rings = at_plane.bridge.statistics().rings
            loan = _Loan()
            started = self._loop.time()
            try:
                rest = await self._escape(loan)
                if rest is None:
                    self._wanted.set()  # the work still waits: try again
                    if self._misses >= ESCAPE_TRIES:
                        raise EscapeIgnored("the modem no longer answers +++")
                    continue
                at_plane.command_mode(rest)
                await self._work(at_plane, started)
            finally:
                await self._end(loan, started, at_plane)
            came = at_plane.bridge.statistics().rings > rings
            poll = self._poll if wanted or came else min(poll * 2, POLL_MAX)

    async def _end(self, loan: _Loan, started: float, at_plane: AtSocketPlane | None) -> None:
        """The line back to PPP: ``ATO`` when the modem may be in command mode (harmless
        noise between frames when it is not), then PPP released with its frames."""
        trailing: bytes | None = b""
        if loan.ok:
            if at_plane is not None and at_plane.commanding:
                trailing = await at_plane.go_online(ATO_TIMEOUT)
            else:
                trailing = await go_online(self._fd, ATO_TIMEOUT)
        elif loan.escaped:
            # No OK seen: most likely still online, and "ATO" is noise between frames that
            # PPP ignores; if the modem did take the escape after all, it goes back now.
            with contextlib.suppress(OSError):
                os.write(self._fd, b"ATO\r")
        self._data.release(loan.ppp + (trailing or b""))
        self._count(started, escaped=loan.ok)
        if loan.ok and trailing is None:
            raise LineLost("the modem did not go back online (ATO)")

    def _count(self, started: float, *, escaped: bool) -> None:
        self._released_at = self._loop.time()
        if not escaped:
            return
        took = self._released_at - started
        self.suspensions += 1
        self.suspended_seconds += took
        self.last_suspension = took
        log.debug("PPP suspended %.3f s for AT", took)

    async def _escape(self, loan: _Loan) -> bytes | None:
        """PPP held, the line quiet for the guard time, ``+++``, quiet again: the bytes
        after the modem's OK, or None when there was no escape (what PPP wrote did not
        leave in time: the loan waits; or no OK came: a miss)."""
        self._data.hold()
        await first_of(self._data.drained(), timeout=DRAIN_TIMEOUT)
        if self._data.backlog:  # an upload fills the line: no silence to escape in
            return None
        # V.250 6.3.6: the guard times are the protocol's own timing, not a wait for news;
        # the first counts from when the last octet left the UART, not the kernel.
        on_the_wire = max(0.0, self._data.quiet_at - self._loop.time())
        await asyncio.sleep(min(on_the_wire, DRAIN_TIMEOUT) + self._guard * GUARD_MARGIN)
        try:
            os.write(self._fd, ESCAPE)
        except OSError as exc:
            raise LineLost(f"the line failed: {exc.strerror}") from None
        loan.escaped = True
        rest = await self._read_ok(loan, self._loop.time() + self._guard)
        self._misses = 0 if rest is not None else self._misses + 1
        return rest

    async def _read_ok(self, loan: _Loan, earliest: float) -> bytes | None:
        """Read until the escape's OK: a whole ``<CR><LF>OK<CR><LF>`` after the last PPP
        flag, once the second guard time has passed (an "OK" inside a frame is data:
        with ACCM 0 CR and LF travel raw). What came before it is PPP's (``loan.ppp``);
        what follows is returned. None after ``OK_TIMEOUT``."""
        seen = bytearray()
        found: asyncio.Future[int] = self._loop.create_future()

        def readable() -> None:
            try:
                data = os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self._loop.remove_reader(self._fd)
                if not found.done():
                    found.set_exception(LineLost(f"the line failed: {exc.strerror}"))
                return
            seen.extend(data)
            after_flags = seen.rfind(b"\x7e") + 1
            at = seen.find(b"\r\nOK\r\n", after_flags)
            if at >= 0 and self._loop.time() >= earliest and not found.done():
                found.set_result(at)

        self._loop.add_reader(self._fd, readable)
        try:
            async with asyncio.timeout(self._guard + OK_TIMEOUT):
                at = await found
        except TimeoutError:
            loan.ppp = bytes(seen)  # all of it PPP's: the modem stayed online
            return None
        finally:
            self._loop.remove_reader(self._fd)
        loan.ppp = bytes(seen[:at])
        loan.ok = True
        return bytes(seen[at + 6 :])

    async def _work(self, at_plane: AtSocketPlane, started: float) -> None:
        """Until the AT side is idle and has been for ``linger`` (rings that follow the
        work); once ``MAX_LOAN`` from the loan's start is up, until the command on the
        line is done (new ones wait); at once when the line is lost. Bounded by the
        commands' own timeouts."""
        quiet_since = self._loop.time()
        while not at_plane.lost:
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
        raise LineLost(f"the line failed: {at_plane.lost_reason}")


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
