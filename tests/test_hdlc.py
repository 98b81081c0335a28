"""RFC 1662 framing: byte fixtures, drop reasons, property tests and scapy as an oracle.

Three independent views are checked against each other: ``netstack.hdlc`` (fast),
``netstack.hdlc_reference`` (octet at a time, straight from the RFC) and scapy's PPP
layers, with an FCS computed bit by bit in this file.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.ppp import (
    HDLC,
    PPP,
    PPP_LCP_ACCM_Option,
    PPP_LCP_Configure,
    PPP_LCP_Magic_Number_Option,
    PPP_LCP_MRU_Option,
    PPP_LCP_Option,
)

from netstack import fcs
from netstack import hdlc_reference as reference
from netstack.errors import UsageError
from netstack.hdlc import GOOD_FCS16, Deframer, DropReason, Frame, Framer, fcs16
from netstack.numbers import Protocol

FLAG = b"\x7e"
ALL_ACCM = 0xFFFFFFFF
FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=40, deadline=None)


# --- helpers --------------------------------------------------------------------------


def crc16_x25_bitwise(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/X-25 register, bit by bit: no table, no binascii (an independent FCS)."""
    for octet in data:
        crc ^= octet
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def with_fcs(body: bytes) -> bytes:
    """``body`` followed by its FCS, least significant octet first (RFC 1662 C.2)."""
    return body + (crc16_x25_bitwise(body) ^ 0xFFFF).to_bytes(2, "little")


def wire(body: bytes, accm: int = ALL_ACCM) -> bytes:
    """A frame on the wire around raw ``body`` (header included), with a good FCS."""
    return FLAG + reference.escape(with_fcs(body), accm) + FLAG


def drops(deframer: Deframer) -> dict[str, int]:
    """The non-zero drop counters, keyed by reason value, and frames saved from a peer
    that ignored our ACCM (as the reference counts them)."""
    counts = {reason.value: count for reason, count in deframer.drops.items() if count}
    if deframer.accm_ignored_by_peer:
        counts["accm_ignored_by_peer"] = deframer.accm_ignored_by_peer
    return counts


def feed_chunks(
    chunks: list[bytes], accm: int = ALL_ACCM, mru: int = 1500
) -> tuple[list[Frame], Deframer]:
    deframer = Deframer(accm=accm, mru=mru)
    frames: list[Frame] = []
    for chunk in chunks:
        frames += deframer.feed(chunk)
    return frames, deframer


def outcome(chunks: list[bytes], accm: int = ALL_ACCM) -> tuple[object, ...]:
    """Everything observable after feeding ``chunks``."""
    frames, deframer = feed_chunks(chunks, accm)
    return frames, drops(deframer), deframer.frames, deframer.bytes, deframer.pending()


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in pairwise(bounds)]


# --- fixtures -------------------------------------------------------------------------

# pppd's first LCP Configure-Request (id 1: asyncmap 0, magic 0x5d58cf41, pcomp, accomp)
# as it appears on the wire, from the Zephyr PPP driver tests (ppp_recv_data1).
PPPD_LCP_CONFREQ_WIRE = bytes.fromhex(
    "7eff7d23c0217d217d217d207d347d227d267d207d207d207d207d257d265d58cf417d277d227d287d22c4c97e"
)
PPPD_LCP_CONFREQ_INFO = bytes.fromhex("010100140206000000000506 5d58cf41 0702 0802")

# An ICMPv6 Echo Request sent after ACCM 0 was negotiated: its FCS ends in an
# unescaped 0x11 (Zephyr PPP driver tests, ppp_recv_data8).
IPV6_ACCM0_WIRE = bytes.fromhex(
    "7eff7d230057607d207d207d207d207d2c3a40fe807d207d207d207d207d207d"
    "207d207d205efffe7d205344fe807d207d207d207d207d207d20a1416d45bf28"
    "7d25d1807d207d286c7d5e327d207d225b2c7d3d2520117e"
)
IPV6_ACCM0_INFO = bytes.fromhex(
    "60000000000c3a40 fe800000000000000000 5efffe005344 fe80000000000000"
    "a1416d45bf2805d1 8000086c7e320002 5b2c1d25"
)

