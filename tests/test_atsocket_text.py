"""netstack.atsocket_text and the vendor parsers: the modem's notations read, fixtures
from at-commands.md (27.007 +CGPIAF forms, Telit's dotted decimal with a space inside the
quotes, u-blox upper case), and every parser fed arbitrary text without raising."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.atsocket_text import number, parse_address, parse_hex, split_fields, unquote
from netstack.atsocket_vendors import VENDORS, PingLine, PingResult, parse_read

FAST = settings(max_examples=300, deadline=None)
GOOGLE = IPv6Address("2001:4860:4860::8888")


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("2001:4860:4860::8888", GOOGLE),
        ('"2001:4860:4860:0:0:0:0:8888"', GOOGLE),
        ("2001:4860:4860:0000:0000:0000:0000:8888", GOOGLE),
        ('"2001:4860:4860::8888"', GOOGLE),
        ("2001:4860:4860::8888".upper(), GOOGLE),
        ("32.1.72.96.72.96.0.0.0.0.0.0.0.0.136.136", GOOGLE),  # at-commands.md 7.5
        ('" 32.1.72.96.72.96.0.0.0.0.0.0.0.0.136.136"', GOOGLE),  # Telit 17.4.4
        ("192.0.2.1", IPv4Address("192.0.2.1")),
        ("32.1.72.96.72.96.0.0.0.0.0.0.0.0.136.256", None),
        ("1:2:3", None),
        ("2001:db8::1/64", None),
        ("example.com", None),
        ("", None),
        ('""', None),
    ],
)
def test_addresses_in_the_modems_notations(text: str, address: object) -> None:
    assert parse_address(text) == address


@given(st.integers(0, 2**128 - 1), st.sampled_from(["compressed", "exploded", "dotted"]))
def test_every_ipv6_notation_reads_back(value: int, notation: str) -> None:
    address = IPv6Address(value)
    if notation == "dotted":
        text = ".".join(str(b) for b in address.packed)
    else:
        text = getattr(address, notation)
    assert parse_address(f'"{text.upper()}"') == address


def test_fields_numbers_and_hex() -> None:
    assert split_fields(' 1, "a,b" ,x') == ["1", '"a,b"', "x"]
    assert unquote('" 2001:db8::1 "') == "2001:db8::1"
    assert [number(f) for f in ("12", '"7"', "-1", "1.5", "", "1234567890")] == [
        12,
        7,
        -1,
        None,
        None,
        None,
    ]
    assert parse_hex("DEADbeef") == bytes.fromhex("deadbeef")
    assert parse_hex('"00"') == b"\0"
    assert parse_hex("ABC") is None and parse_hex("GG") is None


@pytest.mark.parametrize(
    ("vendor", "line", "result"),
    [
        ("telit", '#PING: 01,"32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.16",6,50', PingLine.REPLY),
        ("telit", '#PING: 01,"32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.16",600,255', PingLine.LOST),
        ("telit", "#PING: 01", PingLine.LOST),
        ("sequans", '+PING: 1,"2001:db8:1::10",x,64', PingLine.LOST),
        ("quectel", '+QPING: 0,"2001:db8:1::10",32,20,255', PingLine.REPLY),
        ("quectel", "+QPING: 0,1,1,0,20,20,20", PingLine.SUMMARY),
        ("quectel", "+QPING: 569", PingLine.LOST),
        ("ublox", '+UUPING: 1,32,"h","2001:db8:1::10",55,120', PingLine.REPLY),
        ("ublox", '+UUPING: 1,32,"h","2001:db8:1::10",55,-1', PingLine.LOST),
        ("ublox", "+UUPINGER: 8", PingLine.LOST),
    ],
)
def test_ping_lines(vendor: str, line: str, result: PingLine) -> None:
    ping = VENDORS[vendor].ping
    assert ping is not None
    parsed = ping.parse(line)
    assert isinstance(parsed, PingResult) and parsed.line is result


line_text = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda prefix, fields: f"{prefix} {','.join(fields)}",
        st.sampled_from(
            ["+SQNSRECV:", "#SRECV:", "+QIRD:", "+USORF:", "+QPING:", "#PING:", "+UUPING:"]
            + ["+PING:", "+SQNSRING:", "SRING:", "+QIURC:", "+UUSORF:", "+QIOPEN:"]
        ),
        st.lists(
            st.one_of(
                st.integers(-3, 99999).map(str),
                st.text('0123456789abcdefABCDEF:." ', max_size=40),
                st.sampled_from(['"recv"', '"closed"', '""', "32.1.13.184"]),
            ),
            max_size=8,
        ),
    ),
)


@FAST
@given(st.sampled_from(sorted(VENDORS)), st.lists(line_text, max_size=6))
def test_the_vendor_parsers_never_raise(name: str, lines: list[str]) -> None:
    vendor = VENDORS[name]
    result = parse_read(vendor, lines)
    if result is not None and result[0] is not None:
        assert isinstance(result[0].data, bytes)
    for line in lines:
        for urc in (*vendor.rings, vendor.closed, vendor.open_result):
            if urc is not None:
                urc.parse(line)
        if vendor.ping is not None:
            vendor.ping.parse(line)
        parse_address(line)
