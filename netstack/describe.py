"""A PPP packet in pppd's words, for the ``-vv`` log: ``[LCP ConfReq id=0x1 <mru 1500>]``.

Mirrors pppd 2.4.9's debug output, so that a bridge log reads like the pppd logs people
know and can be compared with one line by line: ``format_packet`` (utils.c) frames it,
``[NAME`` ... ``]``, and each protocol's ``printpkt`` fills it in: LCP (lcp.c
``lcp_printpkt``), PAP (upap.c), CHAP (chap-new.c), IPCP (ipcp.c), IPV6CP (ipv6cp.c),
CCP (ccp.c; pppd's peers offer it and we Protocol-Reject it). The rules copied from there:

- ``CODE id=0xN`` first; a code without a name is ``code=0xN``.
- Configure-* list their options as ``<name value>``; what pppd does not decode, or an
  option of the wrong length, is shown as hex from its Type octet on (``< 0d 03 06>``);
  octets a known option has beyond its value follow it in hex (``<quality lqr 00 00 00 64>``).
- A Terminate-Request/Ack whose first octet is printable shows its reason as a C string
  (``"User request"``, pppd's ``print_string``); Echo and Discard show ``magic=0x...``.
- What no rule covers is hex, `` xx`` an octet (LCP cuts it after 32 octets with `` ...``);
  so do the octets after the Length field. A packet shorter than its header or its
  Length is ``[LCP]`` followed by all of it in hex.
- IP and IPv6 packets are ``[IP data]``/``[IPV6 data]`` and their first 8 octets;
  other protocols ``[proto=0xN]`` and the first 32.

Three liberties, all for safety: the PAP password is ``<hidden>`` (pppd's default,
``hide-password``), and a malformed Authenticate-Request is never shown in hex, since its
octets may be the password; pppd reads an IPCP DNS/NBNS option of fewer than 4 octets
past its end, shown here as hex instead; the text is cut at ``TEXT_LIMIT`` (pppd's log
line buffer). Peer garbage never raises: every read is bounds-checked.

Pure: bytes in, a string out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address

from .numbers import Protocol

TEXT_LIMIT = 1018
"""pppd formats a log line in 1024 octets; ``sent `` or ``rcvd `` take 5 of them."""
CCP = 0x80FD
"""Compression Control Protocol (RFC 1962): not run by us, but described."""
LQR = 0xC025
"""Link Quality Report (RFC 1989), as an LCP Quality-Protocol value."""
EAP = 0xC227
"""Extensible Authentication Protocol (RFC 3748), as an LCP Authentication-Protocol."""
_LCP_REST_LIMIT = 32
"""lcp_printpkt and format_packet show at most this many octets of leftovers in hex."""
_DATA_PREVIEW = 8
"""format_packet shows this many octets of an IP packet."""

OptionText = tuple[str, int] | None
"""What an option printer makes of a whole option (Type, Length, value): its text and
how many octets of the option that text covers (the rest follows in hex); None when
pppd prints nothing for it, and the whole option is hex."""
OptionPrinter = Callable[[bytes], OptionText]


def describe(protocol: int, info: bytes) -> str:
    """pppd's ``[...]`` text for one PPP packet: ``protocol`` and the Information field,
    as the deframer gives them. Never raises."""
    info = bytes(info)
    known = _PROTOCOLS.get(protocol)
    if known is not None:
        body, used = known.printer(info)
        text = f"[{known.name}{body}]" + _hex_limited(info[used:], _LCP_REST_LIMIT)
    elif protocol in _DATA_NAMES:
        preview = _hex(info[:_DATA_PREVIEW]) + (" ..." if len(info) > _DATA_PREVIEW else "")
        text = f"[{_DATA_NAMES[protocol]} data]{preview}"
    else:
        text = f"[proto=0x{protocol:x}]" + _hex_limited(info, _LCP_REST_LIMIT)
    return text[:TEXT_LIMIT]


def is_control(protocol: int) -> bool:
    """A protocol whose packets the ``-vv`` log shows: anything but IPv4 and IPv6 data
    (pppd never sees those: the kernel carries them)."""
    return protocol not in (Protocol.IPV4, Protocol.IPV6)


def is_echo(protocol: int, info: bytes) -> bool:
    """An LCP Echo-Request or Echo-Reply: pppd shows them only at ``debug debug``
    (utils.c ``dump_packet``), as the bridge does at ``-vvv``."""
    return protocol == Protocol.LCP and len(info) >= 1 and info[0] in (_ECHO_REQUEST, _ECHO_REPLY)


# ---------------------------------------------------------------- text helpers
def _hex(data: bytes) -> str:
    """pppd's ``%.*B`` and its `` %.2x`` loops: a space before each octet."""
    return "".join(f" {octet:02x}" for octet in data)