IPV4_ECHO = bytes(IP(src="192.0.2.1", dst="198.51.100.7") / ICMP(id=7, seq=1) / b"ping")


# --- FCS (RFC 1662 C.2) ---------------------------------------------------------------


def test_fcs16_check_value_crc16_x25() -> None:
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E
    assert reference.pppfcs16(0xFFFF, b"123456789") ^ 0xFFFF == 0x906E
    assert crc16_x25_bitwise(b"123456789") ^ 0xFFFF == 0x906E


def test_fcs16_runs_over_pieces_and_leaves_the_good_residue() -> None:
    assert fcs16(b"56789", fcs16(b"1234")) == fcs16(b"123456789")
    assert fcs16(with_fcs(b"\xff\x03\xc0\x21hello")) == GOOD_FCS16
    assert fcs16(b"") == 0xFFFF


@FAST
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_fcs16_matches_bitwise_and_table(data: bytes, start: int) -> None:
    assert fcs16(data, start) == crc16_x25_bitwise(data, start)
    assert fcs16(data, start) == reference.pppfcs16(start, data)
    assert fcs.hqx_fcs16(data, start) == fcs16(data, start)  # the fallback without fastcrc


@FAST
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_trailer_and_check_agree_with_the_fallback(data: bytes, flip: int) -> None:
    trailer = fcs.fcs_trailer(data)
    assert trailer == fcs.hqx_trailer(data) == with_fcs(data)[len(data) :]
    assert fcs.has_good_fcs(data + trailer) and fcs.hqx_has_good_fcs(data + trailer)
    damaged = data + (int.from_bytes(trailer, "little") ^ (flip or 1)).to_bytes(2, "little")
    assert not fcs.has_good_fcs(damaged) and not fcs.hqx_has_good_fcs(damaged)


def test_fast_fcs_is_in_use() -> None:
    """pyproject.toml asks for fastcrc: the fast FCS must be the one running here."""
    assert fcs.FAST_FCS


# --- byte fixtures --------------------------------------------------------------------


def test_pppd_lcp_configure_request_encodes_byte_for_byte() -> None:
    # Even with ACCM 0, ACFC and PFC negotiated, a Configure-Request goes out uncompressed
    # with every control character escaped (RFC 1661 section 5 and 6.5/6.6).
    framer = Framer(accm=0, acfc=True, pfc=True)
    assert framer.encode(Protocol.LCP, PPPD_LCP_CONFREQ_INFO) == PPPD_LCP_CONFREQ_WIRE
    assert Framer().encode(Protocol.LCP, PPPD_LCP_CONFREQ_INFO) == PPPD_LCP_CONFREQ_WIRE


def test_pppd_lcp_configure_request_decodes() -> None:
    deframer = Deframer()
    assert deframer.feed(PPPD_LCP_CONFREQ_WIRE) == [Frame(Protocol.LCP, PPPD_LCP_CONFREQ_INFO)]
    assert (deframer.frames, deframer.bytes, drops(deframer)) == (1, 45, {})


def test_unescaped_control_octet_kept_with_receive_accm_0() -> None:
    # The peer was told ACCM 0, so its raw 0x11 in the FCS is data.
    assert Deframer(accm=0).feed(IPV6_ACCM0_WIRE) == [Frame(Protocol.IPV6, IPV6_ACCM0_INFO)]
    deframer = Deframer()
    deframer.accm = 0  # as the link assigns it when LCP opens
    assert deframer.feed(IPV6_ACCM0_WIRE) == [Frame(Protocol.IPV6, IPV6_ACCM0_INFO)]


