"""A plain, octet-at-a-time RFC 1662 framer: the oracle for ``hdlc`` in tests.

Written straight from the RFC and nothing else: the FCS table and ``pppfcs16`` of
RFC 1662 C.2, escaping one octet at a time (section 4.2, ACCM of section 7.1) and a
receive state machine that looks at one octet at a time (sections 4.1-4.3). It is slow
on purpose (the benchmark baseline) and must stay obviously correct; ``hdlc`` must
behave the same for every frame, good or bad.

Call order: ``encode`` builds one frame; ``decode`` (or ``decode_counting``, which also
counts drops by the same reason names as ``hdlc.DropReason``) reads a whole byte stream;
``unframe`` only removes flags, escapes and the FCS, leaving the header unparsed.
"""

from __future__ import annotations

FLAG = 0x7E
ESCAPE = 0x7D
PPPINITFCS16 = 0xFFFF
PPPGOODFCS16 = 0xF0B8
LCP = 0xC021


def _fcs_table() -> tuple[int, ...]:
    """RFC 1662 C.2 (generated as in C.1): the FCS of each single octet."""
    table = []
    for octet in range(256):
        value = octet
        for _ in range(8):
            value = (value >> 1) ^ 0x8408 if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


FCSTAB = _fcs_table()


def pppfcs16(fcs: int, data: bytes) -> int:
    """RFC 1662 C.2 ``pppfcs16``: run the FCS register over ``data``."""
    for octet in data:
        fcs = (fcs >> 8) ^ FCSTAB[(fcs ^ octet) & 0xFF]
    return fcs


def escape(data: bytes, accm: int) -> bytes:
    """RFC 1662 4.2/7.1: escape Flag, Control Escape and the control octets in ``accm``."""
    out = bytearray()
    for octet in data:
        if octet in (FLAG, ESCAPE) or (octet < 0x20 and accm >> octet & 1):
            out += bytes((ESCAPE, octet ^ 0x20))
        else:
            out.append(octet)
    return bytes(out)


def encode(
    protocol: int, info: bytes, accm: int = 0xFFFFFFFF, acfc: bool = False, pfc: bool = False
) -> bytes:
    """One frame with an opening and a closing flag.

    LCP is never compressed (RFC 1661 6.5/6.6) and LCP codes 1..7 use the default ACCM
    (RFC 1661 section 5, as Linux ppp_async does).
    """
    if protocol == LCP:
        acfc = pfc = False
        if info and 1 <= info[0] <= 7:
            accm = 0xFFFFFFFF
    frame = bytearray()
    if not acfc:
        frame += bytes((0xFF, 0x03))
    # Not 0x00FF: one octet FF would read as the Address field. Not 3-octet frames (4.3).
    if pfc and protocol < 0xFF and (info or not acfc):
        frame.append(protocol)
    else:
        frame += bytes((protocol >> 8, protocol & 0xFF))
    frame += info
    fcs = pppfcs16(PPPINITFCS16, bytes(frame)) ^ 0xFFFF
    frame += bytes((fcs & 0xFF, fcs >> 8))  # least significant octet first
    return bytes((FLAG,)) + escape(bytes(frame), accm) + bytes((FLAG,))


class _Unescaper:
    """One frame being unescaped octet by octet (RFC 1662 4.2)."""

    def __init__(self) -> None:
        self.frame = bytearray()
        self.escaped = False

    def take(self, octet: int) -> None:
        if self.escaped:
            self.frame.append(octet ^ 0x20)
            self.escaped = False
        elif octet == ESCAPE:
            self.escaped = True
        else:
            self.frame.append(octet)

    def result(self) -> bytes | str:
        return "aborted" if self.escaped else bytes(self.frame)


Received = tuple[bytes | str, bytes | str | None]
"""A frame as received: with the ACCM's control characters deleted, and with them kept
(None when there were none to delete); each unescaped (FCS still on) or "aborted"."""