def _hex_limited(data: bytes, limit: int) -> str:
    return _hex(data[:limit]) + (" ..." if len(data) > limit else "")


def _string(data: bytes) -> str:
    """pppd's ``print_string``: a quoted C string, escapes for the rest (octal for
    octets outside printable ASCII), so no control character ever reaches a log."""
    out = ['"']
    for octet in data:
        if 0x20 <= octet <= 0x7E:
            out.append("\\" + chr(octet) if octet in _QUOTED else chr(octet))
        else:
            out.append(_C_ESCAPES.get(octet) or f"\\{octet:03o}")
    out.append('"')
    return "".join(out)


_QUOTED = frozenset(b'\\"')
_C_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def _u16(data: bytes, offset: int) -> int:
    return data[offset] << 8 | data[offset + 1]


def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "big")


def _code_name(code: int, names: tuple[str | None, ...]) -> str:
    name = names[code - 1] if 1 <= code <= len(names) else None
    return name if name is not None else f"code=0x{code:x}"


# ---------------------------------------------------------------- common layout
_CONFIGURE_CODES = (1, 2, 3, 4)  # Configure-Request/Ack/Nak/Reject (RFC 1661 5.1-5.4)
_TERMINATE_CODES = (5, 6)  # Terminate-Request/Ack (RFC 1661 5.5)
_ECHO_REQUEST, _ECHO_REPLY, _DISCARD_REQUEST = 9, 10, 11  # RFC 1661 5.8, 5.9
_IDENTIFICATION, _TIME_REMAINING = 12, 13  # RFC 1570 2.1, 2.2
_NCP_CODES = ("ConfReq", "ConfAck", "ConfNak", "ConfRej", "TermReq", "TermAck", "CodeRej")


@dataclass(frozen=True, slots=True)
class _Packet:
    """The header of a control packet that fits its Length (RFC 1661 5)."""

    code: int
    identifier: int
    body: bytes
    """The Data field: the octets after the header, up to Length."""

    @property
    def length(self) -> int:
        return 4 + len(self.body)


def _packet(info: bytes) -> _Packet | None:
    """None where pppd's printpkt returns 0: shorter than the header, or a Length that
    is under 4 or beyond the octets received."""
    if len(info) < 4:
        return None
    length = _u16(info, 2)
    if length < 4 or length > len(info):
        return None
    return _Packet(info[0], info[1], info[4:length])


def _options(body: bytes, table: Mapping[int, OptionPrinter]) -> tuple[str, int]:
    """pppd's option loop: `` <...>`` per option; stops at the first option whose
    length does not fit. Returns the text and the octets of ``body`` it covers."""
    parts = []
    offset = 0
    while len(body) - offset >= 2:
        length = body[offset + 1]
        if length < 2 or length > len(body) - offset:
            break
        option = body[offset : offset + length]
        printer = table.get(option[0])
        shown = printer(option) if printer is not None else None
        text, used = shown if shown is not None else ("", 0)
        parts.append(f" <{text}{_hex(option[used:])}>")
        offset += length
    return "".join(parts), offset


def _terminate_reason(body: bytes, space: str = " ") -> tuple[str, int]:
    """RFC 1661 5.5's Data, as pppd shows it: a string when it starts printable."""
    if body and 0x20 <= body[0] < 0x7F:
        return space + _string(body), len(body)
    return "", 0


# ---------------------------------------------------------------- LCP (lcp.c)
def _exact(length: int, render: Callable[[bytes], str]) -> OptionPrinter:
    """An option pppd decodes only at exactly ``length`` octets (Type and Length too)."""

    def printer(option: bytes) -> OptionText:
        return (render(option), length) if len(option) == length else None

    return printer


