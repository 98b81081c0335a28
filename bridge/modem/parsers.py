"""Pure parsers of the modem's information lines, liberal in what they read.

Each takes lines as ``netstack.at.AtChannel`` gives them (framing gone, spaces around the
line trimmed) and returns a small value, or None when the line is not what it should be:
peer garbage never raises. Liberal as ModemManager's ``mm-modem-helpers.c``: prefixes in
any case, with or without the space after the colon, quoted or bare strings, extra fields
at the end (``--messy`` modems add the 27.007 mode-3 cause fields to every +CEREG).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import TypeVar

from netstack.atsocket_text import parse_address

T = TypeVar("T")

_NUMBER = re.compile(r"[0-9]{1,9}")
_IMEI = re.compile(r"(?<![0-9])([0-9]{15})(?![0-9])")
"""3GPP TS 23.003 6.2.1: 15 digits (the 16-digit IMEISV is not an IMEI)."""
_ICCID = re.compile(r"(?<![0-9])(89[0-9]{16,20})[Ff]?(?![0-9])")
"""ITU-T E.118: the telecom industry identifier 89, then up to 20 digits in all; some
SIMs pad an odd count with F."""


# --------------------------------------------------------------------- fields
def value_after(line: str, prefix: str) -> str | None:
    """The text after ``prefix`` (``+CSQ``) and its colon; None if the line has another."""
    head = prefix.rstrip(":").upper()
    if not line.upper().startswith(head):
        return None
    rest = line[len(head) :].lstrip()
    if not rest.startswith(":"):
        return None
    return rest[1:].strip()


def split_fields(text: str) -> list[str]:
    """Comma-separated fields, stripped; a quoted field keeps its quotes and commas."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for character in text:
        if character == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
            continue
        if character == '"':
            quoted = not quoted
        current.append(character)
    fields.append("".join(current).strip())
    return fields


def unquote(field: str) -> str:
    field = field.strip()
    if len(field) >= 2 and field[0] == field[-1] == '"':
        return field[1:-1]
    return field


def number(field: str) -> int | None:
    """An unquoted decimal field, or None."""
    field = field.strip()
    return int(field) if _NUMBER.fullmatch(field) else None


# -------------------------------------------------------------- registration
REGISTERED = frozenset({1, 5, 9, 10})
"""27.007 7.2 <stat> with packet service: home, roaming, and (E-UTRAN) home or roaming
"CSFB not preferred". 6 and 7 (SMS only) carry no data."""
ROAMING = frozenset({5, 7, 10})
DENIED = 3
STAT_NAMES = {
    0: "not registered, not searching",
    1: "registered, home network",
    2: "searching",
    3: "registration denied",
    4: "unknown",
    5: "registered, roaming",
    6: "registered for SMS only, home network",
    7: "registered for SMS only, roaming",
    8: "emergency services only",
    9: "registered, home network (CSFB not preferred)",
    10: "registered, roaming (CSFB not preferred)",
}
"""27.007 7.2 and 10.1.22 <stat>."""


@dataclass(frozen=True, slots=True)
class Registration:
    """One +CREG/+CGREG/+CEREG line: a read-command answer or a URC (27.007 7.2, 10.1.20,
    10.1.22)."""

    command: str
    """``+CEREG``, ``+CGREG`` or ``+CREG``."""
    stat: int
    mode: int | None
    """<n> of the read form; None for a URC, which has none."""
    area: str | None = None
    """<lac> or <tac>, hex."""
    cell: str | None = None
    """<ci>, hex."""
    act: int | None = None
    """<AcT> (27.007 7.3)."""
    line: str = ""
    """The line as read, for messages."""

    @property
    def registered(self) -> bool:
        return self.stat in REGISTERED

    @property
    def roaming(self) -> bool:
        return self.stat in ROAMING

    @property
    def denied(self) -> bool:
        return self.stat == DENIED

    @property
    def meaning(self) -> str:
        return STAT_NAMES.get(self.stat, f"status {self.stat}")


def parse_registration(line: str, commands: Iterable[str]) -> Registration | None:
    """A registration line of one of ``commands``.

    The read form starts with <n>, the URC does not (27.007 10.1.22), and nothing else
    tells them apart: ``+CEREG: 2,1,"00C3",...`` is a read, ``+CEREG: 1,"00C3",...`` a
    URC. So the second field decides: a bare one- or two-digit number is a <stat> after
    <n>; a quoted, empty or longer one is the area code after <stat> (as nRF Connect SDK
    PR #2181 reads them).
    """
    for command in commands:
        text = value_after(line, command)
        if text is not None:
            return _registration(command, text, line)
    return None


