"""IPCP (RFC 1332) with the DNS extensions of RFC 1877.

Client: ask for 0.0.0.0 (or a configured address) and for primary/secondary DNS, take
what the peer Naks, stop asking for what it Rejects. Answering: announce our address,
assign the client's and hand out DNS by Nak. Van Jacobson compression is never asked for
and always rejected (a userspace bridge gains nothing from it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from .config import LinkConfig, Role
from .ncp import NcpNegotiator
from .numbers import IpcpOption
from .packet import Option, has_valid_length

_ZERO = ipaddress.IPv4Address(0)
_LENGTHS = {IpcpOption.IP_ADDRESS: 4, IpcpOption.PRIMARY_DNS: 4, IpcpOption.SECONDARY_DNS: 4}
_DNS_OPTIONS = (IpcpOption.PRIMARY_DNS, IpcpOption.SECONDARY_DNS)


@dataclass(frozen=True, slots=True)
class IpcpOptions:
    address: ipaddress.IPv4Address | None = None
    dns: dict[int, ipaddress.IPv4Address] = field(default_factory=dict)


class IpcpNegotiator(NcpNegotiator):
    """The IPCP side of the automaton callbacks."""

    def __init__(self, config: LinkConfig) -> None:
        self._config = config
        self.want = IpcpOptions()
        self.ours = IpcpOptions()
        self.peer = IpcpOptions()
        self.reset()

    def reset(self) -> None:
        config = self._config
        if config.role == Role.CLIENT:
            dns: dict[int, ipaddress.IPv4Address] = (
                {int(kind): _ZERO for kind in _DNS_OPTIONS} if config.request_dns else {}
            )
            self.want = IpcpOptions(config.local_ipv4 or _ZERO, dns)
        else:
            self.want = IpcpOptions(config.local_ipv4)
        self.ours = IpcpOptions()
        self.peer = IpcpOptions()

    def build_request(self) -> list[Option]:
        options: list[Option] = []
        if self.want.address is not None:
            options.append((IpcpOption.IP_ADDRESS, self.want.address.packed))
        options += [(kind, addr.packed) for kind, addr in self.want.dns.items()]
        return options

    def request_acked(self, options: list[Option]) -> None:
        self.ours = _decode(options)

    def received_nak(self, options: list[Option], give_up: bool) -> bool:
        want = self.want
        dns = dict(want.dns)
        for kind, value in options:
            if len(value) != 4:
                continue
            suggested = ipaddress.IPv4Address(value)
            if kind == IpcpOption.IP_ADDRESS and want.address is not None:
                want = replace(want, address=None if give_up else suggested)
            elif kind in dns:
                if give_up:
                    del dns[kind]
                else:
                    dns[kind] = suggested
        self.want = replace(want, dns=dns)
        return True

    def received_reject(self, options: list[Option]) -> bool:
        dns = dict(self.want.dns)
        address = self.want.address
        for kind, _ in options:
            dns.pop(kind, None)
            if kind == IpcpOption.IP_ADDRESS:
                address = None
        self.want = IpcpOptions(address, dns)
        return True

    def _judge(self, option: Option) -> Option | None:
        # IP-Compression-Protocol (VJ), the deprecated IP-Addresses, NBNS and anything
        # unknown fall through to Reject (RFC 1661 5.4: echoed byte for byte).
        if not has_valid_length(option, _LENGTHS):
            return None
        kind, value = option
        asked = ipaddress.IPv4Address(value)
        answering = self._config.role == Role.ANSWERING
        if kind == IpcpOption.IP_ADDRESS:
            assigned = self._config.peer_ipv4 if answering else None
            if assigned is not None:
                return option if asked == assigned else (kind, assigned.packed)
            return option if asked != _ZERO else None  # nothing to offer a peer asking 0
        # DNS: only the answering side serves it (RFC 1877 1.1: Nak with the address).
        servers = self._config.dns if answering else ()
        index = _DNS_OPTIONS.index(kind)
        if index >= len(servers):
            return None
        return option if asked == servers[index] else (kind, servers[index].packed)

    def peer_request_acked(self, options: list[Option]) -> None:
        self.peer = _decode(options)


def _decode(options: list[Option]) -> IpcpOptions:
    address = None
    dns: dict[int, ipaddress.IPv4Address] = {}
    for kind, value in options:
        if len(value) != 4:
            continue
        if kind == IpcpOption.IP_ADDRESS:
            address = ipaddress.IPv4Address(value)
        elif kind in _DNS_OPTIONS:
            dns[kind] = ipaddress.IPv4Address(value)
    return IpcpOptions(address, dns)
