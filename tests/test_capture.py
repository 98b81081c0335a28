"""What ``pppbridge run`` records (``bridge.capture``): the frames of the serial line
found by ``SerialTap`` and written by ``PcapCapture``, read back with scapy; rotation by
size, never over a file that is not a capture; the AT transcript with its times."""

from __future__ import annotations

import datetime
import io
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import scapy.layers.ppp  # noqa: F401 - registers linktype 204 (DIR_PPP) with rdpcap
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP
from scapy.layers.ppp import DIR_PPP, HDLC, PPP
from scapy.utils import rdpcap

from bridge.capture import PcapCapture, SerialTap, TranscriptFile, timestamp
from bridge.logs import (
    ECHO_LOGGER,
    MODEM_LOGGER,
    OUR_LOGGERS,
    PPP_LOGGER,
    PppTrace,
    setup_logging,
)
from bridge.pcap import PcapWriter, is_ppp_capture
from netstack.config import AuthProtocol, LinkConfig
from netstack.describe import describe
from netstack.errors import UsageError
from netstack.events import LinkUp
from netstack.hdlc import Framer
from netstack.hdlc_reference import decode as reference_decode
from netstack.secret import Secret
from tests.link_pair import Pair, answering_config

REPO = Path(__file__).resolve().parent.parent
LCP_REQUEST = (0xC021, bytes.fromhex("010100140206000000000506074cc23e07020802"))
LCP_ACK = (0xC021, bytes.fromhex("020100140206000000000506074cc23e07020802"))
IPCP_REQUEST = (0x8021, bytes.fromhex("01020016030600000000810600000000830600000000"))
PING = (0x0021, bytes.fromhex("45000054000040004001") + bytes(74))
PAP_REQUEST = (0xC023, bytes.fromhex("01010010047465737406736563726574"))  # test / secret


