"""The modem's own IP stack: UDP sockets and ICMP echo driven by AT commands, pure.

Each vendor's socket commands (``at_socket_sequans.py``, ``_telit``, ``_quectel``,
``_ublox``; Sequans and Telit share ``at_socket_ipeasy.py``) parse their syntax and print
their replies; the sockets, their buffers, the inactivity timers and the ping runs live
here, vendor-neutral, with the helpers every vendor's commands use (addresses, hex
payloads, numeric arguments, the payload after a prompt, a ping's answer). The stack
speaks to the network only through the values of ``socket_events.py``: outputs through
``Modem.emit``, inputs through ``receive``.

Datagrams keep their boundaries: a read gives at most one datagram (the rest of a long
one stays for the next read). The stack's source addresses are ``plan.modem_ipv4`` and
``plan.modem_ipv6`` (see ``plan.py``); a socket's local port is chosen here, so every
reply can print it before the shell has bound anything.

"Reference N" is section N of shared/reference/at-commands.md (1 Sequans, 2 Telit,
3 Quectel, 4 u-blox, 8 limits); [U] and [P] mark what it could not verify.

Call order: the modem owns one ``SocketStack``; handlers call ``open``/``send``/``close``/
``ping``; ``receive`` takes the inputs; ``next_deadline``/``handle_timer`` run the
inactivity timers and the ping timeouts.
"""

from __future__ import annotations

import binascii
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING

from .at_commands import int_arg
from .at_parser import Command
from .at_pdp import context_families
from .at_results import OK, Final, Reply, cme
from .ipv6_notation import Notation, ipv6_text
from .socket_events import (
    CloseSocket,
    IpAddress,
    NetworkEvent,
    OpenSocket,
    PingReply,
    SendDatagram,
    SendPing,
)

if TYPE_CHECKING:
    from .at_modem import Modem
    from .profiles import SocketDialect

INCORRECT = cme(50)
"""+CME ERROR: 50, "incorrect parameters" (27.007 9.2)."""
EPHEMERAL = (49152, 65535)
"""Local ports the stack picks from when a command leaves the choice to the modem."""


@dataclass
class Datagram:
    data: bytes
    src: IpAddress
    sport: int


@dataclass
class ModemSocket:
    ident: int
    cid: int
    local_port: int
    remote: IpAddress | None = None
    """The dialled peer; None for a socket that names the peer at each send."""
    remote_port: int = 0
    any_remote: bool = False
    """Takes datagrams from any peer (Sequans acceptAnyRemote, Quectel UDP SERVICE,
    u-blox): otherwise only the dialled peer's are kept."""
    queue: deque[Datagram] = field(default_factory=deque)
    sent: int = 0
    received: int = 0
    last_activity: float = 0.0
    max_idle: float = 0.0
    """Seconds without traffic before the stack closes the socket (0: never)."""
    vendor: dict[str, int] = field(default_factory=dict)
    """The vendor's own per-socket state (Sequans acceptAnyRemote, Quectel's "recv"
    announced, Sequans' close announced inside the next read...)."""

    @property
    def unread(self) -> int:
        return sum(len(d.data) for d in self.queue)

    def take(self, limit: int) -> tuple[Datagram, int] | None:
        """At most ``limit`` bytes of the first datagram, and how many bytes of it are
        left (they stay first in line); None when nothing is waiting."""
        if not self.queue:
            return None
        first = self.queue[0]
        if len(first.data) <= limit:
            return self.queue.popleft(), 0
        self.queue[0] = Datagram(first.data[limit:], first.src, first.sport)
        return Datagram(first.data[:limit], first.src, first.sport), len(first.data) - limit


@dataclass(frozen=True)
class PingParams:
    count: int
    size: int
    """Octets of echo data."""
    ttl: int
    timeout: float
    """Seconds to wait for each reply."""
    interval: float = 1.0
    """Seconds from one request to the next."""


@dataclass
class PingRun:
    """A vendor's ping command in progress: ``count`` echo requests, one at a time."""

    token: int
    cid: int
    dst: IpAddress
    params: PingParams
    on_reply: Callable[[int, float, int], None]
    """(seq, round-trip seconds, reply TTL)."""
    on_lost: Callable[[int], None]
    on_done: Callable[[list[float]], None]
    """The round-trip times of the answered requests."""
    seq: int = 0
    sent_at: float = 0.0
    deadline: float | None = None
    next_at: float | None = None
    rtts: list[float] = field(default_factory=list)