def test_peer_ignoring_our_receive_accm_is_kept() -> None:
    # RFC 1662 4.2: a 0x11 flagged in our receive ACCM is removed as DCE-inserted, so
    # this frame (sent by a peer assuming ACCM 0) fails its FCS; pppd drops it. Checked
    # again with the 0x11 kept it passes: delivered, and counted.
    deframer = Deframer()
    assert deframer.feed(IPV6_ACCM0_WIRE) == [Frame(Protocol.IPV6, IPV6_ACCM0_INFO)]
    assert drops(deframer) == {"accm_ignored_by_peer": 1}
    assert reference.decode_counting(IPV6_ACCM0_WIRE) == (
        [(Protocol.IPV6, IPV6_ACCM0_INFO)],
        {"accm_ignored_by_peer": 1},
    )


def test_frame_bad_either_way_is_dropped_once() -> None:
    corrupted = IPV6_ACCM0_WIRE[:5] + bytes((IPV6_ACCM0_WIRE[5] ^ 1,)) + IPV6_ACCM0_WIRE[6:]
    deframer = Deframer()
    assert deframer.feed(corrupted) == []
    assert drops(deframer) == {"bad_fcs": 1}


def test_xon_xoff_inserted_by_the_dce_are_deleted() -> None:
    frame = Framer().encode(Protocol.IPV4, IPV4_ECHO)
    # XON/XOFF sprinkled in, including between a Control Escape and its octet.
    noisy = frame[:3] + b"\x11" + frame[3:8] + b"\x13\x11" + frame[8:]
    escape_at = noisy.index(b"\x7d", 1)
    noisy = noisy[: escape_at + 1] + b"\x13" + noisy[escape_at + 1 :]
    assert Deframer(accm=0x000A0000).feed(noisy) == [Frame(Protocol.IPV4, IPV4_ECHO)]
    deframer = Deframer(accm=0)  # not in our receive ACCM: they are data, FCS fails
    assert deframer.feed(noisy) == []
    assert drops(deframer) == {"bad_fcs": 1}


# --- decoder rules --------------------------------------------------------------------


def test_one_flag_closes_a_frame_and_opens_the_next() -> None:
    first = wire(b"\xff\x03\x00\x21" + IPV4_ECHO)
    second = wire(b"\xff\x03\xc0\x21\x09\x01\x00\x08abcd")
    deframer = Deframer()
    assert deframer.feed(first[:-1] + second) == [
        Frame(0x21, IPV4_ECHO),
        Frame(Protocol.LCP, b"\x09\x01\x00\x08abcd"),
    ]
    assert drops(deframer) == {}


def test_empty_frames_are_time_fill_not_drops() -> None:
    deframer = Deframer()
    assert deframer.feed(FLAG * 5 + wire(b"\x21abc") + FLAG * 3) == [Frame(0x21, b"abc")]
    assert drops(deframer) == {}


def test_compressed_fields_accepted_without_negotiation() -> None:
    # Neoway N717: sends ACFC/PFC-compressed frames before (without) negotiating them.
    deframer = Deframer(accm=0)
    for acfc, pfc in [(True, False), (False, True), (True, True)]:
        framed = Framer(accm=0, acfc=acfc, pfc=pfc).encode(Protocol.IPV4, IPV4_ECHO)
        assert deframer.feed(framed) == [Frame(Protocol.IPV4, IPV4_ECHO)]
    assert deframer.feed(wire(b"\x80\x21\x01\x01\x00\x04")) == [Frame(0x8021, b"\x01\x01\x00\x04")]


