"""Configuration of a PPP link: one frozen value, checked once when it is made."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from .errors import UsageError
from .secret import Secret


class Role(Enum):
    """Which end of the link we are."""

    CLIENT = "client"
    """The host side: dials, authenticates to the peer, asks for addresses."""
    ANSWERING = "answering"
    """The modem/network side: may require authentication, assigns addresses and DNS."""


class AuthProtocol(Enum):
    PAP = "PAP"  # RFC 1334
    CHAP_MD5 = "CHAP-MD5"  # RFC 1994


@dataclass(frozen=True)
class LinkConfig:
    """Everything a ``Link`` needs to know before it starts."""

    role: Role = Role.CLIENT
    """Client (the host) or answering (the simulated modem/network)."""

    # --- LCP (RFC 1661 section 6) ---
    mru: int = 1500
    """Our MRU; 1500 (the default) is not requested on the wire."""
    accm: int = 0
    """The receive ACCM we ask for (RFC 1662 7.1): characters the peer must escape."""
    pfc: bool = True
    """Ask for Protocol-Field-Compression (RFC 1661 6.5)."""
    acfc: bool = True
    """Ask for Address-and-Control-Field-Compression (RFC 1661 6.6)."""
    restart_interval: float = 3.0
    """Restart timer, seconds (RFC 1661 4.6)."""
    max_terminate: int = 2
    max_configure: int = 10
    max_failure: int = 5

    # --- keepalive (RFC 1661 5.8 Echo-Request) ---
    echo_interval: float = 0.0
    """Seconds between LCP Echo-Requests; 0 disables the keepalive."""
    echo_failures: int = 3
    """Unanswered Echo-Requests after which the link is declared dead."""
    echo_only_when_idle: bool = True
    """Send an Echo-Request only when nothing was received during the last interval."""

    # --- authentication ---
    username: str = ""
    """Client: the name we authenticate with (PAP Peer-ID, CHAP Name)."""
    password: Secret = field(default_factory=lambda: Secret(""))
    """Client: the PAP password / CHAP secret. Never shown in a repr."""
    allow_auth: frozenset[AuthProtocol] = frozenset(AuthProtocol)
    """Client: the protocols we agree to authenticate with when the peer asks."""
    require_auth: AuthProtocol | None = None
    """Answering: the protocol the peer must authenticate with; None for no auth."""
    secrets: Mapping[str, Secret] = field(default_factory=lambda: MappingProxyType({}))
    """Answering: user name -> password the peer may authenticate as."""
    hostname: str = "pppbridge"
    """Answering: the CHAP Name we send in a Challenge (RFC 1994 4.1)."""
    chap_rechallenge_interval: float = 0.0
    """Answering: seconds between CHAP re-challenges while Opened; 0 for none."""

    # --- IPCP (RFC 1332, RFC 1877) ---
    ipv4: bool = True
    """Negotiate IPCP."""
    local_ipv4: ipaddress.IPv4Address | None = None
    """Our address: client, the one to ask for (None asks 0.0.0.0, take the Nak);
    answering, the gateway address we announce."""
    peer_ipv4: ipaddress.IPv4Address | None = None
    """Answering: the address assigned to the client."""
    request_dns: bool = True
    """Client: ask for primary and secondary DNS (RFC 1877)."""
    dns: tuple[ipaddress.IPv4Address, ...] = ()
    """Answering: DNS servers handed to the client (primary, secondary)."""

    # --- IPV6CP (RFC 5072) ---
    ipv6: bool = True
    """Negotiate IPV6CP."""
    local_interface_id: bytes | None = None
    """Our Interface-Identifier (8 bytes); None picks a random one."""
    peer_interface_id: bytes | None = None
    """Answering: the Interface-Identifier the network assigns, 3GPP-style (TS 29.061
    11.2.1.3.2): a peer asking for any other one is Nak'ed with it. RFC 5072 4.1 alone
    would Nak only a zero or colliding identifier; None keeps that rule."""

    def __post_init__(self) -> None:
        if not 128 <= self.mru <= 65535:
            raise UsageError(f"mru must be between 128 and 65535, not {self.mru}")
        if not 0 <= self.accm <= 0xFFFFFFFF:
            raise UsageError("accm must fit in 32 bits")
        for name in ("max_terminate", "max_configure", "max_failure", "echo_failures"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1")
        if self.restart_interval <= 0 or self.echo_interval < 0:
            raise UsageError("restart_interval must be positive and echo_interval >= 0")
        for name in ("local_interface_id", "peer_interface_id"):
            iid = getattr(self, name)
            if iid is not None and (len(iid) != 8 or iid == bytes(8)):
                raise UsageError(f"{name} must be 8 bytes and not all zero")
        if not isinstance(self.password, Secret):
            raise UsageError("password must be a netstack.secret.Secret")
        if not self.ipv4 and not self.ipv6:
            raise UsageError("enable at least one of ipv4 and ipv6")