def _registration(command: str, text: str, line: str) -> Registration | None:
    fields = split_fields(text)
    if len(fields) >= 2 and _NUMBER.fullmatch(fields[1]) and len(fields[1]) <= 2:
        mode, fields = number(fields[0]), fields[1:]
        if mode is None:
            return None
    else:
        mode = None
    stat = number(fields[0]) if fields else None
    if stat is None:
        return None
    area, cell, act = (fields[1:4] + ["", "", ""])[:3]
    return Registration(
        command=command,
        stat=stat,
        mode=mode,
        area=unquote(area) or None,
        cell=unquote(cell) or None,
        act=number(act),
        line=line,
    )


# -------------------------------------------------------------------- signal
@dataclass(frozen=True, slots=True)
class Signal:
    """Received signal, each value in dBm (dB for the qualities) or None when unknown."""

    rssi_dbm: int | None = None
    rsrp_dbm: int | None = None
    rsrq_db: float | None = None
    rscp_dbm: int | None = None
    ecno_db: float | None = None


def parse_csq(line: str) -> Signal | None:
    """``+CSQ: <rssi>,<ber>`` (27.007 8.5): rssi 0 is -113 dBm or less, 1 is -111, 2 to 30
    are -109 to -53 in steps of 2, 31 is -51 or more, 99 unknown."""
    text = value_after(line, "+CSQ")
    fields = [] if text is None else split_fields(text)
    rssi = number(fields[0]) if fields else None
    if rssi is None:
        return None
    return Signal(rssi_dbm=-113 + 2 * rssi if rssi <= 31 else None)


def parse_cesq(line: str) -> Signal | None:
    """``+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>`` (27.007 8.69), each value the
    bottom of its step: rxlev 0..63 from below -110 dBm; rscp 0..96 from below -120 dBm;
    ecno 0..49 from below -24 dB in 0.5 dB; rsrq 0..34 from below -19.5 dB in 0.5 dB;
    rsrp 0..97 from below -140 dBm (0 is "below", one step under the first edge). 99 and
    255 are "not known or not detectable"."""
    text = value_after(line, "+CESQ")
    values = [] if text is None else [number(f) for f in split_fields(text)]
    if len(values) < 6:
        return None
    rxlev, _ber, rscp, ecno, rsrq, rsrp = values[:6]
    return Signal(
        rssi_dbm=_step(rxlev, 63, lambda n: -111 + n),
        rscp_dbm=_step(rscp, 96, lambda n: -121 + n),
        ecno_db=_step(ecno, 49, lambda n: -24.5 + n / 2),
        rsrq_db=_step(rsrq, 34, lambda n: -20 + n / 2),
        rsrp_dbm=_step(rsrp, 97, lambda n: -141 + n),
    )


def _step(value: int | None, top: int, convert: Callable[[int], T]) -> T | None:
    return convert(value) if value is not None and 0 <= value <= top else None


# ----------------------------------------------------------------------- SIM
def parse_cpin(line: str) -> str | None:
    """``+CPIN: <code>`` (27.007 8.3): ``READY``, ``SIM PIN``, ``SIM PUK``..., upper case."""
    text = value_after(line, "+CPIN")
    if text is None:
        return None
    return " ".join(unquote(text).upper().split()) or None


def parse_iccid(lines: Iterable[str]) -> str | None:
    """The ICCID in any vendor's reply (``+CCID: 89...``, ``+SQNCCID: "89...",""``)."""
    for line in lines:
        match = _ICCID.search(line)
        if match is not None:
            return match.group(1)
    return None


# ---------------------------------------------------------------- PDP context
@dataclass(frozen=True, slots=True)
class PdpContext:
    """One ``+CGDCONT: <cid>,"<type>","<apn>",...`` line (27.007 10.1.1)."""

    cid: int
    pdp_type: str
    """Upper case: ``IP``, ``IPV6``, ``IPV4V6``."""
    apn: str


def parse_cgdcont(lines: Iterable[str]) -> tuple[PdpContext, ...]:
    contexts = []
    for line in lines:
        text = value_after(line, "+CGDCONT")
        fields = [] if text is None else split_fields(text)
        cid = number(fields[0]) if fields else None
        if cid is None or len(fields) < 2:
            continue
        apn = unquote(fields[2]) if len(fields) > 2 else ""
        contexts.append(PdpContext(cid, unquote(fields[1]).upper(), apn))
    return tuple(contexts)


# ------------------------------------------------------------- identification
def parse_identity(lines: Iterable[str], prefix: str) -> str | None:
    """The answer to +CGMI/+CGMM/+CGMR (27.007 5.1 to 5.3): the first line, without the
    ``+CGMI:`` (or vendor ``#CGMR:``) prefix some modems put before it, nor quotes."""
    for line in lines:
        text = line.strip()
        for head in (prefix, "#" + prefix.lstrip("+")):
            rest = value_after(text, head)
            if rest is not None:
                text = rest
                break
        text = unquote(text)
        if text:
            return text
    return None


