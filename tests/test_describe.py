"""pppd's words for PPP packets (``netstack.describe``), checked against pppd itself.

``REAL_PPPD`` holds lines of Debian's pppd 2.4.9 (``debug debug``) in the pppd VM's
console log, each with the packet it described, taken from a ``pppbridge simulate
--pcap`` capture of the same call (pppd dialling the simulator in the VM's client mode:
no authentication, PAP, CHAP, wrong passwords, ``--reject-ipv6cp``,
``--terminate-after``, ``--renegotiate-after``); one packet of each shape. The rest
follows pppd's sources (lcp.c, ipcp.c, ipv6cp.c, upap.c, chap-new.c, ccp.c, utils.c).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.describe import CCP, TEXT_LIMIT, describe, is_control, is_echo
from netstack.numbers import Protocol

LCP, PAP, CHAP = Protocol.LCP, Protocol.PAP, Protocol.CHAP
IPCP, IPV6CP = Protocol.IPCP, Protocol.IPV6CP

REAL_PPPD = """\
rcvd [LCP ConfReq id=0xa4 <asyncmap 0x0> <auth chap MD5> <magic 0xb2c1d030> <pcomp> <accomp>]
     c021 01a400190206000000000305c223050506b2c1d03007020802
sent [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x74cc23e> <pcomp> <accomp>]
     c021 010100140206000000000506074cc23e07020802
sent [LCP ConfAck id=0xa4 <asyncmap 0x0> <auth chap MD5> <magic 0xb2c1d030> <pcomp> <accomp>]
     c021 02a400190206000000000305c223050506b2c1d03007020802
rcvd [LCP ConfAck id=0x1 <asyncmap 0x0> <magic 0x74cc23e> <pcomp> <accomp>]
     c021 020100140206000000000506074cc23e07020802
sent [LCP EchoReq id=0x0 magic=0x74cc23e]
     c021 09000008074cc23e
rcvd [CHAP Challenge id=0x7b <6752eebed09b0e7ad8ce8000398e5c5b>, name = "pppbridge-sim"]
     c223 017b0022106752eebed09b0e7ad8ce8000398e5c5b7070706272696467652d73696d
sent [CHAP Response id=0x7b <fe4f3acc49a4febf0e88d583bff2d642>, name = "test"]
     c223 027b001910fe4f3acc49a4febf0e88d583bff2d64274657374
rcvd [LCP EchoRep id=0x0 magic=0xb2c1d030]
     c021 0a000008b2c1d030
rcvd [CHAP Success id=0x7b "Welcome"]
     c223 037b000b57656c636f6d65
