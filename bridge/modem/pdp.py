"""The PDP context's type and authentication, as 3GPP TS 27.007 names them."""

from __future__ import annotations

from enum import Enum


class AuthMode(Enum):
    """How the modem authenticates the PDP context to the network (27.007 10.1.31)."""

    NONE = "none"
    PAP = "pap"
    CHAP = "chap"
    AUTO = "auto"
    """PAP or CHAP, as the network asks; where a modem has no such choice, its profile
    maps it onto one of the two."""


class PdpType(Enum):
    """The PDP type of the context (27.007 10.1.1 <PDP_type>)."""

    IP = "ip"
    IPV6 = "ipv6"
    IPV4V6 = "ipv4v6"

    @property
    def at_name(self) -> str:
        """As written in +CGDCONT: ``IP``, ``IPV6``, ``IPV4V6``."""
        return self.value.upper()
