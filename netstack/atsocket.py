"""IPv6 UDP through the modem's own AT sockets (issue 10), without I/O.

Where a network gives IPv6 only to the modem's internal stack, or PPP cannot carry it
(microATsocket's case: Pycom GPy/FiPy), the host's UDP datagrams travel as the modem's
socket commands: each TUN datagram is checked and mapped to a flow (local port, remote
address, remote port), each flow gets one modem socket, the payload goes in the vendor's
send command, and what the modem receives comes back as an IPv6 UDP datagram with a
correct checksum. What cannot travel this way is answered at once, as RFC 4443 says:
TCP and other protocols get Destination Unreachable (administratively prohibited), an
oversize datagram gets Packet Too Big, and the kernel's own ICMPv6 (router
solicitations, MLD reports, neighbour discovery) is absorbed and counted. Echo requests
go through the modem's ping command and come back as echo replies, so ``ping -6`` works.

Modules: ``atsocket_vendors`` (each vendor's commands as data), ``atsocket_table`` (flows,
ids, least recently used), ``atsocket_packets`` (the TUN side), ``atsocket_text`` (the
modem's notation), ``atsocket_events`` (outputs and counters). This one owns the queue of
AT work and the state machine of open, send, receive, close and ping.

Call-order contract:

* The shell makes an ``AtChannel(urcs=STANDARD_URCS + vendor.urc_prefixes)`` for the AT
  port and an ``AtSocketBridge``; it passes ``from_tun(packet, now)`` every packet read
  from the TUN and ``at_event(event, now)`` every event of that channel (``Urc``,
  ``Prompt``, ``CommandDone``, ``Connected``); each returns outputs in order.
* ``SendAt``: the bridge sends one command at a time and only after the previous one's
  ``CommandDone``, so the channel is idle: call ``AtChannel.send`` with its fields and
  write the bytes. ``SendPayload`` comes after our command's ``Prompt``: while
  ``AtChannel.pending`` is still its ``command``, call ``AtChannel.send_payload(data,
  now, timeout)`` and write ``pieces()`` one by one; otherwise skip it (the modem ended
  the command in the same read as its prompt). ``ToTun``: write the packet to the TUN.
* ``Connected`` (a ``CONNECT`` nobody asked for) ends our command as a failure; the
  channel is then in data mode and the shell decides: ``resume_command_mode`` (the
  modem may print it by mistake) or treat the line as lost.
* ``next_deadline()`` and ``handle_timer(now)``: idle closes, results that come after OK
  (Quectel ``+QIOPEN``, ping URCs), the 50 ms u-blox wants after its ``@``. Early calls
  are harmless. ``close_all(now)`` at the end closes every socket.
* Events for commands that are not ours (another user of the channel, a late result) are
  counted and ignored; the channel's own TIMEOUT ends our commands.

Decisions:

* One socket per flow. Sequans, Telit and Quectel dial the remote in the open (a
  connected UDP socket, the local port bound to the host's); u-blox creates an
  unconnected socket on the local port and names the remote in each ``+USOST``.
  Sockets open on first use, close after ``idle_timeout`` unused, and when every id is
  taken the least recently used open socket is closed for the new flow, whose datagrams
  wait meanwhile (``backlog`` per flow).
* The maximum AT line length (Pycom firmware cuts lines at 124 characters, at-commands.md
  1.8): a payload after a prompt is written in pieces of at most ``max_line`` characters
  (the modem counts octets; no terminator); a payload inside the command line cannot be
  cut, so a datagram that does not fit is refused: Packet Too Big when the MTU it leaves
  is at least 1280 (RFC 8200 5), else Destination Unreachable, administratively
  prohibited (a smaller MTU would be ignored by the host, RFC 8201 4). Every command
  line itself is checked against ``max_line`` at its longest when the bridge is made
  (``UsageError`` naming the command), so none is cut at run time.
* Datagrams without payload are refused (administratively prohibited): no send command
  takes zero octets (Quectel ``AT+QISEND=<id>,0`` is a query). A zero-length datagram
  from the network cannot be told from an empty read and is not delivered.
* Rings are counted while a read is under way: u-blox ``+USORF`` and Telit ``#SRECV``
  with UDP info read one datagram a call, so each ring gets its read; Quectel reads
  until empty (no new ring until then).
* ICMPv6 errors come from ``router_address`` (the far end of the TUN link), hold as much
  of the invoking packet as fits in 1280 octets and are rate limited (RFC 4443 2.4 (c),
  (f)); none answers an error, a multicast or a packet from no single node (2.4 (e)).
* Received datagrams come from the sender the modem names (Telit ``#SRECV`` UDP info,
  u-blox ``+USORF``) or else from the flow's remote.
* Echo requests: one ping at a time; the reply carries the request's identifier,
  sequence number and data (the modem pings with its own), and the hop limit the modem
  reports. Requests to ``router_address`` are answered here. Beyond ``ping_queue``
  waiting requests, they are dropped and counted.

Peer garbage never raises: it is dropped and counted in ``statistics()``. ``UsageError``
is for the caller's misuse.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import Enum
from ipaddress import IPv6Address

from .at import AtEvent, CommandDone, Outcome, Prompt, Urc
from .atsocket_events import (
    AtSocketOutput,
    AtSocketStatistics,
    Flow,
    SendAt,
    SendPayload,
    SocketInfo,
    ToTun,
)
from .atsocket_packets import (
    IPV6_MIN_MTU,
    UDP_OVERHEAD,
    Datagram,
    Dropped,
    EchoRequest,
    Refused,
    Unreachable,
    destination_unreachable,
    echo_reply,
    packet_too_big,
    sort_packet,
)
from .atsocket_table import ModemSocket, SocketState, SocketTable
from .atsocket_text import format_address, number, split_fields, value_after
from .atsocket_vendors import PingLine, PingResult, Received, VendorSockets, parse_read
from .errors import UsageError
from .ipwire import build_udp

DEFAULT_ROUTER = IPv6Address("fe80::1")
"""The far end of the TUN link, where ICMPv6 errors come from."""
_SUMMARY_GRACE = 1.0
"""How long a ping's statistics line may lag its result line (same burst)."""
_LONGEST_ADDRESS = IPv6Address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")


