"""Every output of the link, as small frozen values.

The shell acts on these: ``WriteSerial`` bytes go to the serial line, ``DeliverPacket``
IP packets go to the host (TUN), and the rest report the state of the session.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from .ra import link_local_address


@dataclass(frozen=True, slots=True)
class WriteSerial:
    """Bytes to write to the serial line, already HDLC-framed (RFC 1662)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class DeliverPacket:
    """An IPv4 or IPv6 packet received from the peer, for the host."""

    data: bytes


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """Everything negotiated, as known when a ``LinkUp`` is emitted."""

    mru: int
    """Largest information field the peer may send us (our MRU, RFC 1661 6.1)."""
    mtu: int
    """Largest information field we may send: the peer's MRU."""
    auth: str | None
    """How we authenticated to the peer (or the peer to us): "PAP", "CHAP-MD5" or None."""
    local_ipv4: ipaddress.IPv4Address | None
    """Our IPv4 address from IPCP (RFC 1332 3.3); None when IPCP is not open."""
    peer_ipv4: ipaddress.IPv4Address | None
    """The peer's IPv4 address, when it told us one."""
    dns: tuple[ipaddress.IPv4Address, ...]
    """DNS servers from IPCP (RFC 1877), primary first."""
    local_interface_id: bytes | None
    """Our 64-bit IPv6 Interface-Identifier from IPV6CP (RFC 5072 4.1)."""
    peer_interface_id: bytes | None
    """The peer's IPv6 Interface-Identifier."""

    @property
    def local_ipv6_link_local(self) -> ipaddress.IPv6Address | None:
        """fe80::<interface identifier> (RFC 5072 section 5)."""
        return _link_local(self.local_interface_id)

    @property
    def peer_ipv6_link_local(self) -> ipaddress.IPv6Address | None:
        return _link_local(self.peer_interface_id)


def _link_local(iid: bytes | None) -> ipaddress.IPv6Address | None:
    return None if iid is None else link_local_address(iid)


@dataclass(frozen=True, slots=True)
class LcpUp:
    """LCP reached Opened (RFC 1661 3.3, end of the Establish phase)."""

    mru: int
    """Our MRU: the largest information field the peer may send us."""
    mtu: int
    """The peer's MRU: the largest we may send."""


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The Authenticate phase ended well (RFC 1661 3.5); ``protocols`` names what ran
    ("PAP", "CHAP-MD5"), empty when neither side asked for authentication."""

    protocols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkUp:
    """A network protocol opened. Emitted again (with fuller ``info``) when another NCP
    opens or after LCP renegotiation brought the link back."""

    info: LinkInfo


class DownReason(Enum):
    """Why a PPP session ended."""

    PEER_TERMINATED = "peer sent LCP Terminate-Request"
    LOCAL_CLOSE = "closed locally"
    CARRIER_LOST = "carrier lost (modem hung up)"
    PEER_NOT_RESPONDING = "peer did not answer LCP Configure-Request"
    NEGOTIATION_FAILED = "LCP negotiation failed"
    AUTH_FAILED = "authentication failed"
    ECHO_TIMEOUT = "peer stopped answering LCP Echo-Request"
    LOOPED_BACK = "the line is looped back"
    NO_NETWORK_PROTOCOLS = "no network protocol could be opened"


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The session ended; ``detail`` says more for a person."""

    reason: DownReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LinkRenegotiating:
    """The peer renegotiated LCP while Opened (RFC 1661 4.1, RCR in Opened): traffic stops
    until a new ``LinkUp``; the session goes on."""


@dataclass(frozen=True, slots=True)
class Ipv6Unavailable:
    """IPV6CP was Protocol-Rejected or never opened: IPv6 cannot go over this PPP link.
    IPv4 is unaffected."""

    detail: str


Output = (
    WriteSerial
    | DeliverPacket
    | LcpUp
    | Authenticated
    | LinkUp
    | LinkDown
    | LinkRenegotiating
    | Ipv6Unavailable
)
