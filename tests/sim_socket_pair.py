"""The pure simulator ``Modem`` with its own IP stack, on virtual time, for socket tests.

    sim = SocketSim(SimSettings(profile="telit", attached=True))
    sim.at('AT#SD=1,1,7,"2001:db8:1::1",0,0,1')        # the raw bytes of the reply
    sim.payload("AT#SSENDEXT=1,5", b"hello")
    sim.wait_for(b"SRING: 1")

The modem's socket and ping outputs are answered by ``hosts.LocalStackNetwork`` (the
simulated echo and DNS hosts, in-process), ``DELAY`` seconds later, as a network would;
``network_down`` makes the network swallow everything (lost pings). Bytes the modem writes
collect per terminal (``MAIN``, and ``AUX`` for ``at_port=True``) until read. Nothing
sleeps: time jumps to the next deadline of the modem or of a datagram in flight.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bridge.simulator.at_modem import Modem
from bridge.simulator.at_port import AUX, MAIN, WriteAtPort
from bridge.simulator.data_session import Note
from bridge.simulator.hosts import LocalResponder, LocalStackNetwork
from bridge.simulator.settings import SimSettings
from bridge.simulator.socket_events import STACK_OUTPUTS, NetworkEvent
from netstack.events import WriteSerial

DELAY = 0.02
"""Seconds a datagram or echo takes to the hosts and back."""
STEP_LIMIT = 100_000


class SocketSim:
    def __init__(
        self, settings: SimSettings | None = None, *, seed: int = 1, at_port: bool = False
    ) -> None:
        self.now = 0.0
        self.modem = Modem(
            settings or SimSettings(profile="sequans"),
            rng=random.Random(seed),
            now=0.0,
            at_port=at_port,
        )
        self.network = LocalStackNetwork(LocalResponder())
        self.network_down = False
        self.out = {MAIN: bytearray(), AUX: bytearray()}
        self.writes: dict[str, list[bytes]] = {MAIN: [], AUX: []}
        """Every write per terminal, in order (to check how replies are cut)."""
        self.stack_outputs: list[object] = []
        self.notes: list[Note] = []
        self._in_flight: list[tuple[float, NetworkEvent]] = []
        self._apply(self.modem.start(0.0))
        self.advance(0.0)

    # ------------------------------------------------------------------ AT side
    def write(self, data: bytes, port: str = MAIN) -> None:
        if port == MAIN:
            self._apply(self.modem.receive(data, self.now))
        else:
            self._apply(self.modem.receive_at_port(data, self.now))

    def at(self, command: str, port: str = MAIN, settle: float = 0.5) -> bytes:
        """Send ``command`` + CR; the bytes written on ``port`` within ``settle``
        seconds (what was there before is dropped)."""
        self.out[port].clear()
        self.write(command.encode("latin-1") + b"\r", port)
        self.advance(settle)
        return self.take(port)

    def payload(
        self, command: str, data: bytes, port: str = MAIN, settle: float = 0.5
    ) -> tuple[bytes, bytes]:
        """A send command, then ``data`` once the prompt came: (the bytes up to and with
        the prompt, the bytes after the payload)."""
        prompt = self.at(command, port, settle=0.0)
        self.write(data, port)
        self.advance(settle)
        return prompt, self.take(port)

    def take(self, port: str = MAIN) -> bytes:
        data = bytes(self.out[port])
        self.out[port].clear()
        return data

    def wait_for(self, needle: bytes, port: str = MAIN, limit: float = 30.0) -> bytes:
        """Until ``needle`` is among the unread bytes of ``port``; returns them all."""
        self.run_until(lambda: needle in self.out[port], limit)
        return self.take(port)

    # ------------------------------------------------------------------ time
    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        self.run_until(lambda: False, limit=seconds, strict=False)
        self.now = max(self.now, end)

    def run_until(self, condition: Callable[[], bool], limit: float, strict: bool = True) -> None:
        end = self.now + limit
        for _ in range(STEP_LIMIT):
            if condition():
                return
            due = [self.modem.next_deadline(), *(when for when, _ in self._in_flight)]
            pending = [t for t in due if t is not None]
            if not pending or min(pending) > end:
                break
            self.now = max(self.now, min(pending))
            arrived = [e for when, e in self._in_flight if when <= self.now]
            self._in_flight = [(w, e) for w, e in self._in_flight if w > self.now]
            for event in arrived:
                self._apply(self.modem.network_event(event, self.now))
            self._apply(self.modem.handle_timer(self.now))
        if strict and not condition():
            recent = "\n".join(f"  {n.topic}: {n.text}" for n in self.notes[-15:])
            raise AssertionError(f"condition not reached within {limit} s; last notes:\n{recent}")

    def _apply(self, outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial | WriteAtPort):
                port = MAIN if isinstance(output, WriteSerial) else AUX
                self.out[port] += output.data
                self.writes[port].append(output.data)
            elif isinstance(output, Note):
                self.notes.append(output)
            elif isinstance(output, STACK_OUTPUTS):
                self.stack_outputs.append(output)
                if not self.network_down:
                    for event in self.network.answer(output):
                        self._in_flight.append((self.now + DELAY, event))


def lines(data: bytes) -> list[str]:
    """The non-empty lines of a reply (CR and LF both end one)."""
    text = data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")
    return [line for line in text.split("\n") if line.strip()]