def parse_imei(lines: Iterable[str]) -> str | None:
    """The IMEI in +CGSN's reply (27.007 5.4): bare or ``+CGSN: "<imei>"``, or ATI's
    ``IMEI: <imei>`` line (u-blox)."""
    for line in lines:
        match = _IMEI.search(line)
        if match is not None:
            return match.group(1)
    return None


@dataclass(frozen=True, slots=True)
class Identity:
    maker: str | None = None
    model: str | None = None
    firmware: str | None = None


_ATI_KEYS = {"manufacturer": "maker", "model": "model", "revision": "firmware"}


def parse_ati(lines: Iterable[str]) -> Identity:
    """ATI (V.250 6.1.3) says what the maker likes: ``Key: value`` lines (u-blox SARA),
    or maker, model and revision one a line (Quectel BG96, Sequans)."""
    found: dict[str, str] = {}
    bare: list[str] = []
    for line in lines:
        key, colon, value = line.partition(":")
        name = _ATI_KEYS.get(key.strip().lower()) if colon else None
        if name is not None:
            found.setdefault(name, value.strip())
        elif line.strip():
            bare.append(line.strip())
    for name, value in zip(("maker", "model", "firmware"), bare, strict=False):
        found.setdefault(name, value)
    return Identity(found.get("maker"), found.get("model"), found.get("firmware"))


def parse_edition(lines: Iterable[str], editions: Iterable[tuple[str, str]]) -> str | None:
    """What the first matching edition pattern means (Sequans ``LR5.1.1.0-39529``)."""
    text = "\n".join(lines)
    for pattern, meaning in editions:
        if re.search(pattern, text):
            return meaning
    return None


def parse_cops(line: str) -> tuple[str | None, int | None] | None:
    """``+COPS: <mode>[,<format>,<oper>[,<AcT>]]`` (27.007 7.3) -> (operator, AcT); the
    operator None when the modem names none (not registered), the AcT None when absent."""
    text = value_after(line, "+COPS")
    if text is None:
        return None
    fields = split_fields(text)
    if number(fields[0]) is None:
        return None
    operator = unquote(fields[2]) if len(fields) > 2 else ""
    act = number(fields[3]) if len(fields) > 3 else None
    return (operator or None, act)


# ------------------------------------------------------- the context's addresses
def _addresses(field: str) -> list[IPv4Address | IPv6Address]:
    """The addresses in a field as 27.007 prints them under any +CGPIAF setting: 4 or 16
    dotted decimal bytes (8 or 32 with the subnet mask after them, +CGCONTRDP's "local
    address and subnet mask"), colon-hex, ``addr/len``; several in one field separated
    by spaces (``"203.0.113.10 2001:db8:2::2"``, as some firmware prints +CGPADDR of an
    IPV4V6 context). What is not an address is skipped."""
    found = []
    for token in unquote(field).split():
        text = token.split("/")[0]
        parts = text.split(".")
        if len(parts) in (8, 32):
            text = ".".join(parts[: len(parts) // 2])
        address = parse_address(text)
        if address is not None and not address.is_unspecified:
            found.append(address)
    return found


def parse_cgpaddr(lines: Iterable[str], cid: int) -> tuple[IPv4Address | None, IPv6Address | None]:
    """27.007 10.1.14 ``+CGPADDR: <cid>[,<PDP_addr_1>[,<PDP_addr_2>]]``: the context's
    IPv4 and IPv6 addresses (an IPV4V6 context gives both; either may be absent, and the
    unspecified addresses some modems print for "none yet" count as absent)."""
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    for line in lines:
        text = value_after(line, "+CGPADDR")
        fields = [] if text is None else split_fields(text)
        if not fields or number(fields[0]) != cid:
            continue
        for field in fields[1:]:
            for address in _addresses(field):
                if isinstance(address, IPv4Address):
                    ipv4 = ipv4 or address
                else:
                    ipv6 = ipv6 or address
    return ipv4, ipv6


def parse_cgcontrdp_dns(lines: Iterable[str], cid: int) -> tuple[IPv4Address | IPv6Address, ...]:
    """27.007 10.1.23 ``+CGCONTRDP: <cid>,<bearer_id>,<apn>,<local_addr and subnet_mask>,
    <gw_addr>,<DNS_prim_addr>,<DNS_sec_addr>,...``, one line per address family: the DNS
    servers of context ``cid``, in order, without repeats or unspecified addresses."""
    found: list[IPv4Address | IPv6Address] = []
    for line in lines:
        text = value_after(line, "+CGCONTRDP")
        fields = [] if text is None else split_fields(text)
        if len(fields) < 6 or number(fields[0]) != cid:
            continue
        for field in fields[5:7]:
            found += [address for address in _addresses(field) if address not in found]
    return tuple(found)