def test_empty_information_field_with_valid_fcs_lwip_regression() -> None:
    deframer = Deframer()
    assert deframer.feed(wire(b"\xff\x03\xc0\x21")) == [Frame(Protocol.LCP, b"")]
    assert deframer.feed(wire(b"\x00\x21")) == [Frame(0x21, b"")]
    assert drops(deframer) == {}


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (FLAG + reference.escape(b"\xff\x03\x00\x21abc\x12\x34", ALL_ACCM) + FLAG, "bad_fcs"),
        (b"\x7e\xff\x03\x00\x7e", "runt"),
        (b"\x7e\x7d\x5e\x01\x7e", "runt"),
        (wire(b"\xff\x03\x00\x21abc")[:-1] + b"\x7d\x7e", "aborted"),
        (b"\x7e\x7d\x7e", "aborted"),
        (wire(b"\xff\x03\x00\x21" + bytes(1501)), "too_long"),
        (b"CONNECT 115200\r\n\x7e", "garbage"),
        (wire(b"\xff\x05\x00\x21abc"), "bad_header"),  # control field not UI
        (wire(b"\xff\x03"), "bad_header"),  # no protocol field at all
        (wire(b"\xff\x03\x02\x00abc"), "bad_header"),  # last protocol octet even
        (wire(b"\xff\x03\x00"), "bad_header"),  # even first octet, nothing after
    ],
)
def test_each_drop_reason_is_counted(stream: bytes, reason: str) -> None:
    deframer = Deframer()
    assert deframer.feed(stream) == []
    assert drops(deframer) == {reason: 1}
    assert reference.decode_counting(stream) == ([], {reason: 1})


def test_mru_limit_never_below_1500() -> None:
    info = bytes(1500)
    framed = wire(b"\x00\x21" + info)
    assert Deframer(mru=576).feed(framed) == [Frame(0x21, info)]  # RFC 1661 6.1
    big = wire(b"\x00\x21" + bytes(2000))
    assert Deframer(mru=2000).feed(big) == [Frame(0x21, bytes(2000))]
    deframer = Deframer(mru=1999)
    assert deframer.feed(big) == []
    assert drops(deframer) == {"too_long": 1}


def test_escaped_control_escape_and_abort_after_it() -> None:
    # 0x7D 0x7D is an escaped 0x7D (= 0x5D, any octet may be escaped); a third 0x7D
    # before the flag is the abort sequence (RFC 1662 4.2).
    body = with_fcs(b"\x21\x5d\x5d")
    escaped = body.replace(b"\x5d", b"\x7d\x7d")
    assert escaped.count(b"\x7d\x7d") >= 2
    deframer = Deframer(accm=0)
    assert deframer.feed(FLAG + escaped + FLAG) == [Frame(0x21, b"\x5d\x5d")]
    assert deframer.feed(FLAG + escaped + b"\x7d\x7d\x7d\x7e") == []
    assert drops(deframer) == {"aborted": 1}
    assert reference.decode_counting(FLAG + escaped + b"\x7d\x7d\x7d\x7e") == (
        [],
        {"aborted": 1},
    )


def test_garbage_counted_once_per_run_and_after_reset() -> None:
    deframer = Deframer()
    for octet in b"\r\nCONNECT 115200\r\n":
        deframer.feed(bytes((octet,)))
    assert deframer.pending() == b"\r\nCONNECT 115200\r\n"
    assert deframer.feed(wire(b"\x21x")) == [Frame(0x21, b"x")]
    assert drops(deframer) == {"garbage": 1}
    deframer.feed(b"more text, but framed now")
    deframer.reset()
    assert deframer.pending() == b""
    deframer.feed(b"OK\r\n")
    deframer.feed(b"AT\r\n" + wire(b"\x21y"))
    assert drops(deframer) == {"garbage": 2}


def test_pending_shows_no_carrier_after_the_last_flag() -> None:
    deframer = Deframer()
    deframer.feed(wire(b"\x21x") + b"\r\nNO CARRIER\r\n")
    assert deframer.pending() == b"\r\nNO CARRIER\r\n"


def test_counters_of_good_frames_and_raw_bytes() -> None:
    deframer = Deframer()
    stream = wire(b"\x21a") + wire(b"\x21b") + b"junk"
    deframer.feed(stream)
    assert (deframer.frames, deframer.bytes) == (2, len(stream))


# --- encoder rules --------------------------------------------------------------------


