"""Drive a pure PPP ``Link`` over a real serial port in real time, for interop tests.

The same pump as the bridge's, written synchronously: select on the port until the
sooner of the link's next deadline and the caller's timeout, feed the bytes read, call
``handle_timer`` when the deadline is due, then act on the outputs (``WriteSerial`` is
written to the port, ``DeliverPacket`` is kept in ``packets``, every other output in
``events``). ``now`` is ``time.monotonic()``. Nothing sleeps; every wait is bounded.

    runner = LinkRunner(Link(config, rng=random.Random(1)), port, initial_bytes=rest)
    runner.start()
    up = runner.run_until(lambda e: isinstance(e, LinkUp), timeout=20)
    runner.send(packet)
    reply = runner.wait_packet(lambda p: p[9] == 1, timeout=10)
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any, Protocol

import serial

from netstack.events import DeliverPacket, WriteSerial

RECENT = 12
"""How many of the last events a timeout message shows."""
LAST_READ = 80
"""How many of the last bytes read a timeout message shows."""
CHECK_INTERVAL = 0.2
"""How often ``pump_until`` looks at a condition outside the link: a polling period."""


class PppLink(Protocol):
    """What the runner needs of ``netstack.link.Link``."""

    def open(self, now: float) -> list[Any]: ...
    def receive_bytes(self, data: bytes, now: float) -> list[Any]: ...
    def send_packet(self, packet: bytes, now: float) -> list[Any]: ...
    def close(self, now: float) -> list[Any]: ...
    def lower_down(self, now: float) -> list[Any]: ...
    def next_deadline(self) -> float | None: ...
    def handle_timer(self, now: float) -> list[Any]: ...


class LinkRunner:
    def __init__(self, link: PppLink, port: serial.Serial, initial_bytes: bytes = b"") -> None:
        self.link = link
        self.port = port
        self.initial_bytes = initial_bytes
        """Bytes that arrived with the modem's CONNECT line, fed right after ``open``."""
        self.events: list[object] = []
        """Every output other than WriteSerial/DeliverPacket, in order."""
        self.packets: list[bytes] = []
        """Every DeliverPacket's IP packet, in order."""
        self.bytes_written = 0
        self.bytes_read = 0
        self.last_read = b""
        """The last ``LAST_READ`` bytes read from the port, for failure messages."""
        self._cursor = {"event": 0, "packet": 0}
        """Where run_until (events) and wait_packet (packets) look from next."""

    # --- actions ---

    def start(self, wait_for_peer: float = 0.0) -> None:
        """Open the link. With ``wait_for_peer`` > 0, first wait (at most that long) for
        the peer's first bytes: the pppd VM drops what arrives in the moments between its
        CONNECT and pppd taking the line, which would cost our first Configure-Request
        and a restart interval (3 s)."""
        if wait_for_peer > 0 and not self.initial_bytes:
            ready, _, _ = select.select([self.port.fileno()], [], [], wait_for_peer)
            if ready:
                self.initial_bytes = self.port.read(4096)
        now = time.monotonic()
        self._apply(self.link.open(now))
        if self.initial_bytes:
            self._receive(self.initial_bytes, now)

    def send(self, packet: bytes) -> None:
        """Hand an IP packet to the link (as the TUN side would)."""
        self._apply(self.link.send_packet(packet, time.monotonic()))

    def close(self) -> None:
        """Start a graceful LCP Terminate; pump with ``run_until`` to see it end."""
        self._apply(self.link.close(time.monotonic()))

    def lower_down(self) -> None:
        """Tell the link the carrier is gone (after the modem said NO CARRIER)."""
        self._apply(self.link.lower_down(time.monotonic()))

    # --- waiting ---

    def run_until(self, predicate: Callable[[object], bool], timeout: float) -> object:
        """Pump until an event not returned before satisfies ``predicate``; return it.
        Events older than the last one returned are not looked at again."""
        return self._wait_for("event", self.events, predicate, timeout)

    def wait_packet(self, predicate: Callable[[bytes], bool], timeout: float) -> bytes:
        """Pump until a delivered packet not returned before satisfies ``predicate``."""
        return self._wait_for("packet", self.packets, predicate, timeout)

    def _wait_for(
        self, kind: str, items: list[Any], predicate: Callable[[Any], bool], timeout: float
    ) -> Any:
        """The first item of ``items`` past this kind's cursor that ``predicate`` takes."""
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor[kind] < len(items):
                item = items[self._cursor[kind]]
                self._cursor[kind] += 1
                if predicate(item):
                    return item
            if time.monotonic() >= deadline:
                raise AssertionError(f"no matching {kind} within {timeout} s; {self.describe()}")
            self._pump_once(deadline)

    def pump(self, duration: float) -> list[object]:
        """Keep the link serviced for ``duration`` seconds (answering the peer's echo
        requests, retransmitting...); returns the events that came meanwhile."""
        first = len(self.events)
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self._pump_once(deadline)
        return self.events[first:]

    def pump_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Keep the link serviced until ``condition()`` (checked between selects, at least
        every ``CHECK_INTERVAL`` s: e.g. a line in the peer's log) holds; fail with
        ``what`` and the history after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            now = time.monotonic()
            if now >= deadline:
                raise AssertionError(f"no {what} within {timeout:.0f} s; {self.describe()}")
            self._pump_once(min(deadline, now + CHECK_INTERVAL))

    def describe(self) -> str:
        """The runner's recent history, for failure messages."""
        recent = "\n  ".join(repr(e) for e in self.events[-RECENT:]) or "(none)"
        stats = getattr(self.link, "statistics", None)
        return (
            f"{len(self.events)} events, {len(self.packets)} packets, "
            f"{self.bytes_read} bytes read, {self.bytes_written} written; "
            f"statistics {stats() if stats else 'n/a'}; last bytes read "
            f"{self.last_read!r}; recent events:\n  {recent}"
        )

    # --- the pump ---

    def _pump_once(self, until: float) -> None:
        """One select: read what came, run the timer if due, act on the outputs."""
        now = time.monotonic()
        wait = until - now
        link_deadline = self.link.next_deadline()
        if link_deadline is not None:
            wait = min(wait, link_deadline - now)
        ready, _, _ = select.select([self.port.fileno()], [], [], max(wait, 0.0))
        now = time.monotonic()
        if ready:
            self._receive(self.port.read(4096), now)
        link_deadline = self.link.next_deadline()
        if link_deadline is not None and link_deadline <= now:
            self._apply(self.link.handle_timer(now))

    def _receive(self, data: bytes, now: float) -> None:
        self.bytes_read += len(data)
        self.last_read = (self.last_read + data)[-LAST_READ:]
        self._apply(self.link.receive_bytes(data, now))

    def _apply(self, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                self.port.write(output.data)
                self.bytes_written += len(output.data)
            elif isinstance(output, DeliverPacket):
                self.packets.append(output.data)
            else:
                self.events.append(output)
