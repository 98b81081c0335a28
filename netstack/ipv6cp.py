"""IPV6CP (RFC 5072): Interface-Identifier negotiation.

We offer a non-zero 64-bit identifier; a peer that sends zero is Nak'd with a suggestion,
one that collides with ours is Nak'd with a value different from both (RFC 5072 4.1).
IPv6-Compression-Protocol is always rejected.
"""

from __future__ import annotations

from .config import LinkConfig, Role
from .ncp import NcpNegotiator
from .numbers import Ipv6cpOption
from .packet import Option, has_valid_length
from .rng import Rng

_ZERO_ID = bytes(8)
_LENGTHS = {Ipv6cpOption.INTERFACE_IDENTIFIER: 8}


class Ipv6cpNegotiator(NcpNegotiator):
    """The IPV6CP side of the automaton callbacks."""

    def __init__(self, config: LinkConfig, rng: Rng) -> None:
        self._config = config
        self._rng = rng
        # RFC 5072 4.1: the identifier SHOULD stay the same across negotiations.
        self._initial_id = config.local_interface_id or self._random_id()
        self.want: bytes | None = self._initial_id
        self.ours: bytes | None = None
        self.peer: bytes | None = None

    def _random_id(self, *avoid: bytes | None) -> bytes:
        while True:
            iid = self._rng.getrandbits(64).to_bytes(8, "big")
            if iid != _ZERO_ID and iid not in avoid:
                return iid

    def reset(self) -> None:
        self.want = self._initial_id
        self.ours = None
        self.peer = None

    def build_request(self) -> list[Option]:
        if self.want is None:
            return []
        return [(Ipv6cpOption.INTERFACE_IDENTIFIER, self.want)]

    def request_acked(self, options: list[Option]) -> None:
        self.ours = _identifier(options)

    def received_nak(self, options: list[Option], give_up: bool) -> bool:
        suggested = _identifier(options)
        if suggested is None or self.want is None:
            return True
        if give_up:
            self.want = None
        elif suggested != _ZERO_ID:
            # RFC 5072 4.1: take the peer's suggestion unless it clashes with its own.
            self.want = suggested if suggested != self.peer else self._random_id(self.peer)
        return True

    def received_reject(self, options: list[Option]) -> bool:
        if _identifier(options) is not None:
            self.want = None
        return True

    def _judge(self, option: Option) -> Option | None:
        if not has_valid_length(option, _LENGTHS):
            return None
        kind, asked = option
        ours = self.want or self.ours
        preset = self._config.peer_interface_id if self._config.role == Role.ANSWERING else None
        if preset is not None and preset != ours:
            # The network assigns the identifier, as a 3GPP gateway does (TS 29.061) and as
            # pppd does with "ipv6 ,<remote>": Nak anything else with it.
            return option if asked == preset else (kind, preset)
        if asked == _ZERO_ID or asked == ours:
            # RFC 5072 4.1: zero, or a collision: suggest a value different from both.
            return (kind, self._random_id(ours, asked))
        return option

    def peer_request_acked(self, options: list[Option]) -> None:
        self.peer = _identifier(options)


def _identifier(options: list[Option]) -> bytes | None:
    for kind, value in options:
        if kind == Ipv6cpOption.INTERFACE_IDENTIFIER and len(value) == 8:
            return value
    return None
