"""Every output of the AT-socket bridge, and its counters, as small frozen values.

The shell acts on these: ``SendAt`` goes to ``AtChannel.send``, ``SendPayload`` to
``AtChannel.send_payload`` (written in pieces of at most ``chunk`` octets) while its
command is still the channel's ``pending`` one, ``ToTun`` packets are written to the
TUN.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address


@dataclass(frozen=True, slots=True)
class SendAt:
    """Send ``command`` now (the channel is idle: the bridge sends one at a time):
    ``AtChannel.send(command, now, timeout, response_prefix=..., expect_prompt=...,
    extra_finals=dict(extra_finals))``."""

    command: str
    timeout: float
    response_prefix: str | None = None
    expect_prompt: bool = False
    extra_finals: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class SendPayload:
    """After the ``Prompt`` of ``command``: ``AtChannel.send_payload(data, now,
    timeout)``, the bytes then written in ``pieces()``; skipped when the channel's
    ``pending`` is no longer ``command`` (the modem ended it in the same read as its
    prompt: nothing is due, and ``send_payload`` would raise)."""

    data: bytes
    timeout: float
    chunk: int | None = None
    """Largest write the line takes (the configured maximum line length), or None."""
    command: str = ""
    """The send command whose prompt this answers."""

    def pieces(self) -> tuple[bytes, ...]:
        """``data`` cut into writes of at most ``chunk`` octets: the modem counts the
        payload's octets and takes them however they are cut (no terminator)."""
        if self.chunk is None or len(self.data) <= self.chunk:
            return (self.data,)
        return tuple(self.data[i : i + self.chunk] for i in range(0, len(self.data), self.chunk))


@dataclass(frozen=True, slots=True)
class ToTun:
    """An IPv6 packet for the host: a received datagram, an ICMPv6 error, an echo reply."""

    packet: bytes


AtSocketOutput = SendAt | SendPayload | ToTun


@dataclass(frozen=True, slots=True)
class Flow:
    """What a modem socket carries: the host's UDP port and the remote end."""

    local_port: int
    remote: IPv6Address
    remote_port: int


@dataclass(frozen=True, slots=True)
class SocketInfo:
    """One modem socket as the bridge sees it (for status and tests)."""

    flow: Flow
    socket_id: int | None
    state: str
    """``waiting`` (for a free id), ``opening``, ``open`` or ``closing``."""
    last_used: float


@dataclass(frozen=True, slots=True)
class AtSocketStatistics:
    """Counters by reason; the peer's garbage and the host's misdirected packets are
    counted here, never raised."""

    packets_from_tun: int
    packets_to_tun: int
    datagrams_sent: int
    bytes_sent: int
    datagrams_received: int
    bytes_received: int
    malformed: int
    """Packets from the TUN with a bad length, extension header or checksum."""
    not_ipv6: int
    refused_tcp: int
    refused_protocols: int
    refused_extension_headers: int
    refused_fragments: int
    refused_oversize: int
    """Datagrams over the modem's payload limit (Packet Too Big when the MTU it names is
    at least 1280, else Destination Unreachable, administratively prohibited)."""
    refused_line_limit: int
    """Datagrams or commands that the maximum AT line length leaves no room for."""
    refused_ports: int
    refused_empty: int
    """Datagrams without payload: no vendor's send takes zero octets (Quectel
    ``AT+QISEND=<id>,0`` is a query, at-commands.md 3.3; u-blox 1..1024, 4.3)."""
    refused_source: int
    refused_destination: int
    bad_source: int
    """Packets from the unspecified or a multicast address: dropped, never answered."""
    absorbed_router_solicitations: int
    absorbed_neighbor_discovery: int
    absorbed_mld: int
    absorbed_icmpv6_errors: int
    absorbed_icmpv6_other: int
    absorbed_multicast: int
    echo_requests: int
    echo_replies: int
    echo_lost: int
    echo_dropped: int
    """Echo requests beyond the queue of pings."""
    echo_unsupported: int
    sockets_opened: int
    sockets_closed_idle: int
    sockets_evicted: int
    sockets_closed_by_modem: int
    open_errors: int
    send_errors: int
    read_errors: int
    close_errors: int
    setup_errors: int
    backlog_dropped: int
    """Datagrams dropped while their socket was opening (backlog full)."""
    rings: int
    rings_unknown_socket: int
    empty_reads: int
    bad_reads: int
    """Read responses that make no sense: no header, data not hex or of another length."""
    unexpected_events: int
    """AT events for no command of ours (a result for another command, a late one)."""
    icmp_errors_sent: int
    icmp_rate_limited: int
