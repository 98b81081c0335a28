"""The data plane: serial bytes -> PPP -> IP packets -> TUN, and back, on the event loop.

One pump, as everywhere in the bridge: input -> outputs -> re-arm the one timer.

- Serial readable: read what is there, hand it to ``Link.receive_bytes``; its IP packets
  go to the TUN (Router Advertisements to ``on_router_advertisement`` instead: the bridge
  configures IPv6 itself, see ``bridge.netconfig``), its frames to the serial line, its events
  to ``on_event``.
- TUN readable: drain up to ``TUN_BATCH`` packets per wake-up, frame them all, write the
  frames with one ``os.write``.
- Writes never block (``bridge.serial_writer``): what the line does not take yet waits in
  a bounded backlog; while it is over ``BACKLOG_HIGH`` the TUN is not read (the kernel
  queues, then drops, as it would for a slow NIC), and reading resumes under
  ``BACKLOG_LOW``.
- With ``ipv6_elsewhere`` (the modem's AT sockets carry IPv6: ``bridge.atsocket_plane``),
  IPv6 packets read from the TUN go there instead of to PPP.
- The timer is re-armed only when ``Link.next_deadline()`` changed.

Every packet dropped here is counted by reason in ``drops``; the link counts its own.
Nothing sleeps; ``wait_down`` waits on the link's ``LinkDown``.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable

from netstack.events import DeliverPacket, LinkDown, Output, WriteSerial
from netstack.link import Link
from netstack.ra import is_router_advertisement

from .capture import SerialTap
from .loop_parts import OneTimer, PausableReader
from .serial_writer import SerialWriter
from .tun import PacketDevice

READ_SIZE = 65536
HELD_LIMIT = 64 * 1024
"""Bytes of PPP kept while the line is lent to AT; beyond, frames are dropped."""
TUN_BATCH = 64
"""Packets taken from the TUN per wake-up (fewer writes, fewer wake-ups under load)."""


class DataPlane:
    """Moves packets between a serial descriptor (after CONNECT) and a TUN device."""

    def __init__(
        self,
        link: Link,
        serial_fd: int,
        tun: PacketDevice,
        on_event: Callable[[Output], None],
        on_router_advertisement: Callable[[bytes], None] | None = None,
        tap: SerialTap | None = None,
        baud: int | None = None,
    ) -> None:
        self.link = link
        self.drops: Counter[str] = Counter()
        self._serial = serial_fd
        self._tun = tun
        self._on_event = on_event
        self._on_ra = on_router_advertisement
        self._tap = tap
        """Sees every byte both ways (``--pcap``, ``-vv``); None costs nothing."""
        self._loop = asyncio.get_running_loop()
        self._tun_reader = PausableReader(self._loop, tun.fileno(), self._tun_readable)
        self._writer = SerialWriter(
            serial_fd, self._write_failed, self._tun_reader.pressure, baud=baud
        )
        self._timer = OneTimer(self._loop, self._on_timer)
        self._down = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = False
        self._held: bytearray | None = None
        """While the line is lent to AT (``hold``): what PPP writes meanwhile."""
        self.ipv6_elsewhere: Callable[[bytes], None] | None = None
        """Takes the IPv6 packets the host writes to the TUN, when PPP does not carry
        IPv6 (set and cleared at any time)."""

    # ------------------------------------------------------------------ control
    def start(self, initial: bytes = b"") -> None:
        """Open the link (LCP starts) and feed it ``initial``: the bytes that followed
        CONNECT in the same read."""
        self._running = True
        self._loop.add_reader(self._serial, self._serial_readable)
        self._tun_reader.start()
        now = self._loop.time()
        self._apply(self.link.open(now))
        if initial:
            if self._tap:
                self._tap.received(initial)
            self._apply(self.link.receive_bytes(initial, now))

    def send_packet(self, packet: bytes) -> None:
        """A packet of the bridge's own (a Router Solicitation) to the peer."""
        self._apply(self.link.send_packet(packet, self._loop.time()))

    def close(self, reason: str = "closed by the user") -> None:
        """Start LCP's Terminate exchange; ``wait_down`` tells when it is over."""
        if self._running:
            self._apply(self.link.close(self._loop.time(), reason))

    def hold(self) -> None:
        """Lend the line to AT (``bridge.line_sharing``): stop reading it and keep what
        PPP writes until ``release``; the TUN is still read (IPv6 goes to the AT side)."""
        if self._running and self._held is None:
            self._loop.remove_reader(self._serial)
            self._held = bytearray()

    async def drained(self) -> None:
        """Until the line has taken what PPP wrote before ``hold``."""
        await self._writer.drained()

    @property
    def backlog(self) -> int:
        """Octets written that the line has not taken yet."""
        return self._writer.backlog

    @property
    def quiet_at(self) -> float:
        """Loop time from which the line is silent (what was written has left a UART at
        the port's baud rate)."""
        return self._writer.quiet_at

    def release(self, initial: bytes = b"") -> None:
        """The line carries PPP again (``CONNECT`` after ``ATO``): what was kept is
        written, ``initial`` (read after CONNECT) goes to PPP."""
        held, self._held = self._held, None
        if not self._running or held is None:
            return
        self._loop.add_reader(self._serial, self._serial_readable)
        self._write(bytes(held))
        if initial:
            if self._tap:
                self._tap.received(initial)
            self._apply(self.link.receive_bytes(initial, self._loop.time()))

    def lost(self, detail: str) -> None:
        """The line is gone (the modem no longer follows ``+++``/``ATO``): the link is
        down (``LinkDown`` as for a lost carrier)."""
        if self._running:
            self._held = None
            self._line_lost(detail)

    async def wait_down(self) -> None:
        await self._down.wait()

    async def wait_finished(self) -> None:
        """Until the link is down and its Terminate exchange over (``Link.finished``)."""
        await self._finished.wait()

    @property
    def is_down(self) -> bool:
        return self._down.is_set()

    def stop(self) -> None:
        """Let go of both descriptors (their owners close them)."""
        if not self._running:
            return
        self._running = False
        self._loop.remove_reader(self._serial)
        self._tun_reader.stop()
        self._writer.stop()
        self._timer.cancel()
        self._down.set()
        self._finished.set()

    # ------------------------------------------------------------------- inputs
    def _serial_readable(self) -> None:
        try:
            data = os.read(self._serial, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the device went away, or the pty's other end
            self._line_lost(f"serial line: {exc.strerror}")
            return
        if not data:
            self._line_lost("serial line closed")
            return
        if self._tap:
            self._tap.received(data)
        self._apply(self.link.receive_bytes(data, self._loop.time()))

    def _tun_readable(self) -> None:
        try:
            packets = self._tun.read_batch(TUN_BATCH)
        except OSError as exc:  # EBADFD: the interface was deleted under us
            self._tun_reader.stop()
            self.drops["tun_gone"] += 1
            self._apply(self.link.close(self._loop.time(), f"TUN: {exc.strerror}"))
            return
        if not packets:
            return
        now = self._loop.time()
        link = self.link
        elsewhere = self.ipv6_elsewhere
        frames = []
        for packet in packets:
            if elsewhere is not None and packet[:1] and packet[0] >> 4 == 6:
                elsewhere(packet)
                continue
            for output in link.send_packet(packet, now):
                if isinstance(output, WriteSerial):
                    frames.append(output.data)
        if frames:
            self._write(b"".join(frames))
        self._rearm()

    def _on_timer(self) -> None:
        self._apply(self.link.handle_timer(self._loop.time()))

    def _line_lost(self, detail: str) -> None:
        self._loop.remove_reader(self._serial)
        self._apply(self.link.lower_down(self._loop.time(), detail))

    # ------------------------------------------------------------------ outputs
    def _apply(self, outputs: list[Output]) -> None:
        tun = self._tun
        for output in outputs:
            if isinstance(output, DeliverPacket):
                packet = output.data
                if self._on_ra is not None and is_router_advertisement(packet):
                    self._on_ra(packet)
                elif not tun.write(packet):
                    self.drops["tun_refused"] += 1
            elif isinstance(output, WriteSerial):
                self._write(output.data)
            else:
                self._on_event(output)
                if isinstance(output, LinkDown):
                    self._down.set()
        if self.link.finished:
            self._finished.set()
        self._rearm()

    def _rearm(self) -> None:
        self._timer.arm(self.link.next_deadline() if self._running else None)

    def _write(self, data: bytes) -> None:
        if not self._running:
            return
        if self._held is not None:
            if len(self._held) + len(data) > HELD_LIMIT:
                self.drops["held_while_at"] += 1  # a frame lost, as on a full queue
            else:
                self._held += data
            return
        if self._tap:
            self._tap.sent(data)
        self._writer.write(data)

    def _write_failed(self, exc: OSError) -> None:
        self.drops["serial_write_failed"] += 1
        self._line_lost(f"serial line: {exc.strerror}")