class StackError(Exception):
    """A socket operation the vendor's command must refuse; ``reason`` says which kind:
    "id" (bad or unknown id), "busy" (id in use), "closed", "family" (the context has no
    address of that family), "port" (local port taken), "host" (cannot resolve)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


SETUPS: dict[str, Callable[[SocketStack], None]] = {}
"""Dialect name -> what its module installs on a new stack (its URC hooks)."""


class SocketStack:
    def __init__(self, modem: Modem, dialect: SocketDialect | None) -> None:
        self.modem = modem
        self.dialect = dialect
        self.sockets: dict[int, ModemSocket] = {}
        self.config: dict[int, dict[str, int]] = {}
        """Per-id vendor settings (srMode, data modes, timeouts...), kept across opens as
        a modem keeps them in NVM."""
        self.pings: dict[int, PingRun] = {}
        self.hex_send = False
        self.hex_read = False
        """Payloads in hex for the whole modem (u-blox +UDCONF=1, Quectel +QICFG
        "dataformat"); Sequans and Telit set it per socket (``config``)."""
        self.on_datagram: Callable[[ModemSocket], None] = lambda sock: None
        """The vendor's URC when data arrives (set by its module)."""
        self.on_closed: Callable[[ModemSocket], None] = lambda sock: None
        """The vendor's URC when the stack or the network closes a socket."""
        self.on_idle: Callable[[ModemSocket], bool] = lambda sock: False
        """The vendor's say when a socket's inactivity timer fires: True when it takes
        care of the close itself (Sequans GM02S in ``--messy`` mode)."""
        self._tokens = 0
        if dialect is not None and dialect.name in SETUPS:
            SETUPS[dialect.name](self)

    # ------------------------------------------------------------------ sockets
    @property
    def limits(self) -> SocketDialect:
        """The dialect (ids, sizes) of a modem that has socket commands."""
        assert self.dialect is not None, "only a vendor's socket commands use the stack"
        return self.dialect

    def ids(self) -> range:
        if self.dialect is None:
            return range(0)
        return range(self.dialect.first_id, self.dialect.first_id + self.dialect.count)

    def get(self, ident: int | None) -> ModemSocket:
        """The open socket ``ident``; StackError "id" for a bad id, "closed" for a free one."""
        if ident is None or ident not in self.ids():
            raise StackError("id")
        sock = self.sockets.get(ident)
        if sock is None:
            raise StackError("closed")
        return sock

    def open(
        self,
        ident: int,
        cid: int,
        now: float,
        *,
        local_port: int = 0,
        remote: IpAddress | None = None,
        remote_port: int = 0,
        any_remote: bool = False,
        max_idle: float = 0.0,
    ) -> ModemSocket:
        if ident not in self.ids():
            raise StackError("id")
        if ident in self.sockets:
            raise StackError("busy")
        if remote is not None:
            self.source(cid, remote)  # the context must have that family
        elif not context_families(self.modem, cid):
            raise StackError("family")
        port = self._port(local_port)
        sock = ModemSocket(ident, cid, port, remote, remote_port, any_remote)
        sock.last_activity, sock.max_idle = now, max_idle
        self.sockets[ident] = sock
        self.modem.emit(OpenSocket(ident, port))
        peer = f", peer {remote} port {remote_port}" if remote is not None else ""
        self.modem.note("net", f"socket {ident} open, local port {port}{peer}")
        return sock

    def _port(self, wanted: int) -> int:
        taken = {sock.local_port for sock in self.sockets.values()}
        if wanted:
            if wanted in taken or not 1 <= wanted <= 65535:
                raise StackError("port")
            return wanted
        while True:
            port = self.modem.rng.randint(*EPHEMERAL)
            if port not in taken:
                return port

    def source(self, cid: int, dst: IpAddress) -> IpAddress:
        """The modem's address towards ``dst``; StackError "family" when the context
        has no address of that family (an IPv6-only context and an IPv4 peer)."""
        if dst.version not in context_families(self.modem, cid):
            raise StackError("family")
        plan = self.modem.plan
        return plan.modem_ipv4 if dst.version == 4 else plan.modem_ipv6

    def send(
        self,
        sock: ModemSocket,
        data: bytes,
        now: float,
        dst: IpAddress | None = None,
        port: int = 0,
    ) -> None:
        target = dst if dst is not None else sock.remote
        if target is None:
            raise StackError("id")
        src = self.source(sock.cid, target)
        sock.sent += len(data)
        sock.last_activity = now
        self.modem.emit(
            SendDatagram(sock.ident, src, target, sock.local_port, port or sock.remote_port, data)
        )
        self.modem.note("net", f"socket {sock.ident} sends {len(data)} bytes to {target}")

    def close(self, ident: int, *, announce: bool, why: str = "closed by the DTE") -> None:
        sock = self.sockets.pop(ident, None)
        if sock is None:
            return
        self.modem.emit(CloseSocket(ident))
        self.modem.note("net", f"socket {ident} {why}")
        if announce:
            self.on_closed(sock)

    def close_context(self, cid: int) -> None:
        """The context went down: its sockets are gone, each with the vendor's URC."""
        for ident in [i for i, sock in self.sockets.items() if sock.cid == cid]:
            self.close(ident, announce=True, why="closed: its PDP context went down")

    # ------------------------------------------------------------------ inputs
    def receive(self, event: NetworkEvent, now: float) -> None:
        if isinstance(event, PingReply):
            self._ping_reply(event, now)
            return
        sock = self.sockets.get(event.ident)
        if sock is None:
            return  # closed meanwhile: the datagram is lost, as on a modem
        if not sock.any_remote and (event.src, event.sport) != (sock.remote, sock.remote_port):
            self.modem.note("net", f"socket {sock.ident}: datagram from {event.src} dropped")
            return
        sock.queue.append(Datagram(event.data, event.src, event.sport))
        sock.received += len(event.data)
        sock.last_activity = now
        self.modem.note("net", f"socket {sock.ident} received {len(event.data)} bytes")
        self.on_datagram(sock)

    # ------------------------------------------------------------------ pings
    def ping(
        self,
        dst: IpAddress,
        cid: int,
        now: float,
        params: PingParams,
        on_reply: Callable[[int, float, int], None],
        on_lost: Callable[[int], None],
        on_done: Callable[[list[float]], None],
    ) -> None:
        self.source(cid, dst)
        self._tokens += 1
        run = PingRun(self._tokens, cid, dst, params, on_reply, on_lost, on_done)
        self.pings[run.token] = run
        self._ping_next(run, now)

    def _ping_next(self, run: PingRun, now: float) -> None:
        run.next_at = None
        if run.seq >= run.params.count:
            del self.pings[run.token]
            run.on_done(run.rtts)
            return
        run.seq += 1
        run.sent_at, run.deadline = now, now + run.params.timeout
        try:
            src = self.source(run.cid, run.dst)
        except StackError:  # the context went down meanwhile: nothing leaves
            self.modem.note("net", f"modem ping {run.dst} seq={run.seq}: no address")
            return
        self.modem.emit(SendPing(run.token, src, run.dst, run.seq, run.params.size, run.params.ttl))
        self.modem.note("net", f"modem ping {run.dst} seq={run.seq}")

    def _ping_reply(self, reply: PingReply, now: float) -> None:
        run = self.pings.get(reply.token)
        if run is None or reply.seq != run.seq or run.deadline is None:
            return  # late or duplicate
        rtt = now - run.sent_at
        run.rtts.append(rtt)
        run.deadline = None
        run.on_reply(run.seq, rtt, reply.ttl)
        self._ping_after(run, now)

    def _ping_after(self, run: PingRun, now: float) -> None:
        """The next request one interval after the last one left; the end at once."""
        last = run.seq >= run.params.count
        run.next_at = now if last else max(now, run.sent_at + run.params.interval)
        if run.next_at <= now:
            self._ping_next(run, now)

    # ------------------------------------------------------------------ time
    def next_deadline(self) -> float | None:
        times = [s.last_activity + s.max_idle for s in self._idle_timers()]
        for run in self.pings.values():
            times += [t for t in (run.deadline, run.next_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for sock in self._idle_timers():
            if now >= sock.last_activity + sock.max_idle and not self.on_idle(sock):
                self.close(sock.ident, announce=True, why="closed by its inactivity timeout")
        for run in list(self.pings.values()):
            if run.deadline is not None and now >= run.deadline:
                run.deadline = None
                run.on_lost(run.seq)
                self._ping_after(run, now)
            elif run.next_at is not None and now >= run.next_at:
                self._ping_next(run, now)

    def _idle_timers(self) -> list[ModemSocket]:
        """The sockets whose inactivity timer runs (a vendor may have stopped it)."""
        return [s for s in self.sockets.values() if s.max_idle and not s.vendor.get("idle_done")]


# --- for the vendors' commands -----------------------------------------------------------


def socket_named(modem: Modem, command: Command) -> ModemSocket | None:
    """The open socket a command's first argument names; None for a bad id or a socket
    that is not open (the caller answers its vendor's refusal)."""
    try:
        return modem.stack.get(int_arg(command, 0))
    except StackError:
        return None


def resolve(modem: Modem, cid: int, text: str) -> IpAddress:
    """An address literal (colon-hex, dotted IPv4, or 16 dotted bytes as Telit takes) or a
    name the simulated DNS knows, in a family the context has (IPv6 first)."""
    text = text.strip()
    try:
        return ip_address(text)
    except ValueError:
        pass
    parts = text.split(".")
    if len(parts) == 16 and all(p.isdigit() and int(p) < 256 for p in parts):
        return IPv6Address(bytes(int(p) for p in parts))
    v4, v6 = modem.plan.names.get(text.lower().rstrip("."), ((), ()))
    families = context_families(modem, cid)
    for family, found in ((6, v6), (4, v4)):
        if family in families and found:
            return found[0]
    raise StackError("host")


def address_text(modem: Modem, address: IpAddress) -> str:
    """An address as this vendor's socket replies print it (tidy or ``--messy``)."""
    if isinstance(address, IPv4Address):
        return str(address)
    dialect = modem.profile.sockets
    notation = Notation.COMPRESSED if dialect is None else dialect.notation
    if modem.messy and dialect is not None:
        notation = dialect.messy_notation
    return ipv6_text(address, modem.piaf, notation)


def payload_text(data: bytes, hex_mode: bool) -> bytes:
    """Payload bytes as a read prints them: raw, or two upper-case hex digits a byte."""
    return binascii.hexlify(data).upper() if hex_mode else data


def numbers(command: Command, *spec: tuple[int, int, int, int]) -> list[int] | None:
    """The arguments ``(index, default, low, high)`` as ints; None when one is not a
    number or is out of its range (the vendor's "incorrect parameters")."""
    values = [int_arg(command, index, default) for index, default, _, _ in spec]
    for value, (_, _, low, high) in zip(values, spec, strict=True):
        if value is None or not low <= value <= high:
            return None
    return values  # type: ignore[return-value]


def take_payload(
    modem: Modem, size: int, hex_mode: bool, send: Callable[[bytes, float], Reply]
) -> Reply:
    """The prompt, then ``size`` bytes (``2 * size`` hex digits in hex mode) handed to
    ``send(data, now)`` for the final result; ERROR for hex that is not hex. The payload
    is no command line: ``--at-line-limit`` does not cut it (a Pycom host writes it in
    pieces, reference 1.8), however the DTE's writes split it."""

    def finish(payload: bytes, now: float) -> Reply:
        if not hex_mode:
            return send(payload, now)
        try:
            return send(binascii.unhexlify(payload), now)
        except (binascii.Error, ValueError):
            return Reply(final=Final.ERROR)

    return modem.expect_payload(size * 2 if hex_mode else size, finish)


@dataclass(frozen=True)
class PingLines:
    """How a vendor prints one ping's progress."""

    reply: Callable[[int, float, int], str]
    """(seq, round-trip seconds, TTL) -> the line of an answered request."""
    lost: Callable[[int], str]
    """seq -> the line of a request left unanswered."""
    done: Callable[[list[float]], str | None] = lambda rtts: None
    """The round-trip times -> a closing line (Quectel's statistics), or None."""


def start_ping(
    modem: Modem, dst: IpAddress, cid: int, params: PingParams, lines: PingLines, after_ok: bool
) -> Reply:
    """Run a ping and say how the command answers. ``after_ok`` (Quectel, u-blox): OK at
    once and every line as a URC; otherwise (Sequans, Telit) the lines are the command's
    response and OK comes after the last (``Final.PENDING``). StackError "family" when
    the context has no address of ``dst``'s family."""
    line: Callable[[str], None] = modem.urc
    finish: Callable[[Reply], None] | None = None
    if not after_ok:
        answer = modem.answer_later()
        line, finish = answer.line, answer.finish

    def done(rtts: list[float]) -> None:
        closing = lines.done(rtts)
        if closing is not None:
            line(closing)
        if finish is not None:
            finish(OK)

    modem.stack.ping(
        dst,
        cid,
        modem.now,
        params,
        on_reply=lambda seq, rtt, ttl: line(lines.reply(seq, rtt, ttl)),
        on_lost=lambda seq: line(lines.lost(seq)),
        on_done=done,
    )
    return OK if after_ok else Reply(final=Final.PENDING)
