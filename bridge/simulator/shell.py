"""``pppbridge simulate``: the asyncio shell around the pure modem.

One pump, as everywhere in the bridge: line bytes, network packets and control commands
go into the ``Modem``; its outputs are applied (bytes to the line, packets to the network
after the added latency, notes to the transcript, frames to the pcap); then the one timer
is re-armed at ``modem.next_deadline()``.

Standard output carries what a script reads: ``device: PATH`` (then ``control: PATH``
and ``at-port: PATH`` when asked for) on lines of their own once everything is ready,
then the transcript unless it goes to a file.

The modem's own IP stack (AT sockets and pings, ``at_sockets.py``) goes out through
``socket_shell.py``: real sockets in the operator namespace, or the in-process hosts
without one; its answers come back into the pump after the added latency. With
``--at-port`` a second terminal takes AT commands for the same modem
(``Modem.receive_at_port``, its bytes ``WriteAtPort``).

Notices (no network namespace, stale ones) go to standard error. A failure while serving
(a line, a write to the transcript or the pcap, standard output closed) stops the
simulator: ``run`` cleans up and raises ``Failed`` with the one line to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import stat
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from netstack.events import DeliverPacket, WriteSerial

from ..entry import Failed, LineWriter, os_error_text
from ..guard import Guard
from .at_modem import Mode, Modem
from .at_port import WriteAtPort
from .control import ControlServer
from .data_session import CapturedFrame, Note
from .hosts import LocalResponder, LocalStackNetwork
from .line_io import Line, PacedLine, open_line
from .operator import NetworkUnavailable, OperatorNetwork, stale_namespaces
from .pcap import PcapWriter
from .plan import DEFAULT_PLAN, NetworkPlan
from .settings import SimSettings
from .socket_events import STACK_OUTPUTS, NetworkEvent
from .socket_shell import LocalStack, NamespaceStack
from .transcript import Transcript

_CONDITIONS: dict[str, Callable[[Modem], bool]] = {
    "online": lambda m: m.mode is Mode.ONLINE and m.session is not None,
    "ipv4": lambda m: m.session is not None and m.session.link.ipv4_ready,
    "ipv6": lambda m: m.session is not None and m.session.link.ipv6_ready,
    "command": lambda m: m.mode is Mode.COMMAND,
    "no-call": lambda m: m.session is None,
    "registered": lambda m: m.radio.registered,
}


class Simulator:
    def __init__(
        self,
        settings: SimSettings,
        *,
        link: str | None = None,
        transcript: Transcript | None = None,
        pcap: PcapWriter | None = None,
        control: str | None = None,
        at_port: str | None = None,
        namespace: bool = True,
        plan: NetworkPlan = DEFAULT_PLAN,
        out: TextIO,
        err: TextIO,
    ) -> None:
        """``transcript`` and ``pcap`` are opened and closed by the caller. ``at_port``:
        serve a second, AT-only terminal there ("": a new pty; see ``--link`` for a
        PATH); None: no second terminal."""
        self.settings = settings
        self.plan = plan
        self.latency = settings.latency
        self._link_path = link
        self._transcript = transcript
        self._pcap = pcap
        self._control_path = control
        self._at_port_path = at_port
        self._namespace = namespace
        self._out = LineWriter(out, "standard output")
        self._err = LineWriter(err, "standard error")
        self._rng = random.Random(settings.seed)
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self.modem = Modem(
            settings,
            plan,
            self._rng,
            self._started,
            capture=pcap is not None,
            at_port=at_port is not None,
        )
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._line: Line | None = None
        self._paced: PacedLine | None = None
        self._aux_line: Line | None = None
        self._aux: PacedLine | None = None
        self._stack: LocalStack | NamespaceStack | None = None
        self._network: OperatorNetwork | None = None
        self._responder: LocalResponder | None = None
        self._control: ControlServer | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._watched: int | None = None
        """The descriptor of a pipe on standard output, watched for its reader leaving."""
        self._notices: list[str] | None = []
        """Notices held until start-up succeeds; None after."""
        self.failure: str | None = None
        """Why the simulator stopped by itself, as the one line to show; None if it did not."""
        self.device = ""
        self.at_device = ""
        """The second terminal's path (``--at-port``), once started."""

    def now(self) -> float:
        return self._loop.time()

    # ------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        """Serve until a stop signal (raises ``StopSignal``) or a failure (raises
        ``Failed``); cleaned up either way, and not interrupted while cleaning up."""
        with Guard() as guard:
            try:
                await guard.watch(self._serve())
            finally:
                await self.close()

    async def _serve(self) -> None:
        await self.start()
        self._watch_reader_of(self._out.stream)
        await self._stopped.wait()
        if self.failure is not None:
            raise Failed(self.failure)

    async def start(self) -> None:
        """Everything up, then the device line. UsageError for a path that cannot be used."""
        self._line = open_line(self._link_path)
        self.device = self._line.device
        if self._at_port_path is not None:
            self._aux_line = open_line(self._at_port_path or None, option="--at-port")
            self.at_device = self._aux_line.device
        if self._control_path:
            self._control = ControlServer(self, self._control_path)
            await self._control.start()
        await self._start_network()
        self._paced = self._paced_line(self._line, self._from_line)
        if self._aux_line is not None:
            self._aux = self._paced_line(self._aux_line, self._from_aux)
        self._announce()
        self.apply(self.modem.start(self.now()))

    def _paced_line(self, line: Line, on_data: Callable[[bytes], None]) -> PacedLine:
        paced = PacedLine(
            line.fd, on_data, lambda reason: self._line_error(line.device, reason), self._rng
        )
        paced.baud = self.settings.baud
        paced.messy = self.settings.messy
        return paced

    def _announce(self) -> None:
        """Ready: the lines scripts read first, then what start-up held back (only now:
        when a switch is refused, its error is the only line shown)."""
        self._out.line(f"device: {self.device}")
        if self._control:
            self._out.line(f"control: {self._control.path}")
        if self.at_device:
            self._out.line(f"at-port: {self.at_device}")
        held, self._notices = self._notices or [], None
        for notice in held:
            self._notice(notice)
        if self._transcript is not None:
            self._transcript.begin()

    async def close(self) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        if self._watched is not None:
            self._loop.remove_reader(self._watched)
        for paced in (self._paced, self._aux):
            if paced is not None:
                paced.close()
        if self._control is not None:
            await self._control.close()
        if self._stack is not None:
            self._stack.close()
        if self._network is not None:
            await self._network.close()
        for line in (self._line, self._aux_line):
            if line is not None:
                line.close()

    def _fail(self, message: str) -> None:
        """Stop serving; the first failure is the one reported."""
        if self.failure is None:
            self.failure = message
        self._stopped.set()

    def _watch_reader_of(self, stream: TextIO) -> None:
        """When ``stream`` is a pipe, fail as soon as its reader goes away
        (``pppbridge simulate | head -1``), not at the next write, which may never come:
        the write end of a pipe polls as an error then."""
        try:
            fd = stream.fileno()
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except (OSError, ValueError):
            return
        if is_pipe:
            self._loop.add_reader(fd, self._reader_gone, fd)
            self._watched = fd

    def _reader_gone(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        self._watched = None
        self._fail(f"{self._out.name} was closed")

    def stop(self) -> None:
        self._stopped.set()

    async def _start_network(self) -> None:
        """The namespace, else the in-process responder: with a notice, unless the user
        asked for it with --no-namespace."""
        if self._namespace:
            self._report_stale_namespaces()
            try:
                self._network = await OperatorNetwork.create(self.plan, self._from_network)
                self._stack = NamespaceStack(self._network, self._from_stack)
                self.note("net", f"operator network in namespace {self._network.name}")
                return
            except NetworkUnavailable as exc:
                self._notice(
                    f"no network namespace ({exc}); "
                    "answering ICMP echo, UDP echo and DNS itself (no TCP)"
                )
        self._responder = LocalResponder(self.plan)
        self._stack = LocalStack(LocalStackNetwork(self._responder), self._from_stack)
        self.note("net", "operator network in-process: ICMP echo, UDP echo and DNS (no TCP)")

    def _report_stale_namespaces(self) -> None:
        stale = stale_namespaces()
        if stale:
            self._notice(
                f"network namespaces left by simulators that were killed: {', '.join(stale)}"
                " (remove them with: ip netns delete NAME)"
            )

    def _notice(self, text: str) -> None:
        if self._notices is not None:
            self._notices.append(text)  # still starting
            return
        with contextlib.suppress(Failed):  # a notice is not worth failing for
            self._err.line(f"pppbridge simulate: {text}")

    # ------------------------------------------------------------------ pump
    def apply(self, outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                if self._paced is not None:
                    self._paced.write(output.data)
            elif isinstance(output, WriteAtPort):
                if self._aux is not None:
                    self._aux.write(output.data)
            elif isinstance(output, STACK_OUTPUTS):
                if self._stack is not None and not self._closing:
                    self._stack.apply(output)
            elif isinstance(output, DeliverPacket):
                self._later(self._to_network, output.data)
            elif isinstance(output, Note):
                self.note(output.topic, output.text)
            elif isinstance(output, CapturedFrame):
                self._capture(output)
        self._rearm()
        self._changed.set()

    def _capture(self, frame: CapturedFrame) -> None:
        if self._pcap is None or self.failure is not None:
            return
        try:
            self._pcap.write(frame.frame, sent=frame.sent, timestamp=time.time())
        except OSError as exc:
            self._fail(f"--pcap {self._pcap.path}: {os_error_text(exc)}")

    def _rearm(self) -> None:
        """The one timer at the modem's next deadline; left alone when that did not
        change (most packets change nothing: re-arming each one costs a heap push)."""
        deadline = None if self._closing else self.modem.next_deadline()
        if deadline == self._deadline and (self._timer is not None or deadline is None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._deadline = None
        self.apply(self.modem.handle_timer(self.now()))

    def _from_line(self, data: bytes) -> None:
        self.apply(self.modem.receive(data, self.now()))

    def _from_aux(self, data: bytes) -> None:
        self.apply(self.modem.receive_at_port(data, self.now()))

    def _from_stack(self, event: NetworkEvent) -> None:
        """An answer for the modem's own sockets or pings: after the latency, and never
        inside the ``apply`` that sent what it answers (the in-process hosts answer at
        once), so the command's own reply is written first, as over a real network."""
        self._loop.call_later(self.latency, self._if_running_event, event)

    def _if_running_event(self, event: NetworkEvent) -> None:
        if not self._closing:
            self.apply(self.modem.network_event(event, self.now()))

    def _line_error(self, device: str, reason: str) -> None:
        which = "serial line" if device == self.device else f"AT port {device}"
        self.note("at", f"{which}: {reason}; stopping")
        self._fail(f"the modem line {device}: {reason}")

    def _later(self, action: Callable[[bytes], None], packet: bytes) -> None:
        if self.latency:
            self._loop.call_later(self.latency, self._if_running, action, packet)
        else:
            action(packet)

    def _if_running(self, action: Callable[[bytes], None], packet: bytes) -> None:
        if not self._closing:
            action(packet)

    def _to_network(self, packet: bytes) -> None:
        if self._network is not None:
            self._network.send(packet)
        elif self._responder is not None:
            for reply in self._responder.answer(packet):
                self._from_network(reply)

    def _from_network(self, packet: bytes) -> None:
        self._later(self._deliver, packet)

    def _deliver(self, packet: bytes) -> None:
        self.apply(self.modem.from_network(packet, self.now()))

    # --------------------------------------------------------------- control
    def set_baud(self, baud: int | None) -> None:
        if self._paced is not None:
            self._paced.baud = baud

    def status(self) -> dict[str, Any]:
        modem = self.modem
        session = modem.session
        status: dict[str, Any] = {
            "profile": modem.profile.name,
            "device": self.device,
            "mode": modem.mode.value,
            "sim": modem.sim.state,
            "registration": modem.radio.stat,
            "call": session is not None,
            "network": "namespace" if self._network else "local",
            "sockets": sorted(modem.stack.sockets),
        }
        if self.at_device:
            status["at_port"] = self.at_device
        if session is not None:
            link = session.link
            stats = link.statistics()
            status.update(
                phase=link.phase.value,
                ipv4=link.ipv4_ready,
                ipv6=link.ipv6_ready,
                frames_in=stats.frames_in,
                frames_out=stats.frames_out,
                drops=dict(stats.drops),
            )
        return status

    async def wait(self, condition: str, timeout: float) -> bool:
        check = _CONDITIONS.get(condition)
        if check is None:
            from .control import ControlError

            raise ControlError(f"wait: one of {', '.join(_CONDITIONS)}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not check(self.modem):
                    self._changed.clear()
                    await self._changed.wait()
        return check(self.modem)

    async def ping(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, count: int, timeout: float
    ) -> dict[str, Any]:
        from .control import ControlError

        session = self.modem.session
        if session is None or self.modem.mode is not Mode.ONLINE:
            raise ControlError("ping: there is no data call online")
        first = len(session.ping_replies)
        for seq in range(1, count + 1):
            self.apply(self.modem.ping(address, seq, self.now()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(session.ping_replies) - first < count and self.modem.session is session:
                    self._changed.clear()
                    await self._changed.wait()
        replies = session.ping_replies[first:]
        return {
            "sent": count,
            "received": len(replies),
            "rtt_ms": [round(rtt * 1000, 1) for _, rtt in replies],
        }

    def note(self, topic: str, text: str) -> None:
        if self._transcript is None or self.failure is not None:
            return
        elapsed = self._loop.time() - self._started
        try:
            self._transcript.line(f"[{elapsed:9.3f}] {topic:<5} {text}")
        except Failed as exc:
            self._fail(str(exc))


def run_simulator(settings: SimSettings, **options: Any) -> None:
    """Entry point for the CLI: serve until a stop signal (see ``Simulator.run``)."""

    async def main() -> None:
        await Simulator(settings, out=sys.stdout, err=sys.stderr, **options).run()

    asyncio.run(main())
