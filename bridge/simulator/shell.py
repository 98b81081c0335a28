"""``pppbridge simulate``: the asyncio shell around the pure modem.

One pump, as everywhere in the bridge: line bytes, network packets and control commands
go into the ``Modem``; its outputs are applied (bytes to the line, packets to the network
after the added latency, notes to the transcript, frames to the pcap); then the one timer
is re-armed at ``modem.next_deadline()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import signal
import time
from collections.abc import Callable
from typing import Any, TextIO

from netstack.events import DeliverPacket, WriteSerial

from .at_modem import Mode, Modem
from .control import ControlServer
from .data_session import CapturedFrame, Note
from .hosts import LocalResponder
from .line_io import Line, PacedLine, open_line
from .operator import NetworkUnavailable, OperatorNetwork, remove_stale_namespaces
from .pcap import PcapWriter
from .plan import DEFAULT_PLAN, NetworkPlan
from .profiles import PROFILES
from .settings import SimSettings

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
        transcript: TextIO | None = None,
        pcap: str | None = None,
        control: str | None = None,
        namespace: bool = True,
        plan: NetworkPlan = DEFAULT_PLAN,
        out: TextIO,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.latency = settings.latency
        self._link_path = link
        self._transcript = transcript
        self._pcap_path = pcap
        self._control_path = control
        self._namespace = namespace
        self._out = out
        self._rng = random.Random(settings.seed)
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self.modem = Modem(settings, plan, self._rng, self._started, capture=pcap is not None)
        self._timer: asyncio.TimerHandle | None = None
        self._line: Line | None = None
        self._paced: PacedLine | None = None
        self._network: OperatorNetwork | None = None
        self._responder: LocalResponder | None = None
        self._pcap: PcapWriter | None = None
        self._control: ControlServer | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self.device = ""

    def now(self) -> float:
        return self._loop.time()

    # ------------------------------------------------------------- lifecycle
    async def run(self) -> int:
        """Serve until SIGINT/SIGTERM; 0 on a clean stop."""
        try:
            await self.start()
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(signum, self._stopped.set)
            await self._stopped.wait()
            return 0
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._loop.remove_signal_handler(signum)
            await self.close()

    async def start(self) -> None:
        profile = PROFILES[self.settings.profile]
        self._line = open_line(self._link_path)
        self.device = self._line.device
        if self._pcap_path:
            self._pcap = PcapWriter(self._pcap_path)
        await self._start_network()
        if self._control_path:
            self._control = ControlServer(self, self._control_path)
            await self._control.start()
        self._paced = PacedLine(self._line.fd, self._from_line, self._line_error, self._rng)
        self._paced.baud = self.settings.baud
        self._paced.messy = self.settings.messy
        print(f"pppbridge simulate: {profile.description} on {self.device}", file=self._out)
        if self._control:
            print(f"pppbridge simulate: control socket {self._control.path}", file=self._out)
        self._out.flush()
        self.apply(self.modem.start(self.now()))

    async def close(self) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        if self._paced is not None:
            self._paced.close()
        if self._control is not None:
            await self._control.close()
        if self._network is not None:
            await self._network.close()
        if self._pcap is not None:
            self._pcap.close()
        if self._line is not None:
            self._line.close()

    def stop(self) -> None:
        self._stopped.set()

    async def _start_network(self) -> None:
        reason = "disabled with --no-namespace"
        if self._namespace:
            remove_stale_namespaces()
            try:
                self._network = await OperatorNetwork.create(self.plan, self._from_network)
                self.note("net", f"operator network in namespace {self._network.name}")
                return
            except NetworkUnavailable as exc:
                reason = str(exc)
        self._responder = LocalResponder(self.plan)
        print(
            f"pppbridge simulate: no network namespace ({reason}); "
            "answering ICMP echo, UDP echo and DNS itself (no TCP)",
            file=self._out,
        )

    # ------------------------------------------------------------------ pump
    def apply(self, outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                if self._paced is not None:
                    self._paced.write(output.data)
            elif isinstance(output, DeliverPacket):
                self._later(self._to_network, output.data)
            elif isinstance(output, Note):
                self.note(output.topic, output.text)
            elif isinstance(output, CapturedFrame) and self._pcap is not None:
                self._pcap.write(output.frame, sent=output.sent, timestamp=time.time())
        self._rearm()
        self._changed.set()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._closing:
            return
        deadline = self.modem.next_deadline()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self.apply(self.modem.handle_timer(self.now()))

    def _from_line(self, data: bytes) -> None:
        self.apply(self.modem.receive(data, self.now()))

    def _line_error(self, reason: str) -> None:
        self.note("at", f"serial line: {reason}; stopping")
        self._stopped.set()

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
        }
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
        if self._transcript is None:
            return
        elapsed = self._loop.time() - self._started
        print(f"[{elapsed:9.3f}] {topic:<5} {text}", file=self._transcript, flush=True)


def run_simulator(settings: SimSettings, out: TextIO, **options: Any) -> int:
    """Entry point for the CLI: run until interrupted."""

    async def main() -> int:
        simulator = Simulator(settings, out=out, **options)
        return await simulator.run()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
