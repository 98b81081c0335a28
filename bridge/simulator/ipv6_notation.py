"""How a modem prints addresses in +CGPADDR / +CGCONTRDP (3GPP TS 27.007 10.1.14, +CGPIAF).

27.007's default (``+CGPIAF=0,0,0,0``) prints an IPv6 address as 16 dot-separated decimal
bytes, like an over-long IPv4 address; ``+CGPIAF=1,...`` selects colon-hex, with or
without leading zeros and ``::`` compression, and ``/len`` subnet notation. Vendors then
add their own habits (upper-case hex, both addresses of a dual-stack context in one quoted
string), which the ``--messy`` profiles reproduce.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Piaf:
    """The four +CGPIAF switches (27.007 8.62)."""

    colon_hex: bool = False
    subnet_notation: bool = False
    leading_zeros: bool = False
    compress_zeros: bool = False

    def read_reply(self) -> str:
        flags = (self.colon_hex, self.subnet_notation, self.leading_zeros, self.compress_zeros)
        return "+CGPIAF: " + ",".join(str(int(flag)) for flag in flags)


class Notation(Enum):
    """A vendor's habit for IPv6 addresses, used in ``--messy`` mode."""

    PIAF = "piaf"
    """Whatever +CGPIAF says (the tidy default)."""
    COMPRESSED = "compressed"
    """2001:db8:2::2"""
    UPPER_COMPRESSED = "upper-compressed"
    """2001:DB8:2::2"""
    UPPER_FULL = "upper-full"
    """2001:0DB8:0002:0000:0000:0000:0000:0002"""
    DOTTED = "dotted"
    """32.1.13.184.0.2.0.0.0.0.0.0.0.0.0.2"""


def ipv6_text(
    address: ipaddress.IPv6Address, piaf: Piaf, notation: Notation, prefixlen: int | None = None
) -> str:
    """One IPv6 address (and, for +CGCONTRDP, its subnet) as the modem prints it."""
    if notation in (Notation.COMPRESSED, Notation.UPPER_COMPRESSED):
        piaf = Piaf(True, piaf.subnet_notation, False, True)
    elif notation is Notation.UPPER_FULL:
        piaf = Piaf(True, piaf.subnet_notation, True, False)
    elif notation is Notation.DOTTED:
        piaf = Piaf()
    if not piaf.colon_hex:
        text = ".".join(str(byte) for byte in address.packed)
        if prefixlen is not None:
            mask = ipaddress.IPv6Network(f"::/{prefixlen}").netmask.packed
            text += "." + ".".join(str(byte) for byte in mask)
        return text
    if piaf.compress_zeros:
        text = str(address)
    else:
        groups = address.exploded.split(":")
        if not piaf.leading_zeros:
            groups = [group.lstrip("0") or "0" for group in groups]
        text = ":".join(groups)
    if notation in (Notation.UPPER_FULL, Notation.UPPER_COMPRESSED):
        text = text.upper()
    if prefixlen is not None:
        if piaf.subnet_notation:
            text += f"/{prefixlen}"
        else:
            text += " " + ipv6_text(
                ipaddress.IPv6Network(f"::/{prefixlen}").netmask, piaf, Notation.PIAF
            )
    return text


def ipv4_text(address: ipaddress.IPv4Address, prefixlen: int | None = None) -> str:
    """27.007 prints an IPv4 address with its mask as 8 dotted decimals."""
    if prefixlen is None:
        return str(address)
    return f"{address}.{ipaddress.IPv4Network(f'0.0.0.0/{prefixlen}').netmask}"