def _auth_protocol(option: bytes) -> OptionText:
    if len(option) < 4:
        return None
    protocol = _u16(option, 2)
    if protocol == Protocol.CHAP:
        algorithm = _CHAP_ALGORITHMS.get(option[4]) if len(option) > 4 else None
        if algorithm is not None:
            return f"auth chap {algorithm}", 5
        return "auth chap", 4
    names = {Protocol.PAP: "pap", EAP: "eap"}
    return "auth " + names.get(protocol, f"0x{protocol:x}"), 4


_CHAP_ALGORITHMS = {5: "MD5", 0x80: "MS", 0x81: "MS-v2"}  # RFC 1994, RFC 2433, RFC 2759


def _quality(option: bytes) -> OptionText:
    if len(option) < 4:
        return None
    protocol = _u16(option, 2)
    return "quality " + ("lqr" if protocol == LQR else f"0x{protocol:x}"), 4


def _callback(option: bytes) -> OptionText:
    if len(option) < 3:
        return None
    operation = option[2]
    return "callback " + ("CBCP" if operation == _CBCP else f"0x{operation:x}"), 3


_CBCP = 6  # pppd's CBCP_OPT


def _endpoint(option: bytes) -> OptionText:
    """RFC 1990 5.1.3 Endpoint Discriminator, as multilink.c ``epdisc_to_str``."""
    if len(option) < 3:
        return None
    kind, value = option[2], option[3 : 3 + _ENDPOINT_LIMIT]
    return f"endpoint [{_endpoint_text(kind, value)}]", 3 + len(value)


_ENDPOINT_LIMIT = 20  # pppd's MAX_ENDP_LEN
_ENDPOINT_CLASSES = ("null", "local", "IP", "MAC", "magic", "phone")


def _endpoint_text(kind: int, value: bytes) -> str:
    if kind == 0 and not value:
        return "null"
    if kind == 2 and len(value) == 4:
        return f"IP:{IPv4Address(value)}"
    group, separator = 1, "."
    if kind == 3 and len(value) == 6:
        separator = ":"
    elif kind == 4 and len(value) % 4 == 0:
        group = 4
    name = _ENDPOINT_CLASSES[kind] if kind < len(_ENDPOINT_CLASSES) else str(kind)
    groups = [value[i : i + group].hex() for i in range(0, len(value), group)]
    return name + (":" + separator.join(groups) if groups else "")


_LCP_OPTIONS: dict[int, OptionPrinter] = {
    1: _exact(4, lambda o: f"mru {_u16(o, 2)}"),
    2: _exact(6, lambda o: f"asyncmap 0x{_u32(o, 2):x}"),
    3: _auth_protocol,
    4: _quality,
    5: _exact(6, lambda o: f"magic 0x{_u32(o, 2):x}"),
    7: _exact(2, lambda o: "pcomp"),
    8: _exact(2, lambda o: "accomp"),
    13: _callback,
    17: _exact(4, lambda o: f"mrru {_u16(o, 2)}"),  # RFC 1990 5.1.1
    18: _exact(2, lambda o: "ssnhf"),  # RFC 1990 5.1.2
    19: _endpoint,
}
_LCP_CODES = (
    *_NCP_CODES,
    "ProtRej",
    "EchoReq",
    "EchoRep",
    "DiscReq",
    "Ident",
    "TimeRem",
)


def _lcp(info: bytes) -> tuple[str, int]:
    packet = _packet(info)
    if packet is None:
        return "", 0
    head = f" {_code_name(packet.code, _LCP_CODES)} id=0x{packet.identifier:x}"
    body, code = packet.body, packet.code
    text, used = "", 0
    if code in _CONFIGURE_CODES:
        text, used = _options(body, _LCP_OPTIONS)
    elif code in _TERMINATE_CODES:
        text, used = _terminate_reason(body)
    elif code in (_ECHO_REQUEST, _ECHO_REPLY, _DISCARD_REQUEST) and len(body) >= 4:
        text, used = f" magic=0x{_u32(body, 0):x}", 4
    elif code in (_IDENTIFICATION, _TIME_REMAINING):
        text, used = _lcp_identification(code, body)
    return head + text + _hex_limited(body[used:], _LCP_REST_LIMIT), packet.length


