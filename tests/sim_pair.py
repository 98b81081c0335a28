"""The pure simulator ``Modem`` against a DTE on virtual time: AT lines, then our PPP client.

    pair = SimPair(SimSettings(profile="quectel"))
    assert pair.at("ATI") == ["Quectel", "BG96", "Revision: BG96MAR02A07M1G", "OK"]
    pair.dial()                       # CONNECT, then a client Link takes the line
    pair.run_until(lambda: pair.client.ipv6_ready)
    pair.client_send(packet)          # to the network side: pair.network

Nothing sleeps: ``run_until`` jumps virtual time to the next deadline of the modem or the
client, up to a bound. Bytes from the modem are kept raw in ``pair.line`` (what a DTE
reads) until a client Link is attached; packets the modem forwards to the network land
in ``pair.network`` (or are answered by ``responder`` when given).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bridge.simulator.at_modem import Modem
from bridge.simulator.data_session import CapturedFrame, Note
from bridge.simulator.settings import SimSettings
from netstack.at import AtChannel, Connected
from netstack.config import LinkConfig
from netstack.events import DeliverPacket, WriteSerial
from netstack.link import Link

STEP_LIMIT = 100_000


class SimPair:
    def __init__(
        self,
        settings: SimSettings | None = None,
        *,
        seed: int = 1,
        capture: bool = False,
        responder: Callable[[bytes], list[bytes]] | None = None,
    ) -> None:
        self.now = 0.0
        self.modem = Modem(
            settings or SimSettings(), rng=random.Random(seed), now=0.0, capture=capture
        )
        self.line = bytearray()
        """Bytes from the modem not yet taken by ``read_text`` (command state)."""
        self.writes: list[bytes] = []
        """Every write the modem made, in order (to check how replies are cut)."""
        self.notes: list[Note] = []
        self.frames: list[CapturedFrame] = []
        self.network: list[bytes] = []
        self.client: Link | None = None
        self.client_events: list[object] = []
        self.client_packets: list[bytes] = []
        self.responder = responder
        self._apply(self.modem.start(0.0))

    # ---------------------------------------------------------------- AT side
    def send(self, data: bytes) -> None:
        self._apply(self.modem.receive(data, self.now))

    def at(self, command: str, settle: float = 0.0) -> list[str]:
        """Send one command line; return the non-empty lines received (final result last)."""
        self.line.clear()
        self.send(command.encode("latin-1") + b"\r")
        if settle:
            self.advance(settle)
        return self.lines()

    def lines(self) -> list[str]:
        text = bytes(self.line).decode("latin-1")
        self.line.clear()
        return [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line]

    def dial(self, command: str = "ATD*99***1#", config: LinkConfig | None = None) -> list[str]:
        """Dial; on CONNECT (as the product's AT layer reads it) attach a client Link, fed
        whatever followed CONNECT. Returns the reply's lines as the modem wrote them (the
        echo too), or up to CONNECT."""
        self.line.clear()
        channel = AtChannel()
        self.send(channel.send(command, self.now, timeout=60.0))
        events = channel.receive(bytes(self.line), self.now)
        connected = [e for e in events if isinstance(e, Connected)]
        if not connected:
            return self.lines()
        self.line.clear()
        self.client = Link(config or LinkConfig(username="test"), random.Random(2))
        self._client(self.client.open(self.now))
        if connected[0].trailing:
            self._client(self.client.receive_bytes(connected[0].trailing, self.now))
        return [*connected[0].lines, f"CONNECT {connected[0].text}".strip()]

    # ------------------------------------------------------------------ time
    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        self.run_until(lambda: False, limit=seconds, strict=False)
        self.now = max(self.now, end)

    def run_until(
        self, condition: Callable[[], bool], limit: float = 60.0, strict: bool = True
    ) -> None:
        end = self.now + limit
        for _ in range(STEP_LIMIT):
            if condition():
                return
            deadlines = [self.modem.next_deadline()]
            if self.client is not None:
                deadlines.append(self.client.next_deadline())
            pending = [d for d in deadlines if d is not None]
            if not pending or min(pending) > end:
                break
            self.now = max(self.now, min(pending))
            self._apply(self.modem.handle_timer(self.now))
            if self.client is not None:
                self._client(self.client.handle_timer(self.now))
        if strict and not condition():
            recent = "\n".join(f"  {n.topic}: {n.text}" for n in self.notes[-15:])
            raise AssertionError(f"condition not reached within {limit} s; last notes:\n{recent}")

    # ------------------------------------------------------------- data side
    def client_send(self, packet: bytes) -> None:
        assert self.client is not None
        self._client(self.client.send_packet(packet, self.now))

    def from_network(self, packet: bytes) -> None:
        self._apply(self.modem.from_network(packet, self.now))

    def _apply(self, outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                self.writes.append(output.data)
                if self.client is not None:
                    self._client(self.client.receive_bytes(output.data, self.now))
                else:
                    self.line += output.data
            elif isinstance(output, DeliverPacket):
                self.network.append(output.data)
                if self.responder is not None:
                    for reply in self.responder(output.data):
                        self.from_network(reply)
            elif isinstance(output, Note):
                self.notes.append(output)
            elif isinstance(output, CapturedFrame):
                self.frames.append(output)

    def _client(self, outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                self._apply(self.modem.receive(output.data, self.now))
            elif isinstance(output, DeliverPacket):
                self.client_packets.append(output.data)
            else:
                self.client_events.append(output)

    def detach_client(self) -> None:
        """Back to reading the line as text (after NO CARRIER or +++)."""
        self.client = None
