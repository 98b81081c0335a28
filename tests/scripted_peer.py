"""A ``Link`` under test with the peer played by hand, packet by packet, on virtual time.

Where ``link_pair`` lets two real links talk, this lets a test say exactly what the peer
sends and when, to reach the corners of RFC 1661 that a well-behaved peer never visits
(a request replaced mid-negotiation, a Protocol-Reject before Opened, a Reject of options
we never asked for). The peer frames with every control character escaped, which any
receive ACCM accepts, and reads the link's frames with the reference decoder.
"""

from __future__ import annotations

import random

from netstack.config import LinkConfig
from netstack.events import Output, WriteSerial
from netstack.hdlc import Framer
from netstack.hdlc_reference import decode
from netstack.link import Link
from netstack.numbers import Code, Protocol
from netstack.packet import ControlPacket


class ScriptedPeer:
    def __init__(self, config: LinkConfig | None = None, seed: int = 1) -> None:
        self.link = Link(config or LinkConfig(), random.Random(seed))
        self.now = 0.0
        self.events: list[Output] = []
        self.sent: list[tuple[int, bytes]] = []
        """Every frame the link sent: (protocol, information field)."""
        self._framer = Framer()

    def take(self, outputs: list[Output]) -> list[tuple[int, bytes]]:
        """Record ``outputs``; return the frames among them."""
        frames: list[tuple[int, bytes]] = []
        for output in outputs:
            if isinstance(output, WriteSerial):
                frames += decode(output.data, 0)
            else:
                self.events.append(output)
        self.sent += frames
        return frames

    def open(self) -> ControlPacket:
        """Open the link; return its first LCP Configure-Request."""
        return self.control(self.take(self.link.open(self.now)), Protocol.LCP)[-1]

    def send(self, protocol: int, packet: ControlPacket | bytes) -> list[tuple[int, bytes]]:
        """The peer sends one frame; return the frames the link answers with."""
        data = packet.emit() if isinstance(packet, ControlPacket) else packet
        return self.take(self.link.receive_bytes(self._framer.encode(protocol, data), self.now))

    def reply(
        self, protocol: int, code: int, identifier: int, data: bytes = b""
    ) -> list[ControlPacket]:
        """Send a control packet; return the link's control packets of that protocol."""
        return self.control(self.send(protocol, ControlPacket(code, identifier, data)), protocol)

    def advance(self, seconds: float) -> list[tuple[int, bytes]]:
        """Let ``seconds`` pass, firing every timer due on the way."""
        end = self.now + seconds
        frames: list[tuple[int, bytes]] = []
        while (deadline := self.link.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            frames += self.take(self.link.handle_timer(self.now))
        self.now = end
        return frames

    @staticmethod
    def control(frames: list[tuple[int, bytes]], protocol: int) -> list[ControlPacket]:
        return [ControlPacket.parse(info) for proto, info in frames if proto == protocol]

    def open_lcp(self, peer_options: bytes = b"") -> None:
        """LCP to Opened: the peer Acks the link's request and sends its own."""
        request = self.open()
        self.reply(Protocol.LCP, Code.CONFIGURE_ACK, request.identifier, request.data)
        acks = self.reply(Protocol.LCP, Code.CONFIGURE_REQUEST, 0x50, peer_options)
        assert [a.code for a in acks] == [Code.CONFIGURE_ACK], acks

    def events_of(self, kind: type) -> list[Output]:
        return [e for e in self.events if isinstance(e, kind)]