class _Kind(Enum):
    SETUP = "setup"
    CONFIGURE = "configure"
    OPEN = "open"
    SEND = "send"
    READ = "read"
    CLOSE = "close"
    PING = "ping"


@dataclass(eq=False, slots=True)
class _Work:
    """One AT command to send, and what it is for."""

    kind: _Kind
    command: str
    timeout: float
    socket: ModemSocket | None = None
    payload: bytes = b""
    packet: bytes = b""
    """SEND: the host's packet, for an ICMPv6 error if it cannot go."""
    echo: EchoRequest | None = None


@dataclass(eq=False, slots=True)
class _PingWait:
    """A ping whose results come as URCs after OK."""

    echo: EchoRequest
    deadline: float
    answered: bool = False


class AtSocketBridge:
    """TUN IPv6 UDP <-> the modem's AT sockets: packets and AT events in, outputs out."""

    def __init__(
        self,
        vendor: VendorSockets,
        *,
        local_address: IPv6Address,
        cid: int = 1,
        max_line: int | None = None,
        idle_timeout: float = 60.0,
        router_address: IPv6Address = DEFAULT_ROUTER,
        ping_timeout: float = 4.0,
        ping_queue: int = 4,
        backlog: int = 8,
        icmp_errors_per_second: float = 10.0,
    ) -> None:
        _check_settings(local_address, cid, max_line, (idle_timeout, ping_timeout))
        _check_counts(ping_queue, backlog, icmp_errors_per_second)
        self._vendor = vendor
        self._local = local_address
        self._cid = cid
        self._max_line = max_line
        self._idle = idle_timeout
        self._router = router_address
        self._ping_timeout = ping_timeout
        self._ping_queue = ping_queue
        self._backlog = backlog
        self._icmp_rate = icmp_errors_per_second
        self._tokens = max(1.0, icmp_errors_per_second)
        self._token_time: float | None = None
        self._table = SocketTable(vendor.socket_ids, vendor.modem_assigns_ids)
        self._queue: deque[_Work] = deque()
        self._in_flight: _Work | None = None
        self._payload_due: float | None = None
        """When the in-flight send's payload is due (u-blox: 50 ms after its prompt)."""
        self._ping_wait: _PingWait | None = None
        self._pings = 0
        self._setup_queued = False
        self._configured: set[int] = set()
        self._counts = {f.name: 0 for f in fields(AtSocketStatistics)}
        self._check_templates()

    # ------------------------------------------------------------------ state
    @property
    def vendor(self) -> VendorSockets:
        return self._vendor

    @property
    def mtu(self) -> int:
        """The largest IPv6 packet that can go through (for the TUN's MTU; at least 1280
        there, and refusals above what fits)."""
        return self._room(_LONGEST_ADDRESS, 65535)[0] + UDP_OVERHEAD

    @property
    def busy(self) -> bool:
        """Whether the modem has work of ours in hand or to come: a command pending, work
        queued, a payload due, or a result that comes after OK (Quectel's +QIOPEN, the
        ping URCs). A shell that shares the line with PPP (``+++``/``ATO``) goes back
        online only when this is False."""
        if self._in_flight is not None or self._queue or self._payload_due is not None:
            return True
        if self._ping_wait is not None:
            return True
        return any(socket.result_deadline is not None for socket in self._table.sockets())

    def statistics(self) -> AtSocketStatistics:
        return AtSocketStatistics(**self._counts)

    def sockets(self) -> tuple[SocketInfo, ...]:
        return tuple(socket.info() for socket in self._table.sockets())

    def next_deadline(self) -> float | None:
        times = [self._table.next_deadline(self._idle)]
        if self._payload_due is not None:
            times.append(self._payload_due)
        if self._ping_wait is not None:
            times.append(self._ping_wait.deadline)
        return min((t for t in times if t is not None), default=None)

    # ----------------------------------------------------------------- inputs
    def from_tun(self, packet: bytes, now: float) -> list[AtSocketOutput]:
        """One packet the host wrote to the TUN."""
        out: list[AtSocketOutput] = []
        packet = bytes(packet)
        self._counts["packets_from_tun"] += 1
        sorted_ = sort_packet(packet)
        if isinstance(sorted_, Dropped):
            self._counts[sorted_.reason] += 1
        elif isinstance(sorted_, Refused):
            self._refuse(sorted_.reason, sorted_.code, packet, now, out)
        elif isinstance(sorted_, EchoRequest):
            self._echo(sorted_, packet, now, out)
        else:
            self._datagram(sorted_, packet, now, out)
        self._pump(now, out)
        return out

    def at_event(self, event: AtEvent, now: float) -> list[AtSocketOutput]:
        """One event of the AT channel."""
        out: list[AtSocketOutput] = []
        work = self._in_flight
        if isinstance(event, Urc):
            self._urc(event.line, now, out)
        elif isinstance(event, Prompt):
            self._prompt(event, now, out)
        elif work is not None and event.command == work.command:
            self._in_flight = None
            self._payload_due = None
            if not isinstance(event, CommandDone):  # CONNECT: not an answer we asked for
                self._counts["unexpected_events"] += 1
                event = CommandDone(work.command, Outcome.FAIL, event.lines)
            self._complete(work, event, now, out)
        else:
            self._counts["unexpected_events"] += 1
        self._pump(now, out)
        return out

    def handle_timer(self, now: float) -> list[AtSocketOutput]:
        out: list[AtSocketOutput] = []
        work = self._in_flight
        if self._payload_due is not None and now >= self._payload_due and work is not None:
            out.append(self._payload(work))
            self._payload_due = None
        wait = self._ping_wait
        if wait is not None and now >= wait.deadline:
            if not wait.answered:
                self._ping_answer(wait.echo, None, out)
            self._ping_over()
        for socket in list(self._table.sockets()):
            if socket.result_deadline is not None and now >= socket.result_deadline:
                self._open_failed(socket, now, out, clear=True)
        for socket in self._table.idle(now, self._idle):
            self._counts["sockets_closed_idle"] += 1
            self._close(socket)
        self._pump(now, out)
        return out

    def close_all(self, now: float) -> list[AtSocketOutput]:
        """Close every socket (the bridge is stopping); datagrams waiting are dropped."""
        out: list[AtSocketOutput] = []
        for socket in list(self._table.sockets()):
            self._counts["backlog_dropped"] += len(socket.backlog)
            socket.backlog.clear()
            if socket.state is SocketState.OPEN:
                self._close(socket)
            elif socket.state is SocketState.WAITING:
                self._table.release(socket)
            else:  # OPENING: closed once its open is done
                self._table.detach(socket)
        self._pump(now, out)
        return out

    # --------------------------------------------------------------- the TUN
    def _datagram(
        self, datagram: Datagram, packet: bytes, now: float, out: list[AtSocketOutput]
    ) -> None:
        problem = self._check_ends(datagram.src, datagram.dst)
        if problem is not None:
            self._refuse(*problem, packet, now, out)
            return
        if datagram.sport == 0 or datagram.dport == 0:
            self._refuse("refused_ports", Unreachable.ADMINISTRATIVELY_PROHIBITED, packet, now, out)
            return
        if not datagram.payload:  # no send command takes 0 octets (QISEND=<id>,0 queries)
            self._refuse("refused_empty", Unreachable.ADMINISTRATIVELY_PROHIBITED, packet, now, out)
            return
        limit, reason = self._room(datagram.dst, datagram.dport)
        if len(datagram.payload) > limit:
            self._too_big(reason, limit, packet, now, out)
            return
        flow = Flow(datagram.sport, datagram.dst, datagram.dport)
        self._send(flow, datagram.payload, packet, now)

    def _check_ends(self, src: IPv6Address, dst: IPv6Address) -> tuple[str, Unreachable] | None:
        """RFC 4443 3.1 codes for a source the modem does not have or a destination it
        cannot reach."""
        if src != self._local:
            code = Unreachable.BEYOND_SCOPE if src.is_link_local else Unreachable.SOURCE_POLICY
            return "refused_source", code
        if dst.is_link_local:
            return "refused_destination", Unreachable.ADDRESS_UNREACHABLE
        if dst.is_loopback or dst.is_unspecified or dst.is_site_local or dst.ipv4_mapped:
            return "refused_destination", Unreachable.NO_ROUTE
        return None

    def _room(self, dst: IPv6Address, dport: int) -> tuple[int, str]:
        """(largest payload to ``dst``, the counter of a refusal above it)."""
        vendor = self._vendor
        if vendor.prompt is not None or self._max_line is None:
            return vendor.payload_limit, "refused_oversize"
        widest = max(vendor.socket_ids)
        fields_ = {"id": widest, "addr": format_address(dst), "port": dport, "hex": ""}
        line = self._render(vendor.send, None, len=vendor.payload_limit, **fields_)
        room = (self._max_line - len(line)) // 2  # >= 0: checked with the longest address
        if room < vendor.payload_limit:
            return room, "refused_line_limit"
        return vendor.payload_limit, "refused_oversize"

    def _too_big(
        self, reason: str, limit: int, packet: bytes, now: float, out: list[AtSocketOutput]
    ) -> None:
        mtu = limit + UDP_OVERHEAD
        if mtu < IPV6_MIN_MTU:
            self._refuse(reason, Unreachable.ADMINISTRATIVELY_PROHIBITED, packet, now, out)
            return
        self._counts[reason] += 1
        self._icmp_error(lambda: packet_too_big(self._router, packet, mtu), now, out)

    def _refuse(
        self,
        reason: str | None,
        code: Unreachable,
        packet: bytes,
        now: float,
        out: list[AtSocketOutput],
    ) -> None:
        if reason is not None:
            self._counts[reason] += 1
        self._icmp_error(lambda: destination_unreachable(self._router, packet, code), now, out)

    def _icmp_error(
        self, build: Callable[[], bytes], now: float, out: list[AtSocketOutput]
    ) -> None:
        """RFC 4443 2.4 (f): a token bucket of ``icmp_errors_per_second``."""
        if self._token_time is not None:
            refill = max(0.0, now - self._token_time) * self._icmp_rate
            self._tokens = min(max(1.0, self._icmp_rate), self._tokens + refill)
        self._token_time = now
        if self._tokens < 1.0:
            self._counts["icmp_rate_limited"] += 1
            return
        self._tokens -= 1.0
        self._counts["icmp_errors_sent"] += 1
        self._to_tun(build(), out)

    def _to_tun(self, packet: bytes, out: list[AtSocketOutput]) -> None:
        self._counts["packets_to_tun"] += 1
        out.append(ToTun(packet))

    # ------------------------------------------------------------------ flows
    def _send(self, flow: Flow, payload: bytes, packet: bytes, now: float) -> None:
        socket = self._table.get(flow)
        if socket is None:
            if self._table.waiting >= self._table.limit:
                self._counts["backlog_dropped"] += 1
                return
            socket = self._table.add(flow, now)
            self._acquire(socket)
        socket.last_used = now
        if socket.state is SocketState.OPEN:
            self._queue_send(socket, payload, packet)
        elif len(socket.backlog) < self._backlog:
            socket.backlog.append((payload, packet))
        else:
            self._counts["backlog_dropped"] += 1

    def _acquire(self, socket: ModemSocket) -> None:
        """Open ``socket``, or make it wait for the least recently used one to close."""
        if self._table.can_hold():
            self._table.hold(socket)
            self._queue_open(socket)
            return
        self._table.wait(socket)
        self._make_room()

    def _make_room(self) -> None:
        """Close the least recently used open sockets while more flows wait for an id
        than closes are under way (when every id is still opening, at the next open)."""
        while self._table.waiting > self._table.closing:
            victim = self._table.least_recently_used()
            if victim is None:
                return
            self._counts["sockets_evicted"] += 1
            self._close(victim)

    def _close(self, socket: ModemSocket) -> None:
        self._table.detach(socket)
        socket.state = SocketState.CLOSING
        command = self._render(self._vendor.close, socket)
        self._queue.append(_Work(_Kind.CLOSE, command, self._vendor.close_timeout, socket))

    def _released(self, socket: ModemSocket) -> None:
        for ready in self._table.release(socket):
            self._queue_open(ready)

    # ----------------------------------------------------------------- queue
    def _queue_open(self, socket: ModemSocket) -> None:
        vendor, timeout = self._vendor, self._vendor.command_timeout
        if not self._setup_queued:
            self._setup_queued = True
            self._queue.extend(_Work(_Kind.SETUP, command, timeout) for command in vendor.setup)
        if socket.id is not None and socket.id not in self._configured and vendor.configure:
            self._configured.add(socket.id)
            for template in vendor.configure:
                command = self._render(template, socket)
                self._queue.append(_Work(_Kind.CONFIGURE, command, timeout, socket))
        command = self._render(vendor.open, socket)
        self._queue.append(_Work(_Kind.OPEN, command, timeout, socket))

    def _queue_send(self, socket: ModemSocket, payload: bytes, packet: bytes) -> None:
        hex_text = payload.hex().upper() if self._vendor.prompt is None else ""
        command = self._render(self._vendor.send, socket, len=len(payload), hex=hex_text)
        work = _Work(_Kind.SEND, command, self._vendor.command_timeout, socket, payload, packet)
        self._queue.append(work)

    def _queue_read(self, socket: ModemSocket) -> None:
        socket.reading = True
        command = self._render(self._vendor.read, socket)
        self._queue.append(_Work(_Kind.READ, command, self._vendor.command_timeout, socket))

    def _render(self, template: str, socket: ModemSocket | None, **extra: object) -> str:
        values: dict[str, object] = {"cid": self._cid, "max": self._vendor.read_limit}
        if socket is not None:
            flow = socket.flow
            values.update(
                id=socket.id,
                addr=format_address(flow.remote),
                port=flow.remote_port,
                lport=flow.local_port,
            )
        values.update(extra)
        return template.format(**values)

    def _pump(self, now: float, out: list[AtSocketOutput]) -> None:
        """Send the next command when none is pending."""
        while self._in_flight is None:
            work = self._next_work()
            if work is None:
                return
            self._dispatch(work, now, out)

    def _next_work(self) -> _Work | None:
        """The first command that may go now: a ping waits while another one's results
        are still to come."""
        for index, work in enumerate(self._queue):
            if work.kind is _Kind.PING and self._ping_wait is not None:
                continue
            del self._queue[index]
            return work
        return None

    def _dispatch(self, work: _Work, now: float, out: list[AtSocketOutput]) -> None:
        socket = work.socket
        if socket is not None and work.kind in (_Kind.SEND, _Kind.READ):
            # Our close is queued after this work (FIFO): the modem's socket is still open.
            if socket.state not in (SocketState.OPEN, SocketState.CLOSING):
                socket.reading = False
                if work.kind is _Kind.SEND:
                    self._send(socket.flow, work.payload, work.packet, now)
                return
        self._in_flight = work
        out.append(self._send_at(work))

    def _send_at(self, work: _Work) -> SendAt:
        vendor = self._vendor
        prefix: str | None = None
        if work.kind is _Kind.OPEN:
            prefix = vendor.open_prefix
        elif work.kind is _Kind.SEND:
            prefix = vendor.send_prefix
            prompt = vendor.prompt is not None
            return SendAt(work.command, work.timeout, _bare(prefix), prompt, vendor.send_finals)
        elif work.kind is _Kind.READ:
            prefix = vendor.read_format.prefix
        elif work.kind is _Kind.PING and vendor.ping is not None and not vendor.ping.after_ok:
            prefix = vendor.ping.prefixes[0]
        return SendAt(work.command, work.timeout, _bare(prefix))

    def _prompt(self, event: Prompt, now: float, out: list[AtSocketOutput]) -> None:
        work, vendor = self._in_flight, self._vendor
        if work is None or work.kind is not _Kind.SEND or event.command != work.command:
            self._counts["unexpected_events"] += 1
            return
        if vendor.prompt_delay > 0:
            self._payload_due = now + vendor.prompt_delay  # u-blox: >= 50 ms of quiet
        else:
            out.append(self._payload(work))

    def _payload(self, work: _Work) -> SendPayload:
        vendor, payload = self._vendor, work.payload
        data = payload.hex().upper().encode("ascii") if vendor.payload_hex else payload
        return SendPayload(data, vendor.command_timeout, self._max_line, work.command)

    # ----------------------------------------------------------------- results
    def _complete(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        handler = self._handlers()[work.kind]
        handler(work, done, now, out)
        if work.kind is not _Kind.READ:
            for line in done.lines:  # our URCs read as its lines (the shell did not list them)
                self._urc(line, now, out)

    def _handlers(
        self,
    ) -> dict[_Kind, Callable[[_Work, CommandDone, float, list[AtSocketOutput]], None]]:
        return {
            _Kind.SETUP: self._setup_done,
            _Kind.CONFIGURE: self._configure_done,
            _Kind.OPEN: self._open_done,
            _Kind.SEND: self._send_done,
            _Kind.READ: self._read_done,
            _Kind.CLOSE: self._close_done,
            _Kind.PING: self._ping_done,
        }

    def _setup_done(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        if done.outcome is not Outcome.OK:
            self._counts["setup_errors"] += 1

    def _configure_done(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        if done.outcome is not Outcome.OK and work.socket is not None:
            self._counts["setup_errors"] += 1
            self._configured.discard(work.socket.id or 0)

    def _open_done(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        socket, vendor = work.socket, self._vendor
        assert socket is not None
        if socket.state is not SocketState.OPENING:  # the modem closed it meanwhile
            return
        if done.outcome is not Outcome.OK:
            self._open_failed(socket, now, out, clear=not vendor.modem_assigns_ids)
            return
        if vendor.modem_assigns_ids:
            socket_id = self._assigned_id(done.lines)
            if socket_id is None:
                self._open_failed(socket, now, out, clear=False)
                return
            if self._table.assign(socket, socket_id) is not None:
                self._counts["sockets_closed_by_modem"] += 1
        if vendor.open_result is not None:
            socket.result_deadline = now + vendor.open_timeout  # Quectel: +QIOPEN after OK
            return
        self._opened(socket, now)

    def _assigned_id(self, lines: tuple[str, ...]) -> int | None:
        prefix = self._vendor.open_prefix or ""
        for line in lines:
            rest = value_after(line, prefix)
            socket_id = None if rest is None else number(split_fields(rest)[0])
            if socket_id is not None and socket_id in self._vendor.socket_ids:
                return socket_id
        return None

    def _opened(self, socket: ModemSocket, now: float) -> None:
        socket.result_deadline = None
        socket.state = SocketState.OPEN
        self._counts["sockets_opened"] += 1
        if self._table.get(socket.flow) is not socket:  # close_all() while it opened
            self._close(socket)
            return
        socket.last_used = now
        while socket.backlog:
            self._queue_send(socket, *socket.backlog.popleft())
        self._make_room()

    def _open_failed(
        self, socket: ModemSocket, now: float, out: list[AtSocketOutput], *, clear: bool
    ) -> None:
        """The open failed: the waiting datagrams are answered, and the id is closed
        first when the modem may still hold it (Quectel: "else AT+QICLOSE", 3.2)."""
        self._counts["open_errors"] += 1
        socket.result_deadline = None
        for _, packet in socket.backlog:
            self._refuse(None, Unreachable.ADDRESS_UNREACHABLE, packet, now, out)
        socket.backlog.clear()
        if clear and socket.id is not None:
            self._close(socket)
        else:
            self._released(socket)

    def _send_done(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        socket = work.socket
        assert socket is not None
        if done.outcome is Outcome.OK:
            self._counts["datagrams_sent"] += 1
            self._counts["bytes_sent"] += len(work.payload)
            return
        self._counts["send_errors"] += 1
        refusals = {line.upper() for line, ok in self._vendor.send_finals if not ok}
        if done.error is not None and done.error.text.upper() in refusals:
            return  # Quectel SEND FAIL: its buffer is full, the socket is fine; UDP may drop
        self._refuse(None, Unreachable.ADDRESS_UNREACHABLE, work.packet, now, out)
        if socket.state is SocketState.OPEN:
            self._close(socket)

    def _read_done(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        socket = work.socket
        assert socket is not None
        socket.reading = False
        again = socket.rings_waiting > 0
        parsed = parse_read(self._vendor, done.lines) if done.outcome is Outcome.OK else None
        if done.outcome is not Outcome.OK:
            self._counts["read_errors"] += 1
        elif parsed is None:
            self._counts["bad_reads"] += 1
        else:
            received, strays = parsed
            if received is None:
                self._counts["empty_reads"] += 1
                socket.rings_waiting, again = 0, False  # nothing left to read
            else:
                self._deliver(socket, received, now, out)
                again = again or self._vendor.drain
            for line in strays:  # Sequans GM02S: +SQNSH inside the +SQNSRECV response
                self._urc(line, now, out)
        if again and socket.state is SocketState.OPEN and not socket.reading:
            socket.rings_waiting = max(0, socket.rings_waiting - 1)
            self._queue_read(socket)

    def _deliver(
        self, socket: ModemSocket, received: Received, now: float, out: list[AtSocketOutput]
    ) -> None:
        flow = socket.flow
        sender = received.sender or flow.remote
        port = received.port or flow.remote_port
        packet = build_udp(sender, self._local, port, flow.local_port, received.data)
        self._counts["datagrams_received"] += 1
        self._counts["bytes_received"] += len(received.data)
        socket.last_used = now
        self._to_tun(packet, out)

    def _close_done(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        assert work.socket is not None
        if done.outcome is not Outcome.OK:
            self._counts["close_errors"] += 1
        self._released(work.socket)

    # ------------------------------------------------------------------ URCs
    def _urc(self, line: str, now: float, out: list[AtSocketOutput]) -> None:
        """A line that may be one of the vendor's socket URCs; any other is ignored."""
        vendor = self._vendor
        for ring in vendor.rings:
            parsed = ring.parse(line)
            if parsed is not None:
                self._ring(parsed[0])
                return
        closed = None if vendor.closed is None else vendor.closed.parse(line)
        if closed is not None:
            self._closed(closed[0], now, out)
            return
        opened = None if vendor.open_result is None else vendor.open_result.parse(line)
        if opened is not None:
            self._open_result(opened[0], opened[1], now, out)
            return
        ping = vendor.ping
        result = ping.parse(line) if ping is not None and ping.after_ok else None
        if result is not None:
            self._ping_urc(result, now, out)

    def _ring(self, socket_id: int) -> None:
        self._counts["rings"] += 1
        socket = self._table.by_id(socket_id)
        if socket is None or socket.state is not SocketState.OPEN:
            self._counts["rings_unknown_socket"] += 1
        elif socket.reading:
            socket.rings_waiting += 1  # u-blox: one ring, and one read, per datagram
        else:
            self._queue_read(socket)

    def _closed(self, socket_id: int, now: float, out: list[AtSocketOutput]) -> None:
        socket = self._table.by_id(socket_id)
        if socket is None or socket.state is SocketState.CLOSING:
            return  # not ours, or our own close is under way
        if socket.state is SocketState.OPENING:
            self._open_failed(socket, now, out, clear=False)
            return
        self._counts["sockets_closed_by_modem"] += 1
        self._released(socket)

    def _open_result(
        self, socket_id: int, error: int | None, now: float, out: list[AtSocketOutput]
    ) -> None:
        socket = self._table.by_id(socket_id)
        if socket is None or socket.result_deadline is None:
            self._counts["unexpected_events"] += 1
        elif error == 0:
            self._opened(socket, now)
        else:
            self._open_failed(socket, now, out, clear=True)

    # ------------------------------------------------------------------ ping
    def _echo(
        self, echo: EchoRequest, packet: bytes, now: float, out: list[AtSocketOutput]
    ) -> None:
        self._counts["echo_requests"] += 1
        if echo.dst == self._router:
            self._ping_answer(echo, PingResult(PingLine.REPLY, 64), out)
            return
        problem = self._check_ends(echo.src, echo.dst)
        ping = self._vendor.ping
        if problem is not None:
            self._refuse(*problem, packet, now, out)
        elif ping is None:
            self._refuse(
                "echo_unsupported", Unreachable.ADMINISTRATIVELY_PROHIBITED, packet, now, out
            )
        elif self._pings >= self._ping_queue:
            self._counts["echo_dropped"] += 1
        else:
            self._pings += 1
            size = min(max(len(echo.data), ping.size_range[0]), ping.size_range[1])
            command = self._render(ping.command, None, **self._ping_fields(echo.dst, size))
            timeout = self._vendor.command_timeout + (0 if ping.after_ok else self._ping_timeout)
            self._queue.append(_Work(_Kind.PING, command, timeout, echo=echo))

    def _ping_fields(self, dst: IPv6Address, size: int) -> dict[str, object]:
        timeout = self._ping_timeout
        return {
            "addr": format_address(dst),
            "size": size,
            "timeout_s": math.ceil(timeout),
            "timeout_ds": math.ceil(timeout * 10),
            "timeout_ms": math.ceil(timeout * 1000),
        }

    def _ping_done(
        self, work: _Work, done: CommandDone, now: float, out: list[AtSocketOutput]
    ) -> None:
        ping, echo = self._vendor.ping, work.echo
        assert ping is not None and echo is not None
        if done.outcome is Outcome.OK and ping.after_ok:
            deadline = now + self._ping_timeout + self._vendor.command_timeout
            self._ping_wait = _PingWait(echo, deadline)
            return
        results = [ping.parse(line) for line in done.lines] if done.outcome is Outcome.OK else []
        reply = next((r for r in results if r is not None and r.line is PingLine.REPLY), None)
        self._ping_answer(echo, reply, out)
        self._pings -= 1

    def _ping_urc(self, result: PingResult, now: float, out: list[AtSocketOutput]) -> None:
        wait, ping = self._ping_wait, self._vendor.ping
        assert ping is not None
        if wait is None:
            self._counts["unexpected_events"] += 1
            return
        if result.line is not PingLine.SUMMARY and not wait.answered:
            wait.answered = True
            self._ping_answer(wait.echo, result, out)
            if ping.summary:
                # Quectel: the statistics line closes the exchange at once; a lone
                # "+QPING: <err>" (a final error) has none.
                wait.deadline = min(wait.deadline, now + _SUMMARY_GRACE)
                return
        elif not wait.answered:
            self._ping_answer(wait.echo, None, out)
        self._ping_over()

    def _ping_answer(
        self, echo: EchoRequest, result: PingResult | None, out: list[AtSocketOutput]
    ) -> None:
        if result is None or result.line is not PingLine.REPLY:
            self._counts["echo_lost"] += 1
            return
        self._counts["echo_replies"] += 1
        self._to_tun(echo_reply(echo, result.ttl or 64), out)

    def _ping_over(self) -> None:
        self._ping_wait = None
        self._pings -= 1

    # ---------------------------------------------------------------- checks
    def _check_templates(self) -> None:
        """Every template renders with the fields it may use (a bad table is our bug),
        and at its longest (widest id, longest address, 5-digit ports, largest length,
        no payload) within ``max_line``: no command is ever cut at run time."""
        vendor = self._vendor
        templates = [*vendor.setup, *vendor.configure, vendor.open, vendor.send]
        templates += [vendor.read, vendor.close]
        flow = Flow(65535, _LONGEST_ADDRESS, 65535)
        socket = ModemSocket(flow, 0.0, id=max(vendor.socket_ids))
        longest = {"len": vendor.payload_limit, "hex": "", **self._ping_fields(flow.remote, 0)}
        if vendor.ping is not None:
            templates.append(vendor.ping.command)
            longest["size"] = vendor.ping.size_range[1]
        for template in templates:
            try:
                line = self._render(template, socket, **longest)
            except (KeyError, IndexError, ValueError) as error:
                raise UsageError(f"{vendor.name}: template {template!r}: {error!r}") from None
            if self._max_line is not None and len(line) > self._max_line:
                raise UsageError(
                    f"max_line {self._max_line} is too short for {vendor.name}'s commands: "
                    f"{line!r} takes {len(line)} characters"
                )


def _bare(prefix: str | None) -> str | None:
    """A response prefix for ``AtChannel.send`` (whole word, without its colon)."""
    return None if prefix is None else prefix.rstrip(":")


def _check_settings(
    local: IPv6Address, cid: int, max_line: int | None, durations: tuple[float, ...]
) -> None:
    if not isinstance(local, IPv6Address) or local.is_link_local or local.is_multicast:
        raise UsageError(f"local_address is the modem's global IPv6 address, not {local!r}")
    if local.is_unspecified or local.is_loopback:
        raise UsageError(f"local_address is the modem's global IPv6 address, not {local!r}")
    if not isinstance(cid, int) or cid < 0:
        raise UsageError(f"cid is a PDP context number, not {cid!r}")
    if max_line is not None and (not isinstance(max_line, int) or max_line < 16):
        raise UsageError(f"max_line is None or at least 16 characters, not {max_line!r}")
    for duration in durations:
        if not (isinstance(duration, int | float) and math.isfinite(duration) and duration > 0):
            raise UsageError(f"a duration is a positive number of seconds, not {duration!r}")


def _check_counts(ping_queue: int, backlog: int, rate: float) -> None:
    if (
        not (isinstance(ping_queue, int) and isinstance(backlog, int))
        or min(ping_queue, backlog) < 1
    ):
        raise UsageError("ping_queue and backlog are at least 1")
    if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
        raise UsageError(f"icmp_errors_per_second is a positive number, not {rate!r}")