def _lcp_identification(code: int, body: bytes) -> tuple[str, int]:
    """RFC 1570: Magic-Number, for Time-Remaining the seconds, then a message; as
    lcp_printpkt, whatever follows a missing part is the message."""
    text, used = "", 0
    if len(body) >= 4:
        text, used = f" magic=0x{_u32(body, 0):x}", 4
    if code == _TIME_REMAINING:
        if len(body) - used < 4:
            return text, used
        text, used = text + f" seconds={_u32(body, used)}", used + 4
    if len(body) > used:
        text, used = text + " " + _string(body[used:]), len(body)
    return text, used


# ---------------------------------------------------------------- NCPs (ipcp.c, ipv6cp.c, ccp.c)
def _address(name: str) -> OptionPrinter:
    """An IPv4 address option (RFC 1332 3.3, RFC 1877); pppd does not check the length
    of the DNS and NBNS ones and would read past a short one: those are hex here."""

    def printer(option: bytes) -> OptionText:
        if len(option) < 6:
            return None
        return f"{name} {IPv4Address(option[2:6])}", 6

    return printer


def _ip_addresses(option: bytes) -> OptionText:
    """RFC 1332 3.1, the deprecated IP-Addresses: ours, then the peer's."""
    if len(option) != 10:
        return None
    return f"addrs {IPv4Address(option[2:6])} {IPv4Address(option[6:10])}", 10


def _ip_compression(option: bytes) -> OptionText:
    """RFC 1332 3.2; 0x0037 is the value of an early draft, pppd's ``old-VJ``."""
    if len(option) < 4:
        return None
    protocol = _u16(option, 2)
    names = {0x002D: "VJ", 0x0037: "old-VJ"}
    return "compress " + names.get(protocol, f"0x{protocol:x}"), 4


def _exact_address(option: bytes) -> OptionText:
    return (f"addr {IPv4Address(option[2:6])}", 6) if len(option) == 6 else None


_IPCP_OPTIONS: dict[int, OptionPrinter] = {
    1: _ip_addresses,
    2: _ip_compression,
    3: _exact_address,
    129: _address("ms-dns1"),
    130: _address("ms-wins"),
    131: _address("ms-dns2"),
    132: _address("ms-wins"),
}


def _interface_id(option: bytes) -> OptionText:
    """RFC 5072 4.1, as pppd's ``llv6_ntoa``: fe80:: and four full groups."""
    if len(option) != 10:
        return None
    value = option[2:].hex()
    return "addr fe80::" + ":".join(value[i : i + 4] for i in range(0, 16, 4)), 10


def _ipv6_compression(option: bytes) -> OptionText:
    return (f"compress 0x{_u16(option, 2):x}", 4) if len(option) >= 4 else None


_IPV6CP_OPTIONS: dict[int, OptionPrinter] = {1: _interface_id, 2: _ipv6_compression}


def _deflate(option: bytes) -> OptionText:
    """RFC 1979: window size and method in one octet, then the check method."""
    if len(option) < 4:
        return None
    draft = "(old#)" if option[0] == 24 else ""
    text = f"deflate{draft} {(option[2] >> 4) + 8}"
    if option[2] & 0x0F != 8:
        text += f" method {option[2] & 0x0F}"
    if option[3] != 0:
        text += f" check {option[3]}"
    return text, 4


def _bsd(option: bytes) -> OptionText:
    """RFC 1977: version and code size in one octet."""
    return (f"bsd v{option[2] >> 5} {option[2] & 0x1F}", 3) if len(option) >= 3 else None


def _mppe(option: bytes) -> OptionText:
    """RFC 3078 2.1 (mppe.h's bits): H in the first octet, the rest in the fourth."""
    if len(option) < 6:
        return None
    bits = option[2:6]
    flags = [("H", bits[0] & 0x01), ("M", bits[3] & 0x80), ("S", bits[3] & 0x40)]
    flags += [("L", bits[3] & 0x20), ("D", bits[3] & 0x10), ("C", bits[3] & 0x01)]
    text = "mppe " + " ".join(("+" if on else "-") + name for name, on in flags)
    if bits[0] & ~0x01 or bits[1] or bits[2] or bits[3] & ~0xF1:
        text += " +U (" + " ".join(f"{octet:02x}" for octet in bits) + ")"
    return text, 6


_CCP_OPTIONS: dict[int, OptionPrinter] = {
    1: lambda o: ("predictor 1", 2),
    2: lambda o: ("predictor 2", 2),
    18: _mppe,
    21: _bsd,
    24: _deflate,
    26: _deflate,
}
_CCP_CODES: tuple[str | None, ...] = (*_NCP_CODES, *(None,) * 6, "ResetReq", "ResetAck")


