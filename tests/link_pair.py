"""A client/answering pair of ``Link`` objects joined by a simulated wire, on virtual time.

The wire carries whole frames and can lose, duplicate, reorder and corrupt them, driven
by a seeded ``random.Random`` so every run is reproducible. No clocks, no sleeps.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from netstack.config import LinkConfig, Role
from netstack.events import DeliverPacket, Output, WriteSerial
from netstack.hdlc_reference import decode as reference_decode
from netstack.link import Link

A4 = ipaddress.IPv4Address
_FRAME = re.compile(rb"\x7e[^\x7e]+\x7e")


def answering_config(**changes: object) -> LinkConfig:
    base: dict[str, object] = dict(
        role=Role.ANSWERING,
        local_ipv4=A4("198.51.100.1"),
        peer_ipv4=A4("198.51.100.2"),
        dns=(A4("198.51.100.53"), A4("198.51.100.54")),
        peer_interface_id=bytes.fromhex("0000000000000002"),
        local_interface_id=bytes.fromhex("0000000000000001"),
    )
    base.update(changes)
    return LinkConfig(**base)  # type: ignore[arg-type]


@dataclass
class Faults:
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    latency: float = 0.01
    whole_writes: bool = False
    """Deliver each write as one chunk, as a serial read often does, instead of frames."""
    drop: Callable[[int], bool] | None = None
    """Drop every frame whose PPP protocol this returns True for (a peer that ignores it)."""


@dataclass
class Side:
    name: str
    link: Link
    events: list[Output] = field(default_factory=list)
    packets: list[bytes] = field(default_factory=list)
    wire_bytes: list[bytes] = field(default_factory=list)


class Pair:
    def __init__(
        self,
        client: LinkConfig | None = None,
        server: LinkConfig | None = None,
        seed: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.client = Side("client", Link(client or LinkConfig(), random.Random(seed)))
        self.server = Side("server", Link(server or answering_config(), random.Random(seed + 1)))
        self.faults = faults or Faults()
        self.now = 0.0
        self._rng = random.Random(seed + 2)
        self._queue: list[tuple[float, int, str, bytes]] = []
        self._seq = 0
        self.cut = False
        """When True, nothing reaches the other side (a dead peer)."""

    def start(self) -> None:
        self._handle(self.client, self.client.link.open(self.now))
        self._handle(self.server, self.server.link.open(self.now))

    def other(self, side: Side) -> Side:
        return self.server if side is self.client else self.client

    def _handle(self, side: Side, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                side.wire_bytes.append(output.data)
                if self.faults.whole_writes:
                    self._send(side, output.data)
                    continue
                for frame in _FRAME.findall(output.data):
                    self._send(side, frame)
            elif isinstance(output, DeliverPacket):
                side.packets.append(output.data)
            else:
                side.events.append(output)

    def _send(self, side: Side, frame: bytes) -> None:
        f, rng = self.faults, self._rng
        if self.cut or rng.random() < f.loss:
            return
        if f.drop is not None and any(f.drop(p) for p, _ in reference_decode(frame, 0)):
            return
        copies = 2 if rng.random() < f.duplicate else 1
        for _ in range(copies):
            data = frame
            if rng.random() < f.corrupt:
                i = rng.randrange(1, len(data) - 1)
                data = data[:i] + bytes((data[i] ^ (1 << rng.randrange(8)),)) + data[i + 1 :]
            delay = f.latency * (1 + (rng.random() * 5 if rng.random() < f.reorder else 0))
            self._seq += 1
            heapq.heappush(self._queue, (self.now + delay, self._seq, side.name, data))

    def send_packet(self, side: Side, packet: bytes) -> None:
        self._handle(side, side.link.send_packet(packet, self.now))

    def inject(self, side: Side, data: bytes) -> None:
        """Bytes arriving at ``side`` as if from the wire, now."""
        self._handle(side, side.link.receive_bytes(data, self.now))

    def step(self) -> bool:
        deadlines = [
            (d, s) for s in (self.client, self.server) if (d := s.link.next_deadline()) is not None
        ]
        wire = self._queue[0][0] if self._queue else None
        if wire is None and not deadlines:
            return False
        timer_at, timer_side = min(deadlines, key=lambda x: x[0]) if deadlines else (None, None)
        if wire is not None and (timer_at is None or wire <= timer_at):
            at, _, name, data = heapq.heappop(self._queue)
            self.now = max(self.now, at)
            dest = self.server if name == "client" else self.client
            self._handle(dest, dest.link.receive_bytes(data, self.now))
        else:
            assert timer_at is not None and timer_side is not None
            self.now = max(self.now, timer_at)
            self._handle(timer_side, timer_side.link.handle_timer(self.now))
        return True

    def run_until(
        self, predicate: Callable[[], bool], max_time: float = 120.0, max_steps: int = 100_000
    ) -> bool:
        """Run until ``predicate()`` holds; False if time, steps or activity run out."""
        for _ in range(max_steps):
            if predicate():
                return True
            if self.now > max_time or not self.step():
                return predicate()
        return predicate()

    def run_for(self, duration: float) -> None:
        end = self.now + duration
        self.run_until(lambda: self.now >= end, max_time=end)

    def events_of(self, side: Side, kind: type) -> list[Output]:
        return [e for e in side.events if isinstance(e, kind)]
