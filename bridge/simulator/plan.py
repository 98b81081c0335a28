"""The simulated operator network's addresses: documentation ranges only.

RFC 5737 (198.51.100.0/24, 203.0.113.0/24) and RFC 3849 (2001:db8::/32). The PPP client
is given 203.0.113.10 by IPCP and the interface identifier ::2 by IPV6CP; a Router
Advertisement then hands it the /64 prefix 2001:db8:2::/64 (3GPP TS 29.061 11.2.1.3.2:
the gateway advertises one /64 per PDP context and the host forms its address from the
interface identifier negotiated by IPV6CP). The hosts sit behind the gateway on
198.51.100.0/24 and 2001:db8:1::/64.

The modem's own IP stack (its AT sockets and ping commands) has addresses of its own:
2001:db8:2::a in the same /64 (a UE may use any number of addresses of the prefix the
network delegates to it, RFC 7278) and 203.0.113.11. A real modem shares the context's
addresses between its stack and a PPP client and tells their packets apart by port; here
the stack's traffic leaves the operator network from these addresses instead, so a PPP
client's traffic and the modem's sockets never collide, whether or not a call is up.
+CGPADDR still reports the context's addresses (203.0.113.10, 2001:db8:2::2).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

A4 = ipaddress.IPv4Address
A6 = ipaddress.IPv6Address


@dataclass(frozen=True)
class NetworkPlan:
    gateway_ipv4: A4 = A4("203.0.113.1")
    """The PPP peer (the modem/gateway) as announced in IPCP."""
    client_ipv4: A4 = A4("203.0.113.10")
    """The address IPCP assigns to the client."""
    client_ipv4_network: ipaddress.IPv4Network = ipaddress.IPv4Network("203.0.113.0/24")
    gateway_interface_id: bytes = bytes(7) + b"\x01"
    """The gateway's IPV6CP identifier: its link-local address is fe80::1."""
    client_interface_id: bytes = bytes(7) + b"\x02"
    """The identifier the gateway Naks a client into (3GPP-style)."""
    client_prefix: ipaddress.IPv6Network = ipaddress.IPv6Network("2001:db8:2::/64")
    """The /64 prefix sent in the Router Advertisement."""
    echo_ipv4: A4 = A4("198.51.100.1")
    """ICMP echo, UDP and TCP echo (port 7)."""
    echo_ipv6: A6 = A6("2001:db8:1::1")
    dns_ipv4: tuple[A4, ...] = (A4("198.51.100.53"), A4("198.51.100.54"))
    """DNS servers handed out by IPCP (primary, secondary); both answer."""
    dns_ipv6: tuple[A6, ...] = (A6("2001:db8:1::53"),)
    """DNS server reported by +CGCONTRDP for IPv6 contexts."""
    modem_ipv4: A4 = A4("203.0.113.11")
    """The source of the modem's own IPv4 sockets and pings."""
    modem_ipv6: A6 = A6("2001:db8:2::a")
    """The source of the modem's own IPv6 sockets and pings (in ``client_prefix``)."""
    names: dict[str, tuple[tuple[A4, ...], tuple[A6, ...]]] = field(
        default_factory=lambda: {
            "echo.pppbridge.test": ((A4("198.51.100.1"),), (A6("2001:db8:1::1"),)),
            "dns.pppbridge.test": ((A4("198.51.100.53"),), (A6("2001:db8:1::53"),)),
            "v4only.pppbridge.test": ((A4("198.51.100.4"),), ()),
            "v6only.pppbridge.test": ((), (A6("2001:db8:1::6"),)),
        }
    )
    """DNS names the simulated DNS server answers (A, AAAA); others get NXDOMAIN."""

    @property
    def gateway_link_local(self) -> A6:
        return A6(b"\xfe\x80" + bytes(6) + self.gateway_interface_id)

    @property
    def client_global_ipv6(self) -> A6:
        return A6(self.client_prefix.network_address.packed[:8] + self.client_interface_id)


DEFAULT_PLAN = NetworkPlan()