sent [CCP ConfReq id=0x1 <deflate 15> <deflate(old#) 15> <bsd v1 15>]
     80fd 0101000f1a0478001804780015032f
sent [IPCP ConfReq id=0x1 <compress VJ 0f 01> <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>]
     8021 0101001c0206002d0f01030600000000810600000000830600000000
sent [IPV6CP ConfReq id=0x1 <addr fe80::8dd4:3d2c:61f2:89d7>]
     8057 0101000e010a8dd43d2c61f289d7
rcvd [LCP ProtRej id=0xe0 80 fd 01 01 00 0f 1a 04 78 00 18 04 78 00 15 03 2f]
     c021 08e0001580fd0101000f1a0478001804780015032f
rcvd [IPCP ConfReq id=0xbd <addr 203.0.113.1>]
     8021 01bd000a0306cb007101
sent [IPCP ConfAck id=0xbd <addr 203.0.113.1>]
     8021 02bd000a0306cb007101
sent [IPV6CP ConfAck id=0x6f <addr fe80::0000:0000:0000:0001>]
     8057 026f000e010a0000000000000001
rcvd [IPCP ConfRej id=0x1 <compress VJ 0f 01>]
     8021 0401000a0206002d0f01
sent [IPCP ConfReq id=0x2 <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>]
     8021 01020016030600000000810600000000830600000000
rcvd [IPV6CP ConfNak id=0x1 <addr fe80::0000:0000:0000:0002>]
     8057 0301000e010a0000000000000002
rcvd [IPCP ConfNak id=0x2 <addr 203.0.113.10> <ms-dns1 198.51.100.53> <ms-dns2 198.51.100.54>]
     8021 030200160306cb00710a8106c63364358306c6336436
rcvd [IPCP ConfAck id=0x3 <addr 203.0.113.10> <ms-dns1 198.51.100.53> <ms-dns2 198.51.100.54>]
     8021 020300160306cb00710a8106c63364358306c6336436
sent [LCP TermReq id=0x2 "User request"]
     c021 05020010557365722072657175657374
rcvd [LCP TermAck id=0x2]
     c021 06020004
rcvd [CHAP Failure id=0xb6 "Access denied"]
     c223 04b600114163636573732064656e696564
rcvd [LCP TermReq id=0x33 "authentication failed"]
     c021 0533001961757468656e7469636174696f6e206661696c6564
rcvd [LCP ConfReq id=0xe2 <asyncmap 0x0> <auth pap> <magic 0x7c965a36> <pcomp> <accomp>]
     c021 01e200180206000000000304c02305067c965a3607020802
sent [LCP ConfAck id=0xe2 <asyncmap 0x0> <auth pap> <magic 0x7c965a36> <pcomp> <accomp>]
     c021 02e200180206000000000304c02305067c965a3607020802
sent [PAP AuthReq id=0x1 user="test" password=<hidden>]
     c023 01010010047465737406736563726574
rcvd [PAP AuthAck id=0x1 "Login ok"]
     c023 0201000d084c6f67696e206f6b
rcvd [PAP AuthNak id=0x1 "Login incorrect"]
     c023 030100140f4c6f67696e20696e636f7272656374
rcvd [LCP ProtRej id=0xff 80 57 01 01 00 0e 01 0a 9c ab a7 fb c4 fd a5 82]
     c021 08ff001480570101000e010a9caba7fbc4fda582
rcvd [LCP ProtRej id=0x17 80 fd 01 02 00 0f 1a 04 78 00 18 04 78 00 15 03 2f]
     c021 0817001580fd0102000f1a0478001804780015032f
rcvd [LCP TermReq id=0xfd "network terminated the call"]
     c021 05fd001f6e6574776f726b207465726d696e61746564207468652063616c6c
"""
"""``sent``/``rcvd`` and pppd's text, then the protocol and the Information field in hex."""


def real_lines() -> list[tuple[str, int, bytes]]:
    lines = REAL_PPPD.splitlines()
    cases = []
    for text, packet in zip(lines[::2], lines[1::2], strict=True):
        protocol, info = packet.split()
        cases.append((text.split(" ", 1)[1], int(protocol, 16), bytes.fromhex(info)))
    return cases


@pytest.mark.parametrize(("expected", "protocol", "info"), real_lines())
def test_as_real_pppd_said_it(expected: str, protocol: int, info: bytes) -> None:
    assert describe(protocol, info) == expected


def packet(code: int, identifier: int, data: bytes | str) -> bytes:
    body = bytes.fromhex(data) if isinstance(data, str) else data
    return bytes((code, identifier)) + (4 + len(body)).to_bytes(2, "big") + body


# Each case: pppd's text as its sources make it, the protocol and the packet.
LCP_CASES = [
    ("[LCP ConfReq id=0x1 <mru 1500>]", packet(1, 1, "010405dc")),
    ("[LCP ConfNak id=0x2 <mru 1500> <asyncmap 0xa0000>]", packet(3, 2, "010405dc0206000a0000")),
    ("[LCP ConfRej id=0x3 <auth chap MS-v2>]", packet(4, 3, "0305c22381")),
    ("[LCP ConfReq id=0x4 <auth chap MS>]", packet(1, 4, "0305c22380")),
    ("[LCP ConfReq id=0x5 <auth chap 06>]", packet(1, 5, "0305c22306")),  # unknown algorithm
    ("[LCP ConfReq id=0x6 <auth chap>]", packet(1, 6, "0304c223")),
    ("[LCP ConfReq id=0x7 <auth eap> <auth 0x1234>]", packet(1, 7, "0304c22703041234")),
    ("[LCP ConfReq id=0x8 <quality lqr 00 00 00 64>]", packet(1, 8, "0408c02500000064")),
    ("[LCP ConfReq id=0x9 <quality 0xc027>]", packet(1, 9, "0404c027")),
    (
        "[LCP ConfReq id=0xa <callback CBCP> <callback 0x0 31 32>]",
        packet(1, 10, "0d03060d05003132"),
    ),
    ("[LCP ConfReq id=0xb <mrru 1600> <ssnhf>]", packet(1, 11, "110406401202")),
    ("[LCP ConfReq id=0xc <endpoint [null]>]", packet(1, 12, "130300")),
    ("[LCP ConfReq id=0xd <endpoint [IP:192.0.2.1]>]", packet(1, 13, "130702c0000201")),
    (
        "[LCP ConfReq id=0xe <endpoint [MAC:00:11:22:33:44:55]>]",
        packet(1, 14, "130903001122334455"),
    ),
    (
        "[LCP ConfReq id=0xf <endpoint [magic:01020304.05060708]>]",
        packet(1, 15, "130b040102030405060708"),
    ),
    ("[LCP ConfReq id=0x10 <endpoint [phone:31.32.33]>]", packet(1, 16, "130605313233")),
    ("[LCP ConfReq id=0x11 <endpoint [9:ab]>]", packet(1, 17, "130409ab")),
    (
        "[LCP ConfReq id=0x12 <endpoint [local:" + ".".join(["aa"] * 20) + "] bb>]",
        packet(1, 18, "131801" + "aa" * 20 + "bb"),
    ),  # value cut at 20 octets
    # Wrong lengths: pppd decodes nothing and shows the option from its Type on.
    (
        "[LCP ConfReq id=0x13 < 01 03 05> < 05 04 00 01> < 07 03 00>]",
        packet(1, 19, "01030505040001070300"),
    ),
    ("[LCP ConfReq id=0x14 < 13 02>]", packet(1, 20, "1302")),
    ("[LCP ConfReq id=0x19 < 04 03 c0> < 0d 02> < 03 03 c0>]", packet(1, 25, "0403c00d020303c0")),
    ("[LCP ConfReq id=0x15 < 20 04 ab cd> <pcomp>]", packet(1, 21, "2004abcd0702")),  # unknown
    # An option that does not fit ends the list; the rest is hex.
    ("[LCP ConfReq id=0x16 <pcomp> 08 09 00]", packet(1, 22, "0702080900")),
    ("[LCP ConfReq id=0x17 <pcomp> 08 01]", packet(1, 23, "07020801")),
    ("[LCP ConfReq id=0x18 <pcomp> 08]", packet(1, 24, "070208")),
    ('[LCP TermReq id=0x1 "a\\\\b\\"c\\n\\r\\t\\001\\351"]', packet(5, 1, b'a\\b"c\n\r\t\x01\xe9')),
    ("[LCP TermReq id=0x2 01 41]", packet(5, 2, "0141")),  # starts unprintable: hex
    ('[LCP TermAck id=0x3 "bye"]', packet(6, 3, b"bye")),
    ("[LCP CodeRej id=0x4 0e 01 00 04]", packet(7, 4, "0e010004")),
    ("[LCP EchoReq id=0x5 magic=0x0 68 69]", packet(9, 5, b"\0\0\0\0hi")),
    ("[LCP EchoRep id=0x6 magic=0x12345678]", packet(10, 6, "12345678")),
    ("[LCP EchoReq id=0x7 00 01]", packet(9, 7, "0001")),  # no room for the magic
    ("[LCP DiscReq id=0x8 magic=0x1]", packet(11, 8, "00000001")),
    ('[LCP Ident id=0x9 magic=0x1 "pppbridge"]', packet(12, 9, b"\0\0\0\1pppbridge")),
    ('[LCP Ident id=0xa "ab"]', packet(12, 10, b"ab")),
    ("[LCP Ident id=0x1a magic=0x1]", packet(12, 26, "00000001")),
    ('[LCP TimeRem id=0xb magic=0x1 seconds=60 "left"]', packet(13, 11, b"\0\0\0\1\0\0\0\x3cleft")),
    ("[LCP TimeRem id=0xc magic=0x1 00 00]", packet(13, 12, "000000010000")),
    ("[LCP TimeRem id=0xd 00]", packet(13, 13, "00")),
    ("[LCP code=0xe id=0xe 01 02]", packet(14, 14, "0102")),
    ("[LCP code=0x0 id=0xf]", packet(0, 15, "")),
    # Leftovers: at most 32 octets, then " ..."; after the Length, the same again.
    ("[LCP ProtRej id=0x1" + " 2a" * 32 + " ...]", packet(8, 1, bytes([0x2A] * 33))),
    ("[LCP ProtRej id=0x2 80 57]" + " 00" * 32 + " ...", packet(8, 2, "8057") + bytes(40)),
    ("[LCP TermAck id=0x3] 00 00", packet(6, 3, "") + bytes(2)),
    # Shorter than a header, or than its Length: [LCP] and the octets.
    ("[LCP] 01 02 00", bytes.fromhex("010200")),
    ("[LCP] 01 02 00 09 07 02", bytes.fromhex("010200090702")),
    ("[LCP] 01 02 00 03", bytes.fromhex("01020003")),
    ("[LCP]", b""),
]


@pytest.mark.parametrize(("expected", "info"), LCP_CASES)
def test_lcp(expected: str, info: bytes) -> None:
    assert describe(LCP, info) == expected


NCP_CASES = [
    (
        "[IPCP ConfReq id=0x1 <addrs 192.0.2.2 192.0.2.1>]",
        IPCP,
        packet(1, 1, "010ac0000202c0000201"),
    ),
    (
        "[IPCP ConfReq id=0x2 <compress old-VJ> <compress 0x4f>]",
        IPCP,
        packet(1, 2, "020400370204004f"),
    ),
    (
        "[IPCP ConfReq id=0x3 <ms-wins 10.0.0.1> <ms-wins 10.0.0.2>]",
        IPCP,
        packet(1, 3, "82060a00000184060a000002"),
    ),
    ("[IPCP ConfReq id=0x4 <ms-dns1 10.0.0.1 ff>]", IPCP, packet(1, 4, "81070a000001ff")),
    (
        "[IPCP ConfReq id=0x5 < 81 04 0a 00> < 03 05 01 02 03>]",
        IPCP,
        packet(1, 5, "81040a000305010203"),
    ),
    ('[IPCP TermReq id=0x6 "down"]', IPCP, packet(5, 6, b"down")),
    ("[IPCP CodeRej id=0x7" + " 00" * 40 + "]", IPCP, packet(7, 7, bytes(40))),  # no limit
    ("[IPCP code=0x9 id=0x8 00]", IPCP, packet(9, 8, "00")),
    (
        "[IPCP ConfReq id=0x9 < 01 06 c0 00 02 02> < 02 03 00>]",
        IPCP,
        packet(1, 9, "0106c0000202020300"),
    ),
    ("[IPV6CP ConfReq id=0x1 <compress 0x4f 00>]", IPV6CP, packet(1, 1, "0205004f00")),
    ("[IPV6CP ConfReq id=0x2 < 01 06 00 00 00 01>]", IPV6CP, packet(1, 2, "010600000001")),
    ("[IPV6CP TermAck id=0x3]", IPV6CP, packet(6, 3, "")),
    (
        "[CCP ConfReq id=0x1 <deflate 13 method 7 check 1> <predictor 1> <predictor 2 00>]",
        CCP,
        packet(1, 1, "1a0457010102020300"),
    ),
    ("[CCP ConfReq id=0x2 <mppe +H -M +S -L -D -C>]", CCP, packet(1, 2, "120601000040")),
    (
        "[CCP ConfReq id=0x3 <mppe -H +M -S +L +D +C +U (00 01 00 b1)>]",
        CCP,
        packet(1, 3, "1206000100b1"),
    ),
    (
        "[CCP ConfReq id=0x4 < 12 05 01 00 00> < 15 02> < 1a 03 78>]",
        CCP,
        packet(1, 4, "120501000015021a0378"),
    ),
    ('[CCP TermReq id=0x5"no"]', CCP, packet(5, 5, b"no")),  # sic: no space
    ("[CCP ResetReq id=0x6]", CCP, packet(14, 6, "")),
    ("[CCP ResetAck id=0x7]", CCP, packet(15, 7, "")),
    ("[CCP code=0x8 id=0x8]", CCP, packet(8, 8, "")),
    ("[IPCP] 01", IPCP, b"\x01"),
]


@pytest.mark.parametrize(("expected", "protocol", "info"), NCP_CASES)
def test_network_and_compression_control(expected: str, protocol: int, info: bytes) -> None:
    assert describe(protocol, info) == expected


AUTH_CASES = [
    ('[PAP AuthReq id=0x1 user="alice" password=<hidden>]', PAP, packet(1, 1, b"\5alice\6s3cret")),
    ('[PAP AuthReq id=0x2 user="" password=<hidden> 00]', PAP, packet(1, 2, b"\0\2pw\0")),
    ("[PAP AuthReq id=0x3 <7 octets hidden>]", PAP, packet(1, 3, b"\5alice\6")),  # malformed
    ("[PAP AuthReq id=0x4]", PAP, packet(1, 4, b"")),
    ('[PAP AuthReq id=0x5 user="a" password=<hidden>]', PAP, packet(1, 5, b"\1a\1p") + b"pad"),
    ('[PAP AuthAck id=0x6 ""]', PAP, packet(2, 6, b"\0")),
    ('[PAP AuthNak id=0x7 "no" 21]', PAP, packet(3, 7, b"\2no!")),
    ("[PAP AuthNak id=0x8 05 6e 6f]", PAP, packet(3, 8, b"\5no")),
    ("[PAP AuthAck id=0x9] 00", PAP, packet(2, 9, b"") + b"\0"),
    ("[PAP code=0x4 id=0xa 01]", PAP, packet(4, 10, b"\1")),
    ('[CHAP Challenge id=0x1 <0102>, name = ""]', CHAP, packet(1, 1, "020102")),
    ('[CHAP Response id=0x2 <>, name = "\\377"]', CHAP, packet(2, 2, "00ff")),
    ("[CHAP Challenge id=0x3]", CHAP, packet(1, 3, "05aa")),  # value past the end: nothing
    ('[CHAP Failure id=0x4 ""]', CHAP, packet(4, 4, "")),
    ("[CHAP code=0x5 id=0x5 01 02]", CHAP, packet(5, 5, "0102")),
    ('[CHAP Success id=0x6 "ok"] 00', CHAP, packet(3, 6, b"ok") + b"\0"),
]


@pytest.mark.parametrize(("expected", "protocol", "info"), AUTH_CASES)
def test_authentication(expected: str, protocol: int, info: bytes) -> None:
    assert describe(protocol, info) == expected


def test_data_and_unknown_protocols() -> None:
    assert describe(Protocol.IPV4, bytes(range(8))) == "[IP data] 00 01 02 03 04 05 06 07"
    assert describe(Protocol.IPV4, bytes(range(9))) == "[IP data] 00 01 02 03 04 05 06 07 ..."
    assert describe(Protocol.IPV6, b"\x60") == "[IPV6 data] 60"
    assert describe(0x00FD, b"") == "[Compressed data]"
    assert describe(0x8053, b"\1\2") == "[proto=0x8053] 01 02"
    assert describe(0xC227, bytes(33)) == "[proto=0xc227]" + " 00" * 32 + " ..."


def test_control_and_echo() -> None:
    assert is_control(LCP) and is_control(CCP) and is_control(0x8053)
    assert not is_control(Protocol.IPV4) and not is_control(Protocol.IPV6)
    assert is_echo(LCP, packet(9, 1, bytes(4))) and is_echo(LCP, packet(10, 1, bytes(4)))
    assert not is_echo(LCP, packet(1, 1, b"")) and not is_echo(LCP, b"")
    assert not is_echo(IPCP, packet(9, 1, bytes(4)))


def test_long_text_is_cut_at_pppds_line_length() -> None:
    options = bytes.fromhex("0702") * 300
    text = describe(LCP, packet(1, 1, options))
    assert len(text) == TEXT_LIMIT and text.startswith("[LCP ConfReq id=0x1 <pcomp> <pcomp>")


PROTOCOLS = st.sampled_from([LCP, PAP, CHAP, IPCP, IPV6CP, CCP, 0x0021, 0x0057, 0x8053])


@st.composite
def control_packets(draw: st.DrawFn) -> bytes:
    """Well-formed headers around option lists of any types and values: the parsers get
    past the header, where random octets rarely do."""
    options = draw(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=24)), max_size=6))
    body = b"".join(bytes((kind, len(value) + 2)) + value for kind, value in options)
    body = draw(st.sampled_from([body, body[:-1], body + b"\x01"]))
    raw = packet(draw(st.integers(0, 16)), draw(st.integers(0, 255)), body)
    return raw + draw(st.binary(max_size=4))