class Recorder:
    """A FrameTap that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[tuple[bool, int, bytes]] = []

    def frame(self, sent: bool, protocol: int, info: bytes) -> None:
        self.frames.append((sent, protocol, info))


def framed(*packets: tuple[int, bytes], accm: int = 0xFFFFFFFF) -> bytes:
    framer = Framer(accm=accm)
    return b"".join(framer.encode(protocol, info) for protocol, info in packets)


def read_back(path: Path) -> list[tuple[int, int, bytes]]:
    """(direction, PPP protocol, information) of each record, as scapy decodes them."""
    records = []
    for packet in rdpcap(str(path)):
        direction = packet[DIR_PPP].getfieldval("direction")  # .direction is scapy's own
        assert packet[HDLC].address == 0xFF and packet[HDLC].control == 0x03
        records.append((direction, packet[PPP].proto, bytes(packet[PPP].payload)))
    return records


def test_serial_tap_finds_the_frames_both_ways() -> None:
    recorder = Recorder()
    tap = SerialTap([recorder])
    tap.received(b"\r\nCONNECT 115200\r\n" + framed(LCP_REQUEST))  # AT before PPP: skipped
    tap.sent(framed(LCP_REQUEST, LCP_ACK))
    tap.received(framed(LCP_ACK, PING, accm=0)[:-3])  # the end of a frame comes later
    assert [sent for sent, *_ in recorder.frames] == [False, True, True, False]
    tap.received(framed(PING, accm=0)[-3:])
    assert recorder.frames == [
        (False, *LCP_REQUEST),
        (True, *LCP_REQUEST),
        (True, *LCP_ACK),
        (False, *LCP_ACK),
        (False, *PING),
    ]


@settings(max_examples=50)
@given(cuts=st.lists(st.integers(0, 400), max_size=12))
def test_serial_tap_same_frames_however_the_bytes_come(cuts: list[int]) -> None:
    stream = framed(LCP_REQUEST, PING, IPCP_REQUEST, LCP_ACK, accm=0)
    recorder = Recorder()
    tap = SerialTap([recorder])
    bounds = sorted({0, len(stream), *(cut % len(stream) for cut in cuts)})
    for start, end in zip(bounds, bounds[1:], strict=False):
        tap.received(stream[start:end])
    assert recorder.frames == [(False, *p) for p in (LCP_REQUEST, PING, IPCP_REQUEST, LCP_ACK)]


def test_pcap_read_back_with_scapy(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    capture = PcapCapture.open(str(path))
    tap = SerialTap([capture])
    tap.sent(framed(LCP_REQUEST))
    tap.received(framed(LCP_REQUEST, LCP_ACK))
    tap.sent(framed(LCP_ACK, IPCP_REQUEST, PING, accm=0))
    tap.received(framed(PING, accm=0))
    capture.close()
    assert read_back(path) == [
        (1, *LCP_REQUEST),
        (0, *LCP_REQUEST),
        (0, *LCP_ACK),
        (1, *LCP_ACK),
        (1, *IPCP_REQUEST),
        (1, *PING),
        (0, *PING),
    ]
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the traffic


def test_record_times_come_from_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    times = iter([1_700_000_000.25, 1_700_000_001.5])
    capture = PcapCapture.open(str(path), clock=lambda: next(times))
    capture.frame(True, *LCP_REQUEST)
    capture.frame(False, *LCP_ACK)
    capture.close()
    assert [float(packet.time) for packet in rdpcap(str(path))] == [
        1_700_000_000.25,
        1_700_000_001.5,
    ]


def test_the_pap_password_is_masked(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    capture = PcapCapture.open(str(path))
    capture.frame(True, *PAP_REQUEST)
    capture.frame(True, 0xC023, bytes.fromhex("0102000c04746573740673"))  # password cut
    capture.frame(True, 0xC023, bytes.fromhex("0103000a0974657374"))  # Peer-ID cut: all
    capture.frame(False, 0xC023, bytes.fromhex("0201000d084c6f67696e206f6b"))  # Ack: as is
    capture.close()
    [(_, _, request), (_, _, cut), (_, _, peer_cut), (_, _, ack)] = read_back(path)
    assert request == bytes.fromhex("01010010047465737406") + b"******"
    assert describe(0xC023, request) == '[PAP AuthReq id=0x1 user="test" password=<hidden>]'
    assert cut == bytes.fromhex("0102000c0474657374062a")
    assert peer_cut == bytes.fromhex("0103000a") + b"*" * 5
    assert ack == bytes.fromhex("0201000d084c6f67696e206f6b")
    assert b"secret" not in path.read_bytes()


def capture_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + "*"))


def test_rotation_by_size(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    record = PcapWriter.record_size(b"\xff\x03\xc0\x21" + LCP_REQUEST[1])  # 16 + 25
    capture = PcapCapture.open(str(path), max_bytes=24 + 3 * record, keep=2)
    for identifier in range(10):
        capture.frame(identifier % 2 == 0, 0xC021, bytes([1, identifier]) + LCP_REQUEST[1][2:])
    capture.close()
    assert capture.rotations == 3
    assert capture_files(path) == [path, tmp_path / "link.pcap.1", tmp_path / "link.pcap.2"]
    ids = {}
    for name in capture.files():
        assert Path(name).stat().st_size <= 24 + 3 * record
        assert Path(name).stat().st_mode & 0o777 == 0o600
        ids[Path(name).name] = [
            (direction, info[1]) for direction, _, info in read_back(Path(name))
        ]
    # Frames 0-2 went with the oldest file; then three a file, the newest has the 10th.
    assert ids == {
        "link.pcap.2": [(0, 3), (1, 4), (0, 5)],
        "link.pcap.1": [(1, 6), (0, 7), (1, 8)],
        "link.pcap": [(0, 9)],
    }


def test_a_frame_larger_than_the_limit_still_gets_a_file(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    capture = PcapCapture.open(str(path), max_bytes=100, keep=1)
    capture.frame(True, *PING)
    capture.frame(False, *PING)
    capture.close()
    assert [len(read_back(p)) for p in capture_files(path)] == [1, 1]


def test_keep_zero_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    capture = PcapCapture.open(str(path), max_bytes=100, keep=0)
    capture.frame(True, *PING)
    capture.frame(False, *PING)
    capture.close()
    assert capture_files(path) == [path] and read_back(path) == [(0, *PING)]


def test_an_earlier_capture_moves_to_dot_one(tmp_path: Path) -> None:
    path = tmp_path / "link.pcap"
    first = PcapCapture.open(str(path))
    first.frame(True, *LCP_REQUEST)
    first.close()
    second = PcapCapture.open(str(path))
    second.frame(False, *LCP_ACK)
    second.close()
    assert read_back(tmp_path / "link.pcap.1") == [(1, *LCP_REQUEST)]
    assert read_back(path) == [(0, *LCP_ACK)]


@pytest.mark.parametrize("name", ["link.pcap", "link.pcap.1", "link.pcap.4"])
def test_a_file_that_is_not_a_capture_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("not ours")
    with pytest.raises(UsageError, match=f"--pcap .*link.pcap: .*{name} exists and is not"):
        PcapCapture.open(str(tmp_path / "link.pcap"))
    assert (tmp_path / name).read_text() == "not ours"
    assert capture_files(tmp_path / "link.pcap") == [tmp_path / name]


def test_a_capture_that_cannot_be_made_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--pcap .*: No such file or directory"):
        PcapCapture.open(str(tmp_path / "missing" / "link.pcap"))


def test_a_foreign_file_appearing_stops_the_capture(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "link.pcap"
    capture = PcapCapture.open(str(path), max_bytes=100, keep=2)
    capture.frame(True, *PING)
    (tmp_path / "link.pcap.2").write_text("someone's notes")
    with caplog.at_level(logging.ERROR, logger="pppbridge"):
        capture.frame(True, *PING)  # rotation: link.pcap.2 is not ours
        capture.frame(True, *PING)
    assert not capture.capturing
    assert (tmp_path / "link.pcap.2").read_text() == "someone's notes"
    assert read_back(path) == [(1, *PING)]
    [message] = caplog.messages
    assert "link.pcap.2 appeared and is not a PPP capture; left alone; capture stopped" in message


def test_a_write_that_fails_stops_the_capture_not_the_bridge(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes writes fail with EFBIG
    as a full disk would, in a child process."""
    path = tmp_path / "link.pcap"
    script = f"""
import logging, resource, signal, sys
from bridge.capture import PcapCapture
logging.basicConfig(stream=sys.stdout, format="%(message)s")
capture = PcapCapture.open({str(path)!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200, resource.RLIM_INFINITY))
for _ in range(5):
    capture.frame(True, 0x0021, bytes(100))
print("capturing", capture.capturing)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.splitlines() == [
        f"--pcap {path}: File too large; capture stopped",
        "capturing False",
    ]
    assert is_ppp_capture(path)


def test_is_ppp_capture(tmp_path: Path) -> None:
    ours = tmp_path / "ours.pcap"
    PcapWriter(ours).close()
    other = tmp_path / "ethernet.pcap"
    other.write_bytes(ours.read_bytes()[:20] + (1).to_bytes(4, "little"))
    swapped = tmp_path / "big-endian.pcap"
    swapped.write_bytes(bytes.fromhex("a1b2c3d4 00020004 00000000 00000000 0000ffff 000000cc"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "short").write_bytes(ours.read_bytes()[:23])
    assert is_ppp_capture(ours) and is_ppp_capture(swapped)
    assert not is_ppp_capture(other) and not is_ppp_capture(fifo)
    assert not is_ppp_capture(tmp_path / "short") and not is_ppp_capture(tmp_path / "none")
    assert not is_ppp_capture(tmp_path)


# ------------------------------------------------------------------ the transcript
ISO_MILLISECONDS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


@pytest.fixture
def modem_log() -> Iterator[logging.Logger]:
    """The modem's logger, and the logging configuration restored after the test."""
    root = logging.getLogger()
    names = [*OUR_LOGGERS, MODEM_LOGGER, PPP_LOGGER, ECHO_LOGGER]
    levels = {name: logging.getLogger(name).level for name in names}
    handlers, root_level = list(root.handlers), root.level
    yield logging.getLogger(MODEM_LOGGER)
    root.handlers[:] = handlers
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_transcript_lines_with_their_times(tmp_path: Path, modem_log: logging.Logger) -> None:
    path = tmp_path / "at.log"
    console = io.StringIO()
    setup_logging(0, console, environ={})  # the console shows none of it
    before, level = time.time(), modem_log.level
    transcript = TranscriptFile.open(str(path))
    transcript.attach()
    assert modem_log.isEnabledFor(logging.DEBUG)
    modem_log.debug("%s", "> AT+CPIN=****")
    modem_log.debug("%s", "< OK")
    modem_log.info("resetting the modem:\nAT+CFUN=1,1")
    after = time.time()
    transcript.close()
    assert modem_log.level == level
    modem_log.debug("%s", "> AT after the end")
    header, *lines = path.read_text().splitlines()
    assert re.fullmatch(rf"--- pppbridge run {ISO_MILLISECONDS}, pid {os.getpid()} ---", header)
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "> AT+CPIN=****",
        "< OK",
        "resetting the modem: | AT+CFUN=1,1",
    ]
    for stamp in stamps:
        assert re.fullmatch(ISO_MILLISECONDS, stamp)
        moment = datetime.datetime.fromisoformat(stamp).timestamp()
        assert before - 0.001 <= moment <= after
    assert stamps == sorted(stamps)
    assert console.getvalue() == ""
    assert path.stat().st_mode & 0o777 == 0o600


