"""Control packets and their Configuration Options (RFC 1661 sections 5 and 6).

LCP, IPCP and IPV6CP share one packet format: Code, Identifier, Length, Data. Options are
kept raw as ``(type, value)`` pairs so that a Configure-Reject can echo an option the peer
sent byte for byte (RFC 1661 5.4), whether or not we understand it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import MalformedPacket

_HEADER = struct.Struct("!BBH")
HEADER_LEN = _HEADER.size


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One LCP/NCP packet (RFC 1661 section 5)."""

    code: int
    identifier: int
    data: bytes

    @classmethod
    def parse(cls, raw: bytes) -> ControlPacket:
        if len(raw) < HEADER_LEN:
            raise MalformedPacket("control packet shorter than its header")
        code, identifier, length = _HEADER.unpack_from(raw)
        # RFC 1661 5: "Octets outside the range of the Length field are treated as padding
        # and are ignored"; a Length beyond the received bytes is malformed.
        if length < HEADER_LEN or length > len(raw):
            raise MalformedPacket(f"control packet Length {length} does not fit {len(raw)} bytes")
        return cls(code, identifier, bytes(raw[HEADER_LEN:length]))

    def emit(self) -> bytes:
        return _HEADER.pack(self.code, self.identifier, HEADER_LEN + len(self.data)) + self.data


Option = tuple[int, bytes]
"""A Configuration Option as on the wire: (type, value without the type/length octets)."""


def parse_options(data: bytes) -> list[Option]:
    """Split the Data field of a Configure-* packet into options; check every length."""
    options: list[Option] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise MalformedPacket("truncated option header")
        kind, length = data[offset], data[offset + 1]
        if length < 2 or offset + length > len(data):
            raise MalformedPacket(f"option {kind} has bad length {length}")
        options.append((kind, bytes(data[offset + 2 : offset + length])))
        offset += length
    return options


def emit_options(options: Iterable[Option]) -> bytes:
    return b"".join(bytes((kind, len(value) + 2)) + value for kind, value in options)


def has_valid_length(option: Option, lengths: Mapping[Any, int]) -> bool:
    """True if a known option has the fixed value length its RFC gives.

    ``lengths`` maps option type to value length (without type/length octets); an option
    not in the table is unknown, and the negotiator rejects it byte for byte.
    """
    kind, value = option
    return kind in lengths and len(value) == lengths[kind]


def judge_request(
    options: list[Option], judge: Callable[[Option], Option | None], reject_naks: bool
) -> tuple[int, list[Option]]:
    """The reply to a Configure-Request, given a judge of single options.

    ``judge`` returns the option itself (acceptable), a replacement (to Nak) or None (to
    Reject). RFC 1661 5.3/5.4: a Reject lists only the rejected options and takes
    precedence over a Nak, which lists only the Nak'd ones; with ``reject_naks``
    (Max-Failure reached, RFC 1661 4.6) what would be Nak'd is Rejected.
    """
    rejects: list[Option] = []
    naks: list[Option] = []
    for option in options:
        verdict = judge(option)
        if verdict is None or (verdict != option and reject_naks):
            rejects.append(option)
        elif verdict != option:
            naks.append(verdict)
    if rejects:
        return 4, rejects  # Configure-Reject
    if naks:
        return 3, naks  # Configure-Nak
    return 2, options  # Configure-Ack
