"""Traffic through a bridge's TUN with the kernel's own sockets, for the end-to-end tests.

Each function runs inside the test's namespace (``TestNamespace.run``) and talks to the
simulated operator network (``bridge.simulator.plan``): ICMP echo (raw sockets, as
``ping`` does as root), UDP and TCP echo on port 7 (RFC 862), and DNS (RFC 1035) for
``echo.pppbridge.test``. Every wait is bounded; a lost packet is sent again a few times,
so that a lossy link (``--corrupt``) shows as retries, not as a failure.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from ipaddress import IPv4Address, IPv6Address, ip_address

ECHO_IPV4 = "198.51.100.1"
ECHO_IPV6 = "2001:db8:1::1"
DNS_IPV4 = "198.51.100.53"
ECHO_NAME = "echo.pppbridge.test"
ECHO_PORT = 7
DNS_PORT = 53
CLIENT_IPV4 = "203.0.113.10"
CLIENT_IPV6 = "2001:db8:2::2"
"""What the simulated network gives the client: IPCP's address, and the RA's prefix with
the IPV6CP identifier ::2."""
REPLY_TIMEOUT = 2.0
ATTEMPTS = 5
_ICMP_ECHO = struct.Struct("!BBHHH")


def _family(address: str) -> int:
    return socket.AF_INET if ip_address(address).version == 4 else socket.AF_INET6


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ping(
    address: str, count: int = 3, attempts: int = ATTEMPTS, timeout: float = REPLY_TIMEOUT
) -> int:
    """Echo requests to ``address`` until ``count`` replies came (``attempts`` tries
    each, ``timeout`` seconds for each reply); the number of replies. ICMPv6's checksum
    is the kernel's (RFC 3542 3.1)."""
    v4 = _family(address) == socket.AF_INET
    proto = socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6
    request, reply = (8, 0) if v4 else (128, 129)
    ident = os.getpid() & 0xFFFF ^ 0x5A5A
    got = 0
    with socket.socket(_family(address), socket.SOCK_RAW, proto) as sock:
        for seq in range(1, count * attempts + 1):
            payload = f"pppbridge e2e {seq}".encode()
            message = _ICMP_ECHO.pack(request, 0, 0, ident, seq) + payload
            if v4:
                message = _ICMP_ECHO.pack(request, 0, _checksum(message), ident, seq) + payload
            sock.sendto(message, (address, 0))
            if _wait_echo_reply(sock, timeout, (reply, ident, seq), payload, v4):
                got += 1
                if got == count:
                    break
    return got


def _wait_echo_reply(
    sock: socket.socket, timeout: float, wanted: tuple[int, int, int], payload: bytes, v4: bool
) -> bool:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return False
        if v4:
            data = data[(data[0] & 0x0F) * 4 :]  # IPv4 raw sockets see the IP header
        if len(data) < _ICMP_ECHO.size:
            continue
        got_kind, _, _, got_ident, got_seq = _ICMP_ECHO.unpack_from(data)
        if (got_kind, got_ident, got_seq) == wanted:
            return data[_ICMP_ECHO.size :] == payload
    return False


def udp_echo(address: str, payload: bytes, attempts: int = ATTEMPTS) -> bytes:
    """``payload`` to UDP port 7 of ``address``; what came back (b"" if nothing)."""
    return _exchange(address, ECHO_PORT, payload, attempts)


def _exchange(address: str, port: int, datagram: bytes, attempts: int) -> bytes:
    """``datagram`` to ``address``:``port`` until an answer comes, ``attempts`` times at
    most; the answer, or b"" if none came."""
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))
        sock.settimeout(REPLY_TIMEOUT)
        for _ in range(attempts):
            sock.send(datagram)
            try:
                return sock.recv(65535)
            except TimeoutError:
                continue
    return b""


def tcp_echo(address: str, payload: bytes, timeout: float = 20.0) -> bytes:
    """``payload`` over a TCP connection to port 7 of ``address``; what came back. TCP
    retransmits by itself: one connection, bounded by ``timeout``."""
    with socket.create_connection((address, ECHO_PORT), timeout=timeout) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while len(received) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def dns_query(
    server: str, name: str = ECHO_NAME, qtype: int = 1, attempts: int = ATTEMPTS
) -> list[IPv4Address | IPv6Address]:
    """The addresses the DNS server at ``server`` answers for ``name`` (A: 1, AAAA: 28)."""
    ident = os.getpid() & 0xFFFF
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
    )
    answer = _exchange(server, DNS_PORT, query, attempts)
    if not answer:
        raise TimeoutError(f"no answer from the DNS server {server} in {attempts} tries")
    assert answer[:2] == query[:2], "an answer to another query"
    return _answers(answer, len(query))


def _answers(message: bytes, offset: int) -> list[IPv4Address | IPv6Address]:
    """The A/AAAA records of a response whose question is the query's (RFC 1035 4.1)."""
    _, flags, _, count, _, _ = struct.unpack_from("!HHHHHH", message)
    assert flags & 0x000F == 0, f"DNS RCODE {flags & 0xF}"
    found: list[IPv4Address | IPv6Address] = []
    for _ in range(count):
        if message[offset] & 0xC0 == 0xC0:
            offset += 2  # a pointer to the question's name
        else:
            while message[offset]:
                offset += message[offset] + 1
            offset += 1
        rtype, _, _, length = struct.unpack_from("!HHIH", message, offset)
        offset += 10
        data = message[offset : offset + length]
        offset += length
        if rtype == 1:
            found.append(IPv4Address(data))
        elif rtype == 28:
            found.append(IPv6Address(data))
    return found


def everything_works() -> dict[str, object]:
    """ICMP, UDP and TCP over IPv4 and IPv6, and a DNS lookup over IPv4: what came back
    of each, for one assertion that shows all of it."""
    big = bytes(range(256)) * 16  # a few segments, each TCP and UDP size crossing a frame
    return {
        "ping4": ping(ECHO_IPV4),
        "ping6": ping(ECHO_IPV6),
        "udp4": udp_echo(ECHO_IPV4, big[:1200]) == big[:1200],
        "udp6": udp_echo(ECHO_IPV6, big[:1200]) == big[:1200],
        "tcp4": tcp_echo(ECHO_IPV4, big) == big,
        "tcp6": tcp_echo(ECHO_IPV6, big) == big,
        "dns": dns_query(DNS_IPV4),
    }


EVERYTHING = {
    "ping4": 3,
    "ping6": 3,
    "udp4": True,
    "udp6": True,
    "tcp4": True,
    "tcp6": True,
    "dns": [IPv4Address(ECHO_IPV4)],
}
"""``everything_works()`` on a link that works."""


def ipv4_works() -> dict[str, object]:
    """ICMP, UDP and TCP over IPv4 only."""
    return {
        "ping4": ping(ECHO_IPV4),
        "udp4": udp_echo(ECHO_IPV4, b"ipv4 only") == b"ipv4 only",
        "tcp4": tcp_echo(ECHO_IPV4, b"ipv4 only") == b"ipv4 only",
    }


IPV4_WORKS = {"ping4": 3, "udp4": True, "tcp4": True}