def _receive(stream: bytes, accm: int) -> list[Received | str]:
    """Each flag-terminated frame, or "garbage" (once, before the first flag)."""
    results: list[Received | str] = []
    hunting = True
    deleted, kept = _Unescaper(), _Unescaper()
    inserted = False
    for octet in stream:
        if octet == FLAG:
            if not hunting and (deleted.frame or deleted.escaped):
                results.append((deleted.result(), kept.result() if inserted else None))
            hunting = inserted = False
            deleted, kept = _Unescaper(), _Unescaper()
        elif hunting:
            if "garbage" not in results:  # the garbage before the first flag, counted once
                results.append("garbage")
        else:
            kept.take(octet)
            if octet < 0x20 and accm >> octet & 1:
                inserted = True  # inserted by the DCE: removed (RFC 1662 4.2)
            else:
                deleted.take(octet)
    return results


def _check(frame: bytes) -> bytes | str:
    """A received frame without its FCS, or why it is dropped."""
    if len(frame) < 4:
        return "runt"
    if pppfcs16(PPPINITFCS16, frame) != PPPGOODFCS16:
        return "bad_fcs"
    return frame[:-2]


def _parse(frame: bytes, mru: int) -> tuple[int, bytes] | str:
    """Address/Control (optional), Protocol (one octet when odd), Information."""
    if frame[:1] == b"\xff":
        if frame[1:2] != b"\x03":
            return "bad_header"
        frame = frame[2:]
    if len(frame) >= 1 and frame[0] % 2 == 1:
        protocol, info = frame[0], frame[1:]
    elif len(frame) >= 2 and frame[0] % 2 == 0 and frame[1] % 2 == 1:
        protocol, info = frame[0] * 256 + frame[1], frame[2:]
    else:
        return "bad_header"
    if len(info) > max(mru, 1500):
        return "too_long"
    return (protocol, info)


def unframe(stream: bytes, accm: int = 0xFFFFFFFF) -> list[bytes]:
    """The contents of every frame with a good FCS, FCS removed, header not parsed."""
    frames = []
    for received in _receive(stream, accm):
        if not isinstance(received, str) and isinstance(received[0], bytes):
            checked = _check(received[0])
            if isinstance(checked, bytes):
                frames.append(checked)
    return frames


def _decode_one(frame: bytes | str, mru: int) -> tuple[int, bytes] | str:
    checked = _check(frame) if isinstance(frame, bytes) else frame
    return _parse(checked, mru) if isinstance(checked, bytes) else checked


def decode_counting(
    stream: bytes, accm: int = 0xFFFFFFFF, mru: int = 1500
) -> tuple[list[tuple[int, bytes]], dict[str, int]]:
    """Good frames as (protocol, info), and the dropped ones counted by reason.

    A frame that fails its FCS (or is too short) with the ACCM's control characters
    deleted is tried with them kept (a peer that ignores the ACCM it agreed to); those
    saved are counted as "accm_ignored_by_peer".
    """
    frames: list[tuple[int, bytes]] = []
    counts: dict[str, int] = {}
    for received in _receive(stream, accm):
        if isinstance(received, str):
            result: tuple[int, bytes] | str = received
        else:
            result = _decode_one(received[0], mru)
            if result in ("bad_fcs", "runt") and received[1] is not None:
                as_sent = _decode_one(received[1], mru)
                if not isinstance(as_sent, str):
                    result = as_sent
                    counts["accm_ignored_by_peer"] = counts.get("accm_ignored_by_peer", 0) + 1
        if isinstance(result, str):
            counts[result] = counts.get(result, 0) + 1
        else:
            frames.append(result)
    return frames, counts


def decode(stream: bytes, accm: int = 0xFFFFFFFF, mru: int = 1500) -> list[tuple[int, bytes]]:
    """Good frames as (protocol, info)."""
    return decode_counting(stream, accm, mru)[0]
