"""PPP in HDLC-like framing over an asynchronous serial line (RFC 1662), fast.

What lives here: the octet-stuffing transparency of RFC 1662 section 4.2 with the
Async-Control-Character-Map (ACCM, section 7.1), the frame format of section 3.1 with its
FCS-16 (section C.2, computed in ``netstack.fcs``) and the compressed forms of the
Address/Control and Protocol fields (RFC 1661 sections 6.5 and 6.6). Of LCP it knows
only the sending rules: LCP packets are never compressed, and codes 1..7 are sent as if
nothing had been negotiated.

Call-order contract:

* ``Framer.encode(protocol, info)`` turns one PPP packet into the bytes to write to the
  serial line. ``accm``, ``acfc`` and ``pfc`` start at the RFC 1661/1662 defaults; the
  link assigns the values the peer acknowledged once LCP reaches Opened.
* ``Deframer.feed(data)`` takes raw serial bytes, in chunks of any size, and returns the
  good frames they complete. The same bytes give the same frames and counters however
  they are chunked. ``accm`` is OUR receive ACCM; ``mru`` OUR MRU; both may be assigned
  at any time. ``pending()`` shows the bytes after the last flag (where a modem's
  ``NO CARRIER`` text ends up after a hang-up). ``reset()`` starts hunting for a flag
  again, e.g. after the link went back to AT command mode.

Peer garbage never raises: bad frames are dropped and counted in ``Deframer.drops`` by
``DropReason``. Exceptions (``UsageError``) are for our own misuse: an invalid protocol
number handed to ``encode`` or an out-of-range ACCM/MRU.

One liberty beyond the RFC (and pppd): a frame that fails its FCS (or becomes a runt)
once the control characters in our receive ACCM were deleted is checked again with them
kept, for peers that send them raw although they agreed to escape them;
``accm_ignored_by_peer`` counts the frames saved so. Only failed frames pay for it.

Speed: everything that touches every octet runs in C (``bytes.replace``, ``split``,
``translate``, the FCS of ``netstack.fcs``); Python code runs per frame or per escape only.
``hdlc_reference`` is the plain octet-at-a-time version this module is checked against.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from itertools import accumulate, islice
from typing import NamedTuple

from .errors import UsageError
from .fcs import GOOD_FCS16, INIT_FCS16, fcs16, fcs_trailer, has_good_fcs

__all__ = ["GOOD_FCS16", "INIT_FCS16", "Deframer", "DropReason", "Frame", "Framer", "fcs16"]

FLAG = 0x7E
"""Flag Sequence (RFC 1662 3.1): begins and ends every frame."""
ESCAPE = 0x7D
"""Control Escape (RFC 1662 4.2): the next octet is XORed with 0x20."""
ALL_STATIONS = 0xFF
"""Address field (RFC 1662 3.1): All-Stations."""
UI = 0x03
"""Control field (RFC 1662 3.1): Unnumbered Information."""
LCP = 0xC021
DEFAULT_ACCM = 0xFFFFFFFF
"""RFC 1662 7.1: until LCP negotiates otherwise, all of 0x00-0x1F are escaped."""
DEFAULT_MRU = 1500
"""RFC 1661 6.1: the default Maximum-Receive-Unit."""

_FLAG = b"\x7e"
_ESCAPE = b"\x7d"
_HEADER = b"\xff\x03"
_MIN_FRAME = 4
"""RFC 1662 4.3 lists frames shorter than 4 octets (without flags) as invalid."""

_UNESCAPED = tuple(bytes((octet ^ 0x20,)) for octet in range(256))
"""The octet an escaped octet stands for (RFC 1662 4.2: XOR 0x20)."""


def _accm_octets(accm: int) -> list[int]:
    """The control characters (0x00-0x1F) whose bit is set in ``accm`` (RFC 1662 7.1)."""
    if not 0 <= accm <= 0xFFFFFFFF:
        raise UsageError(f"an ACCM is 32 bits, not {accm:#x}")
    return [octet for octet in range(32) if accm >> octet & 1]


def _escape_table(accm: int) -> tuple[tuple[bytes, bytes], ...]:
    """(octet, escaped octet) pairs to replace, in an order that never escapes twice.

    RFC 1662 4.2: Flag and Control Escape are always escaped. Control Escape goes first:
    every later replacement inserts a 0x7D that must stay as it is. The escaped forms of
    control characters (0x20-0x3F) are themselves never escaped.
    """
    pairs = [(b"\x7d", b"\x7d\x5d"), (b"\x7e", b"\x7d\x5e")]
    pairs += [(bytes((octet,)), bytes((ESCAPE, octet ^ 0x20))) for octet in _accm_octets(accm)]
    return tuple(pairs)


def _escape(data: bytes, table: tuple[tuple[bytes, bytes], ...]) -> bytes:
    # No "octet in data" pre-check: replace() returns its input unchanged when there is
    # nothing to replace, and scanning twice measured twice as slow.
    for octet, escaped in table:
        data = data.replace(octet, escaped)
    return data


_FULL_ESCAPES = _escape_table(DEFAULT_ACCM)


class DropReason(StrEnum):
    """Why the Deframer dropped a frame; counted, never raised."""

    BAD_FCS = "bad_fcs"
    """RFC 1662 C.2: the FCS residue is not GOOD_FCS16."""
    RUNT = "runt"
    """RFC 1662 4.3: fewer than 4 octets between flags (after unescaping)."""
    ABORTED = "aborted"
    """RFC 1662 4.2: Control Escape followed by the Flag (the abort sequence)."""
    TOO_LONG = "too_long"
    """Information field longer than max(MRU, 1500), or an endless unterminated frame."""
    GARBAGE = "garbage"
    """Bytes before the first flag ever seen, while hunting for sync (counted per run)."""
    BAD_HEADER = "bad_header"
    """Address/Control not FF 03, or a Protocol field that breaks RFC 1661 section 2."""


_RETRY_AS_SENT = (DropReason.BAD_FCS, DropReason.RUNT)
"""Drops that deleting a peer's raw control characters can cause: the FCS no longer
matches, or a short frame became shorter than 4 octets."""


class Frame(NamedTuple):
    """One good received frame: the PPP Protocol field and the Information field."""

    protocol: int
    info: bytes


def is_valid_protocol(protocol: int) -> bool:
    """RFC 1661 section 2: the last octet of a Protocol field is odd, all others even."""
    return 0 <= protocol <= 0xFFFF and protocol & 0x0101 == 0x0001


class Framer:
    """Encoder: one PPP packet in, its framed and escaped bytes out.

    ``accm`` (the peer's receive ACCM: octets we must escape), ``acfc`` and ``pfc`` are
    settable attributes; the link assigns the negotiated values when LCP opens.
    """

    def __init__(self, accm: int = DEFAULT_ACCM, acfc: bool = False, pfc: bool = False) -> None:
        self.accm = accm
        self.acfc = acfc
        self.pfc = pfc

    @property
    def accm(self) -> int:
        return self._accm

    @accm.setter
    def accm(self, accm: int) -> None:
        self._escapes = _escape_table(accm)
        self._accm = accm

    def encode(self, protocol: int, info: bytes) -> bytes:
        """Frame one packet: flag, escaped(address/control, protocol, info, FCS), flag.

        Both flags are always sent: RFC 1662 4.4.2 warns that without an opening flag,
        line noise sticks to the front of the next frame; two flags in a row are an
        empty frame, silently discarded (RFC 1662 4.1).
        """
        if not is_valid_protocol(protocol):
            raise UsageError(f"not a valid PPP protocol number: {protocol:#x}")
        if protocol == LCP:
            return self._encode_lcp(bytes(info))
        header = b"" if self.acfc else _HEADER
        if self.pfc and protocol < 0xFF and (info or not self.acfc):
            # RFC 1661 6.5: only protocols whose upper octet is zero can be compressed.
            # Compression is optional per packet: skip it where the frame would shrink
            # to 3 octets, which receivers must discard as too short (RFC 1662 4.3), and
            # for 0x00FF, which one octet would make look like the Address field (IANA
            # reserves 0x00FF: "compression inefficient").
            header += bytes((protocol,))
        else:
            header += protocol.to_bytes(2, "big")
        frame = header + info
        frame += fcs_trailer(frame)
        return b"".join((_FLAG, _escape(frame, self._escapes), _FLAG))

    def _encode_lcp(self, info: bytes) -> bytes:
        # RFC 1661 6.5/6.6: the Protocol and Address/Control fields MUST NOT be compressed
        # in any LCP packet. RFC 1661 section 5: codes 1..7 (Configure-*, Terminate-*,
        # Code-Reject) "are always sent as if no Configuration Options were negotiated",
        # so they stay readable when one end wrongly believes the link is open; Linux
        # ppp_async applies this to the ACCM too.
        frame = b"\xff\x03\xc0\x21" + info
        frame += fcs_trailer(frame)
        escapes = _FULL_ESCAPES if info and 1 <= info[0] <= 7 else self._escapes
        return b"".join((_FLAG, _escape(frame, escapes), _FLAG))


class Deframer:
    """Streaming decoder: raw serial bytes in, good frames out, drops counted.

    Any chunking of the input gives the same frames and counters. ``accm`` is our
    RECEIVE ACCM and ``mru`` our MRU; both are settable attributes.
    """

    def __init__(self, accm: int = DEFAULT_ACCM, mru: int = DEFAULT_MRU) -> None:
        self.accm = accm
        self.mru = mru
        self.frames = 0
        """Good frames returned so far."""
        self.bytes = 0
        """Raw serial bytes fed so far."""
        self.drops: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        """Dropped frames by reason; read-only for everyone else."""
        self.accm_ignored_by_peer = 0
        """Frames that passed their FCS only with the control characters of our receive
        ACCM kept: the peer sent them raw though asked to escape them."""
        self._tail = bytearray()
        self._hunting = True
        self._garbage_counted = False
        self._discarding = False

    @property
    def accm(self) -> int:
        return self._accm

    @accm.setter
    def accm(self, accm: int) -> None:
        self._deleted = bytes(_accm_octets(accm))
        self._accm = accm

    @property
    def mru(self) -> int:
        return self._mru

    @mru.setter
    def mru(self, mru: int) -> None:
        if not 1 <= mru <= 0xFFFF:
            raise UsageError(f"an MRU is 1..65535, not {mru}")
        # RFC 1661 6.1: even after negotiating a smaller MRU, implementations SHOULD
        # still be able to receive 1500-octet information fields.
        self._info_limit = max(mru, DEFAULT_MRU)
        # Every octet of a frame that fits (header 4, FCS 2) escaped, plus slack: an
        # unterminated tail longer than this can only be an overlong frame or noise.
        self._tail_limit = 2 * (self._info_limit + 8) + 16
        self._mru = mru

    def pending(self) -> bytes:
        """The raw bytes after the last flag, not yet part of a frame."""
        return bytes(self._tail)

    def pending_length(self) -> int:
        return len(self._tail)

    def pending_suffix(self, size: int) -> bytes:
        """The last ``size`` (or fewer) of ``pending()``, without copying the rest."""
        return bytes(self._tail[-size:])

    def reset(self) -> None:
        """Forget the partial frame and hunt for a flag again; counters are kept."""
        self._tail.clear()
        self._hunting = True
        self._garbage_counted = False
        self._discarding = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Take raw serial bytes; return the good frames they complete, in order."""
        return list(self.iter_frames(data))

    def iter_frames(self, data: bytes | bytearray | memoryview) -> Iterator[Frame]:
        """Like ``feed``, but each frame is decoded only when the caller asks for it, so a
        change of ``accm`` or ``mru`` made between two frames applies from the next one.

        The link needs this: the frame after the LCP Configure-Ack that opens LCP may be
        in the same read, already sent with the negotiated ACCM (RFC 1662 7.1). Consume
        the iterator to the end before feeding more.
        """
        data = bytes(data)  # no copy for bytes; frames must not share a caller's buffer
        self.bytes += len(data)
        if _FLAG not in data:
            self._extend_tail(data)
            return
        segments = data.split(_FLAG)
        frames: list[Frame] = []
        self._close_first(segments[0], frames)
        yield from frames
        for segment in segments[1:-1]:
            frames.clear()
            self._close(segment, frames)
            yield from frames
        self._extend_tail(segments[-1])

    def _extend_tail(self, data: bytes) -> None:
        """Keep ``data`` (no flag in it) as part of the unterminated frame, bounded."""
        if self._discarding or not data:
            return
        if self._hunting and not self._garbage_counted:
            self._garbage_counted = True
            self.drops[DropReason.GARBAGE] += 1
        self._tail += data
        if len(self._tail) > self._tail_limit:
            # Memory bound: no frame that fits the MRU is this long, even fully escaped.
            self._tail.clear()
            self._discarding = True
            if not self._hunting:  # noise while hunting was counted as GARBAGE already
                self.drops[DropReason.TOO_LONG] += 1

    def _close_first(self, head: bytes, frames: list[Frame]) -> None:
        """The first flag of a chunk ends whatever came before it.

        RFC 1662 4.4.2: one flag may end a frame and begin the next.
        """
        if self._tail:
            head = bytes(self._tail) + head
            self._tail.clear()
        if self._hunting:
            # Before the first flag there is no frame to belong to: leftovers of AT
            # command mode or line noise.
            if head and not self._garbage_counted:
                self.drops[DropReason.GARBAGE] += 1
        elif not self._discarding:
            self._close(head, frames)
        self._hunting = self._garbage_counted = self._discarding = False

    def _close(self, raw: bytes, frames: list[Frame]) -> None:
        """One flag-delimited segment: a frame, inter-frame fill or a dropped frame."""
        if len(raw) > self._tail_limit:
            # The same verdict as when the segment arrived in pieces and the memory
            # bound cut it off in _extend_tail: chunking must not change the counters.
            self.drops[DropReason.TOO_LONG] += 1
            return
        as_sent = raw
        if self._deleted:
            # RFC 1662 4.2/7.1: control characters in our receive ACCM that arrive
            # unescaped "may have been inserted by intervening data communications
            # equipment" (e.g. XON/XOFF) and are removed before unescaping.
            raw = raw.translate(None, self._deleted)
        if not raw:
            return  # RFC 1662 4.1: an empty frame is silently discarded, not counted
        frame = _unescape(raw)
        if frame is None:
            self.drops[DropReason.ABORTED] += 1
            return
        result = self._check(frame)
        if result in _RETRY_AS_SENT and len(raw) != len(as_sent):
            result = self._check_as_sent(as_sent, result)
        if isinstance(result, DropReason):
            self.drops[result] += 1
            return
        self.frames += 1
        frames.append(result)

    def _check_as_sent(self, raw: bytes, reason: DropReason) -> Frame | DropReason:
        """The frame again with the deleted control characters kept.

        Some modems (ASR1603: Zephyr PR #89580) send control characters raw after
        agreeing to a receive ACCM that asks for them escaped; pppd with the default
        asyncmap then loses every frame, Echo-Replies included. We keep such a peer.
        """
        frame = _unescape(raw)
        result = reason if frame is None else self._check(frame)
        if isinstance(result, Frame):
            self.accm_ignored_by_peer += 1
            return result
        return reason

    def _check(self, frame: bytes) -> Frame | DropReason:
        """An unescaped frame with its FCS -> the Frame, or why it is dropped."""
        if len(frame) < _MIN_FRAME:
            return DropReason.RUNT
        if not has_good_fcs(frame):
            return DropReason.BAD_FCS
        parsed = _parse_header(frame, len(frame) - 2)
        if parsed is None:
            return DropReason.BAD_HEADER
        if len(parsed.info) > self._info_limit:
            return DropReason.TOO_LONG
        return parsed


def _unescape(raw: bytes) -> bytes | None:
    """RFC 1662 4.2: drop each Control Escape and XOR the next octet with 0x20.

    Returns None for the abort sequence, a Control Escape right before the closing flag
    (RFC 1662 4.2/4.3).
    """
    if _ESCAPE not in raw:
        return raw
    parts = raw.split(_ESCAPE)
    if not all(islice(parts, 1, None)):
        # An empty part: 0x7D 0x7D (an escaped 0x7D) or a 0x7D at the very end.
        return _unescape_exact(parts)
    # Every part but the first starts with an escaped octet, at the offsets where the
    # parts meet once joined: one XOR per escape, the copying done by join in C.
    joined = bytearray().join(parts)
    parts.pop()
    for offset in accumulate(map(len, parts)):
        joined[offset] ^= 0x20
    return bytes(joined)


def _unescape_exact(parts: list[bytes]) -> bytes | None:
    """The general case, walking the parts between Control Escapes one by one."""
    out = [parts[0]]
    escape_open = False  # the previous 0x7D started an escape that took no octet yet
    for part in islice(parts, 1, None):
        if escape_open:  # the 0x7D before this part is the escaped octet itself
            out += (_UNESCAPED[ESCAPE], part)
            escape_open = False
        elif part:
            out += (_UNESCAPED[part[0]], part[1:])
        else:
            escape_open = True
    return None if escape_open else b"".join(out)


def _parse_header(frame: bytes, end: int) -> Frame | None:
    """Address/Control and Protocol fields of ``frame[:end]``; None when invalid.

    Both compressions are accepted even when not negotiated: RFC 1661 6.5/6.6 say a
    receiver MAY discard such frames, not that it must (Neoway N717 modems compress
    without asking).
    """
    start = 0
    if frame[0] == ALL_STATIONS:
        if frame[1] != UI:
            return None
        start = 2
    if start >= end:
        return None
    first = frame[start]
    if first & 1:  # RFC 1661 6.5: an odd first octet is a one-octet Protocol field
        return Frame(first, frame[start + 1 : end])
    if start + 2 > end or not frame[start + 1] & 1:
        return None
    return Frame(first << 8 | frame[start + 1], frame[start + 2 : end])