def test_lcp_echo_uses_the_negotiated_accm_but_never_compression() -> None:
    framer = Framer(accm=0, acfc=True, pfc=True)
    echo = b"\x09\x01\x00\x08\x00\x00\x00\x00"
    assert framer.encode(Protocol.LCP, echo) == FLAG + with_fcs(b"\xff\x03\xc0\x21" + echo) + FLAG


def test_lcp_codes_1_to_7_always_use_the_default_accm() -> None:
    framer = Framer(accm=0, acfc=True, pfc=True)
    for code in range(1, 8):
        info = bytes((code, 1, 0, 4))
        framed = framer.encode(Protocol.LCP, info)
        assert not any(octet < 0x20 for octet in framed)
        assert framed == reference.encode(Protocol.LCP, info, ALL_ACCM)


def test_pfc_only_for_one_octet_protocols() -> None:
    framer = Framer(accm=0, acfc=True, pfc=True)
    assert framer.encode(Protocol.IPV4, b"x")[1:3] == b"\x21x"
    assert framer.encode(Protocol.IPCP, b"x")[1:4] == b"\x80\x21x"


def test_no_compression_into_a_runt() -> None:
    # ACFC + PFC + empty information field would be 3 octets with the FCS, which every
    # receiver discards (RFC 1662 4.3): the Protocol field stays whole.
    framed = Framer(accm=0, acfc=True, pfc=True).encode(Protocol.IPV4, b"")
    assert framed == FLAG + with_fcs(b"\x00\x21") + FLAG
    assert Deframer(accm=0).feed(framed) == [Frame(Protocol.IPV4, b"")]


def test_accm_assignment_takes_effect() -> None:
    framer = Framer()
    assert b"\x7d\x20" in framer.encode(0x21, b"\x00")
    framer.accm = 0
    assert framer.encode(0x21, b"\x00") == FLAG + with_fcs(b"\xff\x03\x00\x21\x00") + FLAG


def test_misuse_raises_usage_error() -> None:
    with pytest.raises(UsageError):
        Framer().encode(0x0200, b"")  # last octet even (RFC 1661 section 2)
    with pytest.raises(UsageError):
        Framer().encode(0x10021, b"")
    with pytest.raises(UsageError):
        Framer(accm=1 << 32)
    with pytest.raises(UsageError):
        Deframer(accm=-1)
    with pytest.raises(UsageError):
        Deframer(mru=0)


# --- property tests -------------------------------------------------------------------

protocols = st.integers(0, 0xFFFF).filter(lambda p: p & 0x0101 == 0x0001)
accms = st.integers(0, ALL_ACCM)


@st.composite
def encoded_frames(draw: st.DrawFn) -> bytes:
    framer = Framer(accm=draw(accms), acfc=draw(st.booleans()), pfc=draw(st.booleans()))
    return framer.encode(draw(protocols), draw(st.binary(max_size=60)))