def test_transcript_appends_run_after_run(tmp_path: Path, modem_log: logging.Logger) -> None:
    path = tmp_path / "at.log"
    for text in ("> ATI", "> AT+CGMR"):
        transcript = TranscriptFile.open(str(path))
        transcript.attach()
        modem_log.debug("%s", text)
        transcript.close()
    kinds = [line.split(" ", 2)[:2] for line in path.read_text().splitlines()]
    assert [kind[0] if kind[0] == "---" else kind[1] for kind in kinds] == [
        "---",
        ">",
        "---",
        ">",
    ]


def test_transcript_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--transcript .*: Is a directory"):
        TranscriptFile.open(str(tmp_path))


def test_transcript_write_failure_is_said_once(
    modem_log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    read, write = os.pipe()
    os.close(read)
    transcript = TranscriptFile(open(write, "w"), "--transcript pipe")  # noqa: SIM115
    transcript.attach()
    with caplog.at_level(logging.ERROR, logger="pppbridge"):
        modem_log.debug("> AT")
        modem_log.debug("> AT")
    transcript.stream = io.StringIO()  # the pipe's buffered line must not fail close()
    transcript.close()
    assert [r.getMessage() for r in caplog.records if r.name == "pppbridge"] == [
        "--transcript pipe: Broken pipe; no more lines are written there"
    ]


def test_timestamp() -> None:
    moment = 1_700_000_000.1239
    text = timestamp(moment)
    assert re.fullmatch(ISO_MILLISECONDS, text)
    assert datetime.datetime.fromisoformat(text).timestamp() == pytest.approx(1_700_000_000.123)


# ------------------------------------------------------------------ a whole call
def test_a_call_recorded_both_ways(tmp_path: Path, modem_log: logging.Logger) -> None:
    """A client and an answering ``Link`` negotiate (PAP, ACCM 0, compressed headers)
    and carry a ping; the client's bytes go through one SerialTap with a capture and the
    -vv trace, as the data plane's would. The capture holds every frame, checked with
    the reference decoder; the trace every control packet, in pppd's words."""
    pair = Pair(
        LinkConfig(username="alice", password=Secret("s3cret")),
        answering_config(require_auth=AuthProtocol.PAP, secrets={"alice": Secret("s3cret")}),
    )
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkUp)))
    ping = bytes(IP(src="198.51.100.2", dst="198.51.100.1") / ICMP(id=7, seq=1) / b"ping")
    pair.send_packet(pair.client, ping)
    pair.run_for(1.0)
    console = io.StringIO()
    setup_logging(2, console, environ={})
    capture = PcapCapture.open(str(tmp_path / "call.pcap"))
    tap = SerialTap([capture, PppTrace()])
    for data in pair.client.wire_bytes:
        tap.sent(data)
    for data in pair.server.wire_bytes:
        tap.received(data)
    capture.close()

    def frames(writes: list[bytes]) -> list[tuple[int, bytes]]:
        return [frame for data in writes for frame in reference_decode(data, 0, 0xFFFF)]

    sent, received = frames(pair.client.wire_bytes), frames(pair.server.wire_bytes)
    [request] = [info for protocol, info in sent if protocol == 0xC023]
    assert request.endswith(b"\x05alice\x06s3cret")  # on the wire; masked in the capture
    masked = request[:-6] + b"******"
    expected = [(1, p, masked if p == 0xC023 else i) for p, i in sent]
    assert read_back(tmp_path / "call.pcap") == expected + [(0, p, i) for p, i in received]
    assert (1, 0x0021, ping) in expected  # after LCP: ACCM 0, headers compressed
    lines = [line.removeprefix("pppbridge: ") for line in console.getvalue().splitlines()]
    control = [frame for frame in sent + received if frame[0] != 0x0021]
    assert len(lines) == len(control)
    assert lines[0].startswith("sent [LCP ConfReq id=")
    assert "sent [PAP AuthReq id=0x" in "\n".join(lines) and "s3cret" not in console.getvalue()
    assert any(line.startswith("rcvd [IPCP ConfNak") for line in lines)
    assert not any("IP data" in line for line in lines)