@given(protocol=st.one_of(PROTOCOLS, st.integers(0, 0xFFFF)), info=st.binary(max_size=300))
def test_never_raises_on_garbage(protocol: int, info: bytes) -> None:
    text = describe(protocol, info)
    assert text.isascii() and text.isprintable() and len(text) <= TEXT_LIMIT


@given(protocol=PROTOCOLS, info=control_packets())
def test_never_raises_on_packets_of_any_options(protocol: int, info: bytes) -> None:
    text = describe(protocol, info)
    assert text.isascii() and text.isprintable() and text.startswith("[")


@given(
    user=st.binary(max_size=40),
    passwords=st.integers(0, 40).flatmap(
        lambda size: st.lists(st.binary(min_size=size, max_size=size), min_size=2, max_size=2)
    ),
    extra=st.binary(max_size=8),
    cut=st.integers(0, 100),
)
def test_the_pap_password_never_shows(
    user: bytes, passwords: list[bytes], extra: bytes, cut: int
) -> None:
    """Whatever the password's octets, well-formed or cut short, the text is the same."""
    texts = set()
    for password in passwords:
        body = bytes((len(user),)) + user + bytes((len(password),)) + password + extra
        texts.add(describe(PAP, packet(1, 7, body[: max(len(body) - cut, 0)])))
    assert len(texts) == 1