def _ncp(
    codes: tuple[str | None, ...], options: Mapping[int, OptionPrinter], reason_space: str = " "
) -> Callable[[bytes], tuple[str, int]]:
    """ipcp_printpkt, ipv6cp_printpkt, ccp_printpkt: LCP's layout without its extra
    codes; leftovers in hex without a limit (CCP puts no space before a reason)."""

    def printer(info: bytes) -> tuple[str, int]:
        packet = _packet(info)
        if packet is None:
            return "", 0
        head = f" {_code_name(packet.code, codes)} id=0x{packet.identifier:x}"
        text, used = "", 0
        if packet.code in _CONFIGURE_CODES:
            text, used = _options(packet.body, options)
        elif packet.code in _TERMINATE_CODES:
            text, used = _terminate_reason(packet.body, reason_space)
        return head + text + _hex(packet.body[used:]), packet.length

    return printer


# ---------------------------------------------------------------- PAP (upap.c), CHAP (chap-new.c)
_PAP_CODES = ("AuthReq", "AuthAck", "AuthNak")


def _pap(info: bytes) -> tuple[str, int]:
    packet = _packet(info)
    if packet is None:
        return "", 0
    head = f" {_code_name(packet.code, _PAP_CODES)} id=0x{packet.identifier:x}"
    body = packet.body
    if packet.code == 1:  # RFC 1334 2.2.1 Authenticate-Request
        return head + _pap_request(body), len(info)  # nothing after it: a password?
    text, used = "", 0
    if packet.code in (2, 3) and body and len(body) >= 1 + body[0]:  # RFC 1334 2.2.2
        text, used = " " + _string(body[1 : 1 + body[0]]), 1 + body[0]
    return head + text + _hex(body[used:]), packet.length


def _pap_request(body: bytes) -> str:
    if body and len(body) >= body[0] + 2 and len(body) >= body[0] + 2 + body[body[0] + 1]:
        user_end = 1 + body[0]
        rest = body[user_end + 1 + body[user_end] :]
        return f" user={_string(body[1:user_end])} password=<hidden>{_hex(rest)}"
    return f" <{len(body)} octets hidden>" if body else ""


_CHAP_CODES = ("Challenge", "Response", "Success", "Failure")


def _chap(info: bytes) -> tuple[str, int]:
    """chap_print_pkt: the value in hex (a challenge, or the MD5 of one: never the
    secret), then the name; it covers the whole Length even where it shows nothing."""
    packet = _packet(info)
    if packet is None:
        return "", 0
    head = f" {_code_name(packet.code, _CHAP_CODES)} id=0x{packet.identifier:x}"
    body, text = packet.body, ""
    if packet.code in (1, 2):  # RFC 1994 4.1 Challenge and Response
        if body and len(body) >= 1 + body[0]:
            value, name = body[1 : 1 + body[0]], body[1 + body[0] :]
            text = f" <{value.hex()}>, name = {_string(name)}"
    elif packet.code in (3, 4):  # RFC 1994 4.2 Success and Failure: a message
        text = " " + _string(body)
    else:
        text = _hex(body)
    return head + text, packet.length


# ---------------------------------------------------------------- the table
@dataclass(frozen=True, slots=True)
class _Described:
    name: str
    printer: Callable[[bytes], tuple[str, int]]
    """The protocol's printpkt: text for the packet, octets of ``info`` it covers."""


_PROTOCOLS: dict[int, _Described] = {
    Protocol.LCP: _Described("LCP", _lcp),
    Protocol.PAP: _Described("PAP", _pap),
    Protocol.CHAP: _Described("CHAP", _chap),
    Protocol.IPCP: _Described("IPCP", _ncp(_NCP_CODES, _IPCP_OPTIONS)),
    Protocol.IPV6CP: _Described("IPV6CP", _ncp(_NCP_CODES, _IPV6CP_OPTIONS)),
    CCP: _Described("CCP", _ncp(_CCP_CODES, _CCP_OPTIONS, reason_space="")),
}
_DATA_NAMES = {Protocol.IPV4: "IP", Protocol.IPV6: "IPV6", 0x00FD: "Compressed"}
"""format_packet names a packet of an NCP's data protocol after the NCP's data_name."""
