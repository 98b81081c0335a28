"""The PPP capture file: header fields and records read back by hand, and by scapy, which
decodes LINKTYPE_PPP_WITH_DIR (204) once its PPP layers are loaded."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import scapy.layers.ppp  # noqa: F401 - registers linktype 204 (DIR_PPP) with rdpcap
from scapy.layers.inet import ICMP, IP
from scapy.layers.ppp import DIR_PPP, HDLC, PPP, PPP_LCP_Configure
from scapy.packet import Packet
from scapy.utils import rdpcap

from bridge.simulator.pcap import SNAPLEN, PcapWriter
from netstack.ipwire import build_icmp_echo

LCP_REQUEST = bytes.fromhex("ff03 c021 0101 0004")  # with Address and Control
IPV4 = b"\x00\x21" + build_icmp_echo(
    IPv4Address("203.0.113.10"), IPv4Address("198.51.100.1"), reply=False, ident=1, seq=2,
    payload=b"capture",
)  # fmt: skip


def read_records(path: Path) -> tuple[tuple[int, ...], list[tuple[int, int, int, bytes]]]:
    """The global header fields and (seconds, microseconds, original length, data) rows."""
    data = path.read_bytes()
    header = struct.unpack_from("<IHHiIII", data)
    records, offset = [], 24
    while offset < len(data):
        seconds, micros, captured, original = struct.unpack_from("<IIII", data, offset)
        offset += 16
        records.append((seconds, micros, original, data[offset : offset + captured]))
        offset += captured
    assert offset == len(data)
    return header, records


def test_header_and_records(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    with PcapWriter(path) as writer:
        writer.write(LCP_REQUEST, sent=True, timestamp=1_700_000_000.25)
        writer.write(IPV4, sent=False, timestamp=1_700_000_000.9999996)
    header, records = read_records(path)
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 204)
    assert records == [
        (1_700_000_000, 250_000, 1 + len(LCP_REQUEST), b"\x01" + LCP_REQUEST),
        (1_700_000_001, 0, 1 + len(IPV4), b"\x00" + IPV4),
    ]


def direction(packet: Packet) -> int:
    # Packet.direction is scapy's own sniffing attribute; the field hides behind it.
    value: int = packet[DIR_PPP].getfieldval("direction")
    return value


def test_scapy_reads_it_back(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    with PcapWriter(path) as writer:
        writer.write(LCP_REQUEST, sent=True, timestamp=10.5)
        writer.write(IPV4, sent=False, timestamp=11.0)
    lcp, ping = rdpcap(str(path))
    assert direction(lcp) == 1 and lcp[HDLC].address == 0xFF
    assert lcp[PPP].proto == 0xC021 and lcp[PPP_LCP_Configure].code == 1
    assert float(lcp.time) == 10.5
    assert direction(ping) == 0 and ping[PPP].proto == 0x0021
    assert (ping[IP].src, ping[ICMP].type, ping[ICMP].load) == ("203.0.113.10", 8, b"capture")


def test_each_record_is_flushed_before_close(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    writer = PcapWriter(path)
    writer.write(LCP_REQUEST, sent=True, timestamp=1.0)
    _, records = read_records(path)
    assert [data for *_, data in records] == [b"\x01" + LCP_REQUEST]
    writer.close()


def test_frame_beyond_snaplen_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    with PcapWriter(path) as writer:
        writer.write(b"\xff\x03\x00\x21" + bytes(SNAPLEN), sent=False, timestamp=0.0)
    _, [(_, _, original, data)] = read_records(path)
    assert (original, len(data)) == (SNAPLEN + 5, SNAPLEN)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "someone-elses.pcap"
    path.write_bytes(b"not ours")
    with pytest.raises(FileExistsError):
        PcapWriter(path)
    assert path.read_bytes() == b"not ours"