def special_bytes() -> st.SearchStrategy[bytes]:
    return st.sampled_from([b"\x7e", b"\x7d", b"\x7d\x7e", b"\x11", b"\x13", b"\xff\x03"])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Several frames, good and damaged, with garbage and special octets mixed in."""
    pieces = draw(
        st.lists(
            st.one_of(
                encoded_frames(),
                encoded_frames().map(lambda f: f[:-1]),  # shared flag
                encoded_frames().map(lambda f: f[: len(f) // 2]),  # cut short
                st.binary(max_size=12),
                special_bytes(),
            ),
            max_size=12,
        )
    )
    return b"".join(pieces)


@FAST
@given(streams(), st.lists(st.integers(0, 10_000), max_size=20), accms)
def test_any_chunking_gives_the_same_result(stream: bytes, cuts: list[int], accm: int) -> None:
    whole = outcome([stream], accm)
    assert outcome([stream[i : i + 1] for i in range(len(stream))], accm) == whole
    assert outcome(split_at(stream, cuts), accm) == whole


@FAST
@given(accms, st.booleans(), st.booleans(), protocols, st.binary(max_size=1500))
def test_encode_then_decode_is_the_identity(
    accm: int, acfc: bool, pfc: bool, protocol: int, info: bytes
) -> None:
    framed = Framer(accm=accm, acfc=acfc, pfc=pfc).encode(protocol, info)
    assert framed.startswith(FLAG) and framed.endswith(FLAG) and FLAG not in framed[1:-1]
    for receive_accm in (accm, 0):  # any receive ACCM the sender's ACCM covers
        deframer = Deframer(accm=receive_accm)
        assert deframer.feed(framed) == [Frame(protocol, info)]
        assert drops(deframer) == {}


@FAST
@given(accms, st.booleans(), st.booleans(), protocols, st.binary(max_size=200))
def test_encode_agrees_with_reference(
    accm: int, acfc: bool, pfc: bool, protocol: int, info: bytes
) -> None:
    framed = Framer(accm=accm, acfc=acfc, pfc=pfc).encode(protocol, info)
    assert framed == reference.encode(protocol, info, accm, acfc, pfc)


@FAST
@given(streams(), accms, st.sampled_from([1500, 40, 3000]))
def test_decode_agrees_with_reference(stream: bytes, accm: int, mru: int) -> None:
    frames, deframer = feed_chunks([stream], accm, mru)
    expected_frames, expected_drops = reference.decode_counting(stream, accm, mru)
    assert frames == [Frame(*frame) for frame in expected_frames]
    assert drops(deframer) == expected_drops
    assert deframer.frames == len(expected_frames)


@FAST
@given(st.lists(st.binary(max_size=200), max_size=10), accms, st.integers(1, 0xFFFF))
def test_feed_never_raises(chunks: list[bytes], accm: int, mru: int) -> None:
    deframer = Deframer(accm=accm, mru=mru)
    for chunk in chunks:
        for frame in deframer.feed(chunk):
            assert isinstance(frame, Frame)
    deframer.feed(bytearray(b"\x7e\x7d"))
    deframer.feed(memoryview(b"\x7e"))


@SLOW
@given(st.binary(min_size=1, max_size=700), st.booleans())
def test_memory_bound_on_endless_flag_free_input(noise: bytes, synced: bool) -> None:
    noise = noise.replace(FLAG, b"") or b"x"
    deframer = Deframer(mru=1500)
    bound = 2 * (1500 + 8) + 16
    if synced:
        deframer.feed(FLAG)
    for _ in range(3 * bound // len(noise) + 2):
        deframer.feed(noise)
        assert len(deframer.pending()) <= bound
    assert deframer.drops[DropReason.TOO_LONG] == (1 if synced else 0)
    assert deframer.drops[DropReason.GARBAGE] == (0 if synced else 1)
    assert deframer.feed(wire(b"\x21ok")) == [Frame(0x21, b"ok")]


def test_one_long_chunk_counts_too_long_like_many_small_ones() -> None:
    stream = FLAG + bytes(5000) + wire(b"\x21ok")
    assert outcome([stream]) == outcome([stream[:100], stream[100:]])
    assert outcome([stream])[1] == {"too_long": 1}


# --- scapy as an independent oracle ---------------------------------------------------


def lcp_configure_request() -> bytes:
    """What pppd sends first: MRU 1500, ACCM 0, magic number, PFC, ACFC."""
    options = bytes.fromhex("010405dc 020600000000 0506a1b2c3d4 0702 0802")
    return bytes((1, 0x2A)) + (4 + len(options)).to_bytes(2, "big") + options


@pytest.mark.parametrize("compress", [False, True])
def test_scapy_parses_our_lcp_configure_request(compress: bool) -> None:
    framed = Framer(accm=0, acfc=compress, pfc=compress).encode(
        Protocol.LCP, lcp_configure_request()
    )
    (body,) = reference.unframe(framed)
    packet = PPP(body)
    assert packet.haslayer(HDLC)  # never compressed for LCP
    assert packet[PPP].proto == 0xC021
    lcp = packet[PPP_LCP_Configure]
    assert (lcp.code, lcp.id, lcp.len) == (1, 0x2A, 24)
    assert [option.type for option in lcp.options] == [1, 2, 5, 7, 8]
    assert lcp[PPP_LCP_MRU_Option].max_recv_unit == 1500
    assert lcp[PPP_LCP_ACCM_Option].accm == 0
    assert lcp[PPP_LCP_Magic_Number_Option].magic_number == 0xA1B2C3D4


@pytest.mark.parametrize(
    ("acfc", "pfc"), [(False, False), (True, False), (False, True), (True, True)]
)
@pytest.mark.parametrize("accm", [0, ALL_ACCM, 0x000A0000])
def test_scapy_parses_our_ip_frames(acfc: bool, pfc: bool, accm: int) -> None:
    ipv6 = bytes(
        IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=1, data=b"\x7e\x7d")
    )
    for protocol, packet_bytes, layer in [(0x21, IPV4_ECHO, IP), (0x57, ipv6, IPv6)]:
        framed = Framer(accm=accm, acfc=acfc, pfc=pfc).encode(protocol, packet_bytes)
        (body,) = reference.unframe(framed, accm)
        assert body.startswith(b"\xff\x03") != acfc
        parsed = PPP(body)
        assert parsed[PPP].proto == protocol
        assert bytes(parsed[layer]) == packet_bytes
    parsed_ip = PPP(reference.unframe(Framer(accm=accm).encode(0x21, IPV4_ECHO), accm)[0])
    assert (parsed_ip[IP].src, parsed_ip[ICMP].type, parsed_ip[ICMP].seq) == ("192.0.2.1", 8, 1)


@pytest.mark.parametrize("accm", [0, ALL_ACCM])
def test_we_decode_frames_scapy_builds(accm: int) -> None:
    ip = IP(src="203.0.113.9", dst="198.51.100.1") / ICMP(type=0, id=0x7E7D) / b"\x00\x11\x13"
    lcp = PPP_LCP_Configure(
        id=3,
        options=[PPP_LCP_MRU_Option(max_recv_unit=1400), PPP_LCP_Option(type=7, len=2)],
    )
    cases = [
        (bytes(HDLC() / PPP(proto=0x21) / ip), Frame(0x21, bytes(ip))),
        (bytes(PPP(proto=b"\x21") / ip), Frame(0x21, bytes(ip))),  # ACFC + PFC
        (bytes(HDLC() / PPP(proto=0xC021) / lcp), Frame(0xC021, bytes(lcp))),
    ]
    deframer = Deframer(accm=accm)
    for body, expected in cases:
        assert deframer.feed(wire(body, accm)) == [expected]
    assert drops(deframer) == {}


@FAST
@given(
    st.integers(1, 0xFFFFFFFF),
    protocols,
    st.binary(max_size=300),
    st.lists(st.integers(0, 400), max_size=3),
)
def test_any_frame_from_a_peer_that_ignores_the_accm_arrives(
    receive_accm: int, protocol: int, info: bytes, xon_at: list[int]
) -> None:
    """A peer framing with ACCM 0 whatever we asked for: every frame arrives. Frames it
    really escaped, with XON/XOFF inserted on the way, still arrive by the fast path."""
    deframer = Deframer(accm=receive_accm)
    assert deframer.feed(Framer(accm=0).encode(protocol, info)) == [Frame(protocol, info)]
    assert deframer.drops[DropReason.BAD_FCS] == 0
    framed = Framer(accm=receive_accm).encode(protocol, info)
    for at in sorted(xon_at, reverse=True):
        at = 1 + at % (len(framed) - 1)
        framed = framed[:at] + b"\x11" + framed[at:]
    ignored_before = deframer.accm_ignored_by_peer
    if receive_accm >> 0x11 & 1:
        assert deframer.feed(framed) == [Frame(protocol, info)]
        assert deframer.accm_ignored_by_peer == ignored_before
