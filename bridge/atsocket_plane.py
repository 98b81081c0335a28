"""The AT-socket plane: IPv6 UDP between the TUN and the modem's own sockets (issue 10).

The thin shell around two pure machines, on one AT line in command mode:
``netstack.at.AtChannel`` (bytes <-> AT events) and ``netstack.atsocket.AtSocketBridge``
(IPv6 packets and AT events <-> AT commands, payloads and packets for the host). One
pump, as everywhere in the bridge: input -> outputs -> re-arm the one timer.

- Line readable: the channel's events go to the bridge, its outputs are carried out:
  ``SendAt`` becomes a command line (``AtChannel.send``), ``SendPayload`` the payload
  after the modem's prompt, ``ToTun`` a packet written to the TUN.
- Packets from the host: with ``read_tun`` the plane reads the TUN itself (``--mode
  at-socket``: no PPP, the TUN carries IPv6 only); otherwise the PPP data plane hands
  it the IPv6 packets (``from_tun``) and keeps IPv4 for PPP.
- URCs that are not the sockets' (registration, ``+CGEV``) go to ``on_urc`` too: the
  supervisor watches them for the context's end.
- ``shared``: the line is PPP's (``bridge.line_sharing``) and lent to AT now and then:
  while it carries PPP the plane does not read it and keeps the bridge's commands
  (``on_wanted`` says there are some); ``command_mode`` runs them once ``+++`` got its
  OK, ``go_online`` sends ``ATO`` and hands back the line at ``CONNECT``.

Nothing sleeps; ``wait_lost`` waits for the line to fail or close, ``close`` for the
sockets' closing commands (bounded).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Callable

from netstack.at import STANDARD_URCS, AtChannel, AtEvent, Connected, Prompt, Urc
from netstack.atsocket import AtSocketBridge
from netstack.atsocket_events import AtSocketOutput, SendAt, SendPayload, ToTun

from .loop_parts import OneTimer, PausableReader
from .serial_writer import SerialWriter
from .tun import PacketDevice
from .waiting import first_of

log = logging.getLogger("pppbridge.atsocket")
READ_SIZE = 65536
TUN_BATCH = 64


class AtSocketPlane:
    """Moves IPv6 UDP between a TUN and an AT line through ``bridge``."""

    def __init__(
        self,
        bridge: AtSocketBridge,
        at_fd: int,
        tun: PacketDevice,
        *,
        read_tun: bool,
        on_urc: Callable[[str], None] = lambda line: None,
        shared: bool = False,
        on_wanted: Callable[[], None] = lambda: None,
    ) -> None:
        self.bridge = bridge
        self.drops: Counter[str] = Counter()
        self._fd = at_fd
        self._tun = tun
        self._read_tun = read_tun
        self._on_urc = on_urc
        self._channel = AtChannel(STANDARD_URCS + bridge.vendor.urc_prefixes)
        self._loop = asyncio.get_running_loop()
        self._tun_reader = PausableReader(self._loop, tun.fileno(), self._tun_readable)
        pressure = self._tun_reader.pressure if read_tun else (lambda paused: None)
        self._writer = SerialWriter(at_fd, self._write_failed, pressure)
        self._timer = OneTimer(self._loop, self._on_timer)
        self._lost = asyncio.Event()
        self.lost_reason: str | None = None
        self._running = False
        self._progress: asyncio.Future[None] | None = None
        self._online = shared
        """The line carries PPP: commands wait in ``_waiting``."""
        self._waiting: list[AtSocketOutput] = []
        self._on_wanted = on_wanted
        self._ato: asyncio.Future[bytes | None] | None = None
        self._finishing = False
        """Lent the line, and time is up: new commands wait for the next loan."""
        self._reading = False
        """The plane reads the line (a shared line: only while lent to AT)."""
        self.bytes_read = 0
        self.bytes_written = 0
        """What crossed the AT line each way (the line time of the work: its bytes)."""

    # ------------------------------------------------------------------ control
    def start(self, initial: bytes = b"") -> None:
        """Start reading the line (and the TUN with ``read_tun``); ``initial``: bytes
        already read from the line."""
        self._running = True
        if not self._online:
            self._read_line(True)
        if self._read_tun:
            self._tun_reader.start()
        if initial:
            self._received(initial)
        self._rearm()

    def from_tun(self, packet: bytes) -> None:
        """An IPv6 packet the host wrote to the TUN (from the PPP data plane)."""
        if self._running:
            self._apply(self.bridge.from_tun(packet, self._loop.time()))

    @property
    def busy(self) -> bool:
        """Work for the modem waits, is in hand, or has a result to come."""
        return bool(self._waiting) or self.bridge.busy

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    @property
    def commanding(self) -> bool:
        """The line is lent to the plane and in command mode (``command_mode`` was
        called, ``go_online`` has not brought it back online)."""
        return self._running and not self._online and not self._lost.is_set()

    @property
    def line_busy(self) -> bool:
        """A command of ours is on the line (sent, its result or payload not yet done)."""
        return self._channel.pending is not None

    def finish(self) -> None:
        """The loan of the line is over: what is on it completes, new commands wait."""
        self._finishing = True

    def command_mode(self, initial: bytes = b"") -> None:
        """The line is ours (``+++`` answered OK): read it, send what waited."""
        if not self._running or not self._online:
            return
        now = self._loop.time()
        if self._channel.online:
            self._channel.resume_command_mode(now)
        self._online = False
        self._finishing = False
        self._read_line(True)
        waiting, self._waiting = self._waiting, []
        self._apply(waiting)
        if initial:
            self._received(initial)

    async def go_online(self, timeout: float) -> bytes | None:
        """``ATO``: the bytes after its CONNECT (the start of PPP again), or None when the
        modem did not go back online (NO CARRIER: the call is gone)."""
        if not self._running or self._online or self._lost.is_set():
            return None
        self._ato = self._loop.create_future()
        self._write(self._channel.send("ATO", self._loop.time(), timeout))
        self._rearm()
        await first_of(asyncio.shield(self._ato), self._lost.wait())
        return self._ato.result() if self._ato.done() else None

    async def wait_lost(self) -> None:
        await self._lost.wait()

    async def progress(self) -> None:
        """Until the plane next acts (an event handled, an output carried out, the line
        lost); the caller bounds the wait."""
        if self._progress is None or self._progress.done():
            self._progress = self._loop.create_future()
        await asyncio.shield(self._progress)

    async def close(self, timeout: float) -> None:
        """Close every modem socket, waiting at most ``timeout`` for the modem."""
        if not self._running or self._lost.is_set():
            return
        self._apply(self.bridge.close_all(self._loop.time()))
        try:
            async with asyncio.timeout(timeout):
                while self.bridge.sockets() and not self._lost.is_set():
                    await self.progress()
        except TimeoutError:
            log.info("the modem did not close its sockets within %.0f s", timeout)

    def stop(self) -> None:
        """Let go of the descriptors (their owners close them)."""
        if not self._running:
            return
        self._running = False
        self._read_line(False)
        self._tun_reader.stop()
        self._writer.stop()
        self._timer.cancel()

    # ------------------------------------------------------------------- inputs
    def _read_line(self, on: bool) -> None:
        """Read the line, or stop: only ever our own reader (a shared line's other
        reader is the PPP data plane's)."""
        if on and not self._reading:
            self._loop.add_reader(self._fd, self._line_readable)
        elif not on and self._reading:
            self._loop.remove_reader(self._fd)
        self._reading = on

    def _line_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the device went away
            self._line_lost(f"AT line: {exc.strerror}")
            return
        if not data:
            self._line_lost("AT line closed")
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        now = self._loop.time()
        for event in self._channel.receive(data, now):
            self._event(event, now)
        self._rearm()

    def _event(self, event: AtEvent, now: float) -> None:
        ato = self._ato
        if ato is not None and not ato.done() and not isinstance(event, Urc | Prompt):
            if event.command == "ATO":  # ours, not the bridge's
                if isinstance(event, Connected):
                    self._read_line(False)
                    self._online = True
                    ato.set_result(event.trailing)
                else:
                    ato.set_result(None)
                return
        if isinstance(event, Urc):
            self._on_urc(event.line)
        if isinstance(event, Connected):  # online, unasked: no more AT on this line
            self._line_lost("the modem went online (CONNECT) on the AT line")
        self._apply(self.bridge.at_event(event, now))

    def _tun_readable(self) -> None:
        try:
            packets = self._tun.read_batch(TUN_BATCH)
        except OSError as exc:  # EBADFD: the interface was deleted under us
            self._tun_reader.stop()
            self.drops["tun_gone"] += 1
            self._line_lost(f"TUN: {exc.strerror}")
            return
        now = self._loop.time()
        for packet in packets:
            self._apply(self.bridge.from_tun(packet, now))

    def _on_timer(self) -> None:
        now = self._loop.time()
        for event in self._channel.handle_timer(now):
            self._event(event, now)
        self._apply(self.bridge.handle_timer(now))

    def _line_lost(self, why: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = why
        self._read_line(False)
        self._lost.set()
        self._wake()

    # ------------------------------------------------------------------ outputs
    def _apply(self, outputs: list[AtSocketOutput]) -> None:
        now = self._loop.time()
        for output in outputs:
            if self._lost.is_set() and not isinstance(output, ToTun):
                continue  # no AT on a line that is gone (or carries data unasked)
            # While ATO is pending the channel takes no command: the next loan sends it.
            going = self._ato is not None and not self._ato.done()
            held = self._online or going or (self._finishing and isinstance(output, SendAt))
            if held and not isinstance(output, ToTun):
                self._waiting.append(output)  # the line is (going back) to PPP: next loan
                self._on_wanted()
                continue
            if isinstance(output, ToTun):
                if not self._tun.write(output.packet):
                    self.drops["tun_refused"] += 1
            elif isinstance(output, SendAt):
                data = self._channel.send(
                    output.command,
                    now,
                    output.timeout,
                    response_prefix=output.response_prefix,
                    expect_prompt=output.expect_prompt,
                    extra_finals=dict(output.extra_finals),
                )
                log.debug("> %s", output.command[:80])
                self._write(data)
            elif isinstance(output, SendPayload):
                if self._channel.pending != output.command:
                    continue  # the modem ended the command with its prompt: nothing is due
                self._channel.send_payload(output.data, now, output.timeout)
                for piece in output.pieces():
                    self._write(piece)
        self._wake()
        self._rearm()

    def _write(self, data: bytes) -> None:
        self.bytes_written += len(data)
        self._writer.write(data)

    def _wake(self) -> None:
        if self._progress is not None and not self._progress.done():
            self._progress.set_result(None)

    def _rearm(self) -> None:
        if not self._running or self._lost.is_set():
            self._timer.cancel()
            return
        times = [self._channel.next_deadline(), self.bridge.next_deadline()]
        self._timer.arm(min((t for t in times if t is not None), default=None))

    def _write_failed(self, exc: OSError) -> None:
        self.drops["serial_write_failed"] += 1
        self._line_lost(f"AT line: {exc.strerror}")
