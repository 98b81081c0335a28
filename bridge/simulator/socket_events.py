"""What the modem's own IP stack (``at_sockets.py``) says to the network and hears back.

Outputs, carried out by ``socket_shell.py`` with real sockets in the operator namespace
(or answered in-process by ``hosts.LocalStackNetwork``): ``OpenSocket``, ``SendDatagram``,
``CloseSocket``, ``SendPing``. Inputs, through ``Modem.network_event``: ``DatagramIn``,
``PingReply``. All frozen values; addresses are ``ipaddress`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

IpAddress = IPv4Address | IPv6Address
PING_PAYLOAD = b"pppbridge-modem-ping-"
"""Repeated to fill an echo request's data."""


@dataclass(frozen=True)
class OpenSocket:
    """Make socket ``ident``: UDP from the modem's addresses, local port ``local_port``."""

    ident: int
    local_port: int


@dataclass(frozen=True)
class SendDatagram:
    ident: int
    src: IpAddress
    dst: IpAddress
    sport: int
    dport: int
    data: bytes


@dataclass(frozen=True)
class CloseSocket:
    ident: int


@dataclass(frozen=True)
class SendPing:
    """One ICMP/ICMPv6 echo request from the modem's address (``token`` names the run)."""

    token: int
    src: IpAddress
    dst: IpAddress
    seq: int
    size: int
    """Octets of echo data."""
    ttl: int


@dataclass(frozen=True)
class DatagramIn:
    """A datagram for socket ``ident`` from ``src``:``sport``."""

    ident: int
    data: bytes
    src: IpAddress
    sport: int


@dataclass(frozen=True)
class PingReply:
    token: int
    seq: int
    ttl: int
    """The reply's TTL / hop limit as received."""


NetworkEvent = DatagramIn | PingReply
STACK_OUTPUTS = (OpenSocket, SendDatagram, CloseSocket, SendPing)
"""The outputs of the stack, for the shell to pick out of the modem's."""
