"""Reading what a modem prints about its sockets: comma-separated fields, numbers, hex
payloads and IP addresses in each vendor's notation.

Addresses: 3GPP TS 27.007 8.62 (+CGPIAF) lets a modem print an IPv6 address as 16
dot-separated decimal bytes (the default, ``+CGPIAF=0``) or in colon-hex, with or without
leading zeros and ``::`` compression; vendors add their own habits. Telit prints IPv6
"always in the dotted-decimal notation" in #SRECV, #SS and #PING, sometimes with a space
inside the quotes (Telit IP Easy User Guide 17.3, 17.4.4: ``" 32.1.7.0..."``); Quectel
and u-blox print colon-hex, upper or lower case (shared/reference/at-commands.md 3.4,
4.4). ``parse_address`` reads them all. We write addresses in the compressed colon form
(RFC 5952), which every profile here accepts in its open and send commands (at-commands.md
1.3, 2.4, 3.2, 4.3).

Contract: every function here takes the peer's text and returns None (or an empty
result) for what it cannot read; none raises.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_DECIMAL = re.compile(r"[0-9]{1,3}")
_NUMBER = re.compile(r"-?[0-9]{1,9}")
_COLON_HEX = re.compile(r"[0-9A-Fa-f:.]{2,45}")


def split_fields(text: str) -> list[str]:
    """``text`` cut at the commas outside double quotes, each field stripped of spaces
    (quotes kept: ``unquote`` removes them)."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return fields


def unquote(field: str) -> str:
    """A field without its surrounding double quotes and the spaces inside them."""
    field = field.strip()
    if len(field) >= 2 and field[0] == field[-1] == '"':
        field = field[1:-1]
    return field.strip()


def number(field: str) -> int | None:
    """A decimal integer field (quotes allowed), None when it is not one."""
    text = unquote(field)
    return int(text) if _NUMBER.fullmatch(text) else None


def value_after(line: str, prefix: str) -> str | None:
    """What follows ``prefix`` (``+SQNSRING:``) at the start of ``line``, compared
    without case; None when the line does not start with it."""
    if not line[: len(prefix)].upper() == prefix.upper():
        return None
    return line[len(prefix) :].strip()


def parse_hex(text: str) -> bytes | None:
    """A payload printed in hex mode, two characters an octet, either case (Sequans
    ``<recvDataMode>`` 1, Telit #SCFGEXT ``<recvDataMode>`` 1, u-blox ``+UDCONF=1,1``,
    Quectel ``+QICFG="dataformat"``); None when it is not that."""
    text = unquote(text)
    return bytes.fromhex(text) if _HEX.fullmatch(text) else None


def parse_address(field: str) -> IPv6Address | IPv4Address | None:
    """An address as a modem prints it: IPv6 in colon-hex (any case, compressed or not),
    IPv6 as 16 dotted decimal bytes (27.007 +CGPIAF format 0), or IPv4; quotes and spaces
    inside them allowed. None for anything else."""
    text = unquote(field)
    parts = text.split(".")
    if len(parts) in (4, 16) and all(_DECIMAL.fullmatch(part) for part in parts):
        octets = [int(part) for part in parts]
        if max(octets) > 255:
            return None
        return IPv4Address(bytes(octets)) if len(octets) == 4 else IPv6Address(bytes(octets))
    if ":" not in text or not _COLON_HEX.fullmatch(text):
        return None
    try:
        return IPv6Address(text)
    except ValueError:
        return None


def format_address(address: IPv6Address) -> str:
    """The address as we write it in a command: RFC 5952 compressed, lower case."""
    return str(address)
