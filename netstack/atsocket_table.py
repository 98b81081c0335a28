"""The modem's sockets and the flows they carry: one socket per flow, ids from the
vendor's range, least recently used first out when the range is full.

A socket is WAITING (for a free id), OPENING, OPEN, CLOSING, then CLOSED. It holds a
modem socket from OPENING until its close is done (or the modem says it closed it), so
an id is never given out twice. A flow maps to its live socket (WAITING, OPENING, OPEN);
a CLOSING socket no longer carries its flow, whose next datagram gets a new socket.

The table decides nothing about AT: ``netstack.atsocket`` asks it and sends the commands.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from .atsocket_events import Flow, SocketInfo


class SocketState(Enum):
    WAITING = "waiting"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(eq=False, slots=True)
class ModemSocket:
    """One modem socket and what waits for it."""

    flow: Flow
    last_used: float
    state: SocketState = SocketState.WAITING
    id: int | None = None
    backlog: deque[tuple[bytes, bytes]] = field(default_factory=deque)
    """(payload, the host's packet) of datagrams waiting for the socket to open."""
    result_deadline: float | None = None
    """Until when the open's result may come after OK (Quectel +QIOPEN)."""
    reading: bool = False
    """A read is queued or under way."""
    rings_waiting: int = 0
    """Rings that came while a read was queued or under way: each may announce one
    more datagram (u-blox +USORF and Telit #SRECV with UDP info read one a call)."""

    def info(self) -> SocketInfo:
        return SocketInfo(self.flow, self.id, self.state.value, self.last_used)


class SocketTable:
    """Flows, their sockets and the ids they hold."""

    def __init__(self, ids: range, modem_assigns_ids: bool) -> None:
        self._ids = ids
        self._modem_assigns = modem_assigns_ids
        self._flows: dict[Flow, ModemSocket] = {}
        self._held: dict[ModemSocket, None] = {}
        """In the order they were held (a dict as an ordered set: deterministic)."""
        self._by_id: dict[int, ModemSocket] = {}
        self._waiting: deque[ModemSocket] = deque()

    @property
    def limit(self) -> int:
        return len(self._ids)

    def get(self, flow: Flow) -> ModemSocket | None:
        return self._flows.get(flow)

    def by_id(self, socket_id: int) -> ModemSocket | None:
        return self._by_id.get(socket_id)

    def sockets(self) -> Iterator[ModemSocket]:
        """Every socket holding or waiting for an id."""
        yield from self._held
        yield from self._waiting

    def add(self, flow: Flow, now: float) -> ModemSocket:
        """A WAITING socket for ``flow``; ``hold`` or ``wait`` it next."""
        socket = ModemSocket(flow, now)
        self._flows[flow] = socket
        return socket

    def can_hold(self) -> bool:
        return len(self._held) < self.limit

    def hold(self, socket: ModemSocket) -> None:
        """OPENING, with the lowest free id unless the modem gives it (``can_hold`` first)."""
        self._held[socket] = None
        socket.state = SocketState.OPENING
        if not self._modem_assigns:
            socket.id = next(i for i in self._ids if i not in self._by_id)
            self._by_id[socket.id] = socket

    def assign(self, socket: ModemSocket, socket_id: int) -> ModemSocket | None:
        """The id the modem gave ``socket``; returns the socket that held it before, if
        any (the modem reused an id we thought busy: that one is gone)."""
        stale = self._by_id.get(socket_id)
        if stale is not None and stale is not socket:
            self._held.pop(stale, None)
            stale.state = SocketState.CLOSED
            self.detach(stale)
        socket.id = socket_id
        self._by_id[socket_id] = socket
        return stale if stale is not socket else None

    def wait(self, socket: ModemSocket) -> None:
        self._waiting.append(socket)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def closing(self) -> int:
        return sum(1 for s in self._held if s.state is SocketState.CLOSING)

    def least_recently_used(self) -> ModemSocket | None:
        """The OPEN socket used longest ago: the one to evict."""
        candidates = [s for s in self._held if s.state is SocketState.OPEN]
        return min(candidates, key=lambda s: s.last_used, default=None)

    def detach(self, socket: ModemSocket) -> None:
        """``socket`` carries its flow no more."""
        if self._flows.get(socket.flow) is socket:
            del self._flows[socket.flow]
        if socket in self._waiting:
            self._waiting.remove(socket)

    def release(self, socket: ModemSocket) -> list[ModemSocket]:
        """``socket`` is CLOSED and its id free; returns the waiting sockets that can be
        held now (the caller opens them, in order)."""
        self.detach(socket)
        socket.state = SocketState.CLOSED
        if socket in self._held:
            del self._held[socket]
            if socket.id is not None and self._by_id.get(socket.id) is socket:
                del self._by_id[socket.id]
        ready: list[ModemSocket] = []
        while self._waiting and self.can_hold():
            waiting = self._waiting.popleft()
            self.hold(waiting)
            ready.append(waiting)
        return ready

    def idle(self, now: float, timeout: float) -> list[ModemSocket]:
        """The OPEN sockets unused for ``timeout`` seconds (the sum ``next_deadline``
        gives: ``now - last_used`` may round below ``timeout`` at that very time)."""
        return [
            s for s in self._held if s.state is SocketState.OPEN and now >= s.last_used + timeout
        ]

    def next_deadline(self, timeout: float) -> float | None:
        """The earliest idle close or open-result deadline."""
        times = [s.last_used + timeout for s in self._held if s.state is SocketState.OPEN]
        times += [s.result_deadline for s in self._held if s.result_deadline is not None]
        return min(times, default=None)
