"""The shell of the modem's own IP stack: real sockets for its AT sockets and pings.

The pure stack (``at_sockets.py``) emits ``OpenSocket``, ``SendDatagram``, ``CloseSocket``
and ``SendPing``; ``apply`` carries each one out and hands what comes back
(``DatagramIn``, ``PingReply``) to ``deliver``, which feeds ``Modem.network_event``.

- ``NamespaceStack``: in the operator namespace. Each modem socket gets a real UDP
  socket per IP version it uses, bound to the modem's address of that version and the
  socket's local port, made on first use inside the namespace (``make_modem_socket``);
  datagrams sent meanwhile wait for it. Echo requests go out of the namespace's two ping
  sockets; the ICMP sequence number is ours (one counter), mapped back to the ping run.
- ``LocalStack``: without a namespace, ``hosts.LocalStackNetwork`` answers in-process.

Call order: ``apply`` any number of times on the running loop; ``close()`` once, before
the operator network closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
from collections.abc import Callable
from ipaddress import ip_address

from .hosts import LocalStackNetwork
from .operator import IP_RECVTTL, OperatorNetwork
from .socket_events import (
    CloseSocket,
    DatagramIn,
    NetworkEvent,
    OpenSocket,
    PingReply,
    SendDatagram,
    SendPing,
)

READS_PER_WAKEUP = 64
_ICMP_ECHO = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_ECHO_REQUEST = {4: 8, 6: 128}  # RFC 792, RFC 4443 4.1
_ECHO_REPLY = {4: 0, 6: 129}
_TTL_SPACE = socket.CMSG_SPACE(4)

Deliver = Callable[[NetworkEvent], None]


class LocalStack:
    def __init__(self, network: LocalStackNetwork, deliver: Deliver) -> None:
        self._network = network
        self._deliver = deliver

    def apply(self, output: object) -> None:
        for event in self._network.answer(output):
            self._deliver(event)

    def close(self) -> None:
        pass

    def open_sockets(self) -> int:
        return 0


class NamespaceStack:
    def __init__(self, network: OperatorNetwork, deliver: Deliver) -> None:
        self._network = network
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._ports: dict[int, int] = {}
        self._sockets: dict[tuple[int, int], socket.socket] = {}
        self._waiting: dict[tuple[int, int], list[SendDatagram]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._echo_seq = itertools.count(1)
        self._pings: dict[tuple[int, int], tuple[int, int]] = {}
        """(IP version, ICMP sequence) -> (run token, the run's sequence)."""
        self._closed = False
        for version, sock in network.ping_sockets.items():
            self._loop.add_reader(sock.fileno(), self._read_pings, version, sock)

    def open_sockets(self) -> int:
        return len(self._sockets)

    def apply(self, output: object) -> None:
        if self._closed:
            return
        if isinstance(output, OpenSocket):
            self._ports[output.ident] = output.local_port
        elif isinstance(output, SendDatagram):
            self._send(output)
        elif isinstance(output, CloseSocket):
            self._close_socket(output.ident)
        elif isinstance(output, SendPing):
            self._ping(output)

    def close(self) -> None:
        """Every socket closed and every reader removed; creations under way are dropped."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for sock in self._network.ping_sockets.values():
            self._loop.remove_reader(sock.fileno())
        for ident in list(self._ports):
            self._close_socket(ident)

    # --------------------------------------------------------------- datagrams
    def _send(self, datagram: SendDatagram) -> None:
        key = (datagram.ident, datagram.dst.version)
        sock = self._sockets.get(key)
        if sock is not None:
            with contextlib.suppress(OSError):  # unreachable, buffer full: lost, as UDP is
                sock.sendto(datagram.data, (str(datagram.dst), datagram.dport))
            return
        waiting = self._waiting.setdefault(key, [])
        waiting.append(datagram)
        if len(waiting) == 1:
            task = self._loop.create_task(self._make(key, datagram.sport))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _make(self, key: tuple[int, int], port: int) -> None:
        try:
            sock = await self._network.make_modem_socket(key[1], port)
        except OSError:
            self._waiting.pop(key, None)  # the datagrams are lost
            return
        if self._closed or key[0] not in self._ports or key not in self._waiting:
            sock.close()  # the modem closed the socket meanwhile
            return
        self._sockets[key] = sock
        self._loop.add_reader(sock.fileno(), self._read, key[0], sock)
        for datagram in self._waiting.pop(key):
            self._send(datagram)

    def _read(self, ident: int, sock: socket.socket) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                data, peer = sock.recvfrom(65536)
            except BlockingIOError:
                return
            except OSError:  # an ICMP error queued on the socket
                continue
            self._deliver(DatagramIn(ident, data, ip_address(peer[0]), peer[1]))

    def _close_socket(self, ident: int) -> None:
        self._ports.pop(ident, None)
        for version in (4, 6):
            self._waiting.pop((ident, version), None)
            sock = self._sockets.pop((ident, version), None)
            if sock is not None:
                self._loop.remove_reader(sock.fileno())
                sock.close()

    # ------------------------------------------------------------------ pings
    def _ping(self, ping: SendPing) -> None:
        version = ping.dst.version
        sock = self._network.ping_sockets[version]
        seq = next(self._echo_seq) & 0xFFFF
        self._pings[(version, seq)] = (ping.token, ping.seq)
        payload = bytes(max(ping.size, 0))
        message = _ICMP_ECHO.pack(_ECHO_REQUEST[version], 0, 0, 0, seq) + payload
        with contextlib.suppress(OSError):
            if version == 4:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ping.ttl)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ping.ttl)
            sock.sendto(message, (str(ping.dst), 0))

    def _read_pings(self, version: int, sock: socket.socket) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                message, ancillary, _flags, _peer = sock.recvmsg(65536, _TTL_SPACE)
            except BlockingIOError:
                return
            except OSError:
                continue
            if len(message) < _ICMP_ECHO.size:
                continue
            kind, _code, _sum, _ident, seq = _ICMP_ECHO.unpack_from(message)
            run = self._pings.pop((version, seq), None)
            if kind == _ECHO_REPLY[version] and run is not None:
                self._deliver(PingReply(run[0], run[1], _ttl(ancillary)))


def _ttl(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if (level, kind) in ((socket.IPPROTO_IP, IP_RECVTTL), (socket.IPPROTO_IP, socket.IP_TTL)):
            return int.from_bytes(data[:4], "little") if len(data) >= 4 else data[0]
        if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT):
            return int.from_bytes(data[:4], "little")
    return 0
