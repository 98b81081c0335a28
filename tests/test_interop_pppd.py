"""Our client against real pppd 2.4.9 (../shared/pppd-vm, server mode), over its pty.

pppd answers the dial (``ATD*99***1#`` -> ``CONNECT``) and runs as the answering side
with the options each test sets; its debug log tells what it negotiated. Packets are
built and checked with scapy, an independent implementation of IP.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import serial
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.packet import Raw

from interop_bounds import (
    ECHO_REPLIES,
    LINK_DOWN,
    LINK_UP,
    LOG_LINE,
    PACKET_REPLY,
    PACKET_RESEND,
    PEER_FIRST_BYTES,
    PPPD_EXIT,
)
from link_runner import LinkRunner
from netstack.config import LinkConfig
from netstack.events import DownReason, LinkDown, LinkInfo, LinkUp
from netstack.link import Link
from netstack.secret import Secret
from pppd_vm import PppdVm
from serial_pty import at_command, dial

pytestmark = pytest.mark.interop
log = logging.getLogger(__name__)

# The VM's default server options (README), spelled out so tests can add to them.
DEFAULTS = (
    "local noauth passive nocrtscts lcp-echo-interval 0 192.0.2.1:192.0.2.2 "
    "ms-dns 192.0.2.53 +ipv6 ipv6 ::1,::2 debug"
)
ALICE = {"username": "alice", "password": Secret("s3cret")}


@dataclass
class Session:
    runner: LinkRunner
    info: LinkInfo
    mark: int
    """Console-log offset taken just before dialling."""


def connect(pppd: PppdVm, port: serial.Serial, config: LinkConfig, options: str = "") -> Session:
    if options:
        pppd.ctl("options", options)
    mark = pppd.log_offset()
    at_command(port, "AT")
    rest = dial(port, "ATD*99***1#")
    runner = LinkRunner(Link(config, random.Random(7)), port, initial_bytes=rest)
    runner.start(wait_for_peer=PEER_FIRST_BYTES)  # pppd takes the line after CONNECT
    info = runner.run_until(
        lambda e: (
            isinstance(e, LinkUp)
            and e.info.local_ipv4 is not None
            and (e.info.local_interface_id is not None or not config.ipv6)
        ),
        timeout=LINK_UP,
    ).info  # type: ignore[attr-defined]
    return Session(runner, info, mark)


def logged(pppd: PppdVm, since: int, *texts: str) -> str:
    """Wait (bounded) until pppd's log after ``since`` holds every text; return the log."""
    for text in texts:
        pppd.wait_log(re.escape(text), timeout=LOG_LINE, since=since)
    return pppd.console_log(since)


def exchange(session: Session, packet: bytes, match: Callable[[bytes], bool]) -> bytes:
    """Send ``packet`` every ``PACKET_RESEND`` s until a reply ``match``es, for at most
    ``PACKET_REPLY`` s. The first packet after IPCP or IPV6CP opens can be dropped by
    pppd's kernel: pppd brings ppp0 up only after it has processed our Configure-Ack."""
    deadline = time.monotonic() + PACKET_REPLY
    sent = 0
    while (remaining := deadline - time.monotonic()) > 0:
        session.runner.send(packet)
        sent += 1
        try:
            return session.runner.wait_packet(match, timeout=min(PACKET_RESEND, remaining))
        except AssertionError:
            continue
    raise AssertionError(
        f"no reply within {PACKET_REPLY:.0f} s ({sent} sent); {session.runner.describe()}"
    )


def ping4(session: Session, size: int = 0, payload: bytes = b"pppbridge") -> None:
    body = (payload * (size // len(payload) + 1))[:size] if size else payload
    request = IP(src="192.0.2.2", dst="192.0.2.1") / ICMP(id=0x4242, seq=1) / Raw(body)
    reply = exchange(
        session,
        bytes(request),
        lambda p: p[0] >> 4 == 4 and IP(p).haslayer(ICMP) and IP(p)[ICMP].type == 0,
    )
    assert IP(reply)[ICMP].id == 0x4242 and bytes(IP(reply)[Raw]) == body


def test_default_options_open_with_addresses_dns_and_identifiers(
    pppd: PppdVm, modem_port: serial.Serial
) -> None:
    session = connect(pppd, modem_port, LinkConfig())
    info = session.info
    assert str(info.local_ipv4) == "192.0.2.2" and str(info.peer_ipv4) == "192.0.2.1"
    assert [str(a) for a in info.dns] == ["192.0.2.53", "192.0.2.53"]
    assert str(info.local_ipv6_link_local) == "fe80::2"
    assert str(info.peer_ipv6_link_local) == "fe80::1"
    log = logged(
        pppd,
        session.mark,
        "local  IP address 192.0.2.1",
        "remote IP address 192.0.2.2",
        "remote LL address fe80::0000:0000:0000:0002",
    )
    # pppd offers CCP, which we do not run: it must have seen our Protocol-Reject.
    assert "rcvd [LCP ProtRej" in log and "80 fd" in log
    # We asked for DNS and never for VJ compression; pppd's VJ request was rejected.
    assert "<ms-dns1 0.0.0.0>" in log and "rcvd [IPCP ConfRej id=0x1 <compress VJ" in log


def test_traffic_ipv4_and_ipv6_through_pppd(pppd: PppdVm, modem_port: serial.Serial) -> None:
    session = connect(pppd, modem_port, LinkConfig())
    runner = session.runner
    ping4(session)

    udp = IP(src="192.0.2.2", dst="192.0.2.1") / UDP(sport=40000, dport=7) / b"echo over ppp"
    reply = exchange(session, bytes(udp), lambda p: p[0] >> 4 == 4 and IP(p).haslayer(UDP))
    assert IP(reply)[UDP].sport == 7 and bytes(IP(reply)[UDP].payload) == b"echo over ppp"

    ping6 = IPv6(src="fe80::2", dst="fe80::1") / ICMPv6EchoRequest(id=7, seq=1, data=b"v6")
    reply = exchange(
        session, bytes(ping6), lambda p: p[0] >> 4 == 6 and IPv6(p).haslayer(ICMPv6EchoReply)
    )
    assert IPv6(reply)[ICMPv6EchoReply].data == b"v6" and IPv6(reply).src == "fe80::1"

    # ipv6-up in the VM adds 2001:db8::1/64 on ppp0 once IPV6CP is up.
    pppd.wait_log(r"ipv6-up ppp0", timeout=LOG_LINE, since=session.mark)
    udp6 = IPv6(src="2001:db8::2", dst="2001:db8::1") / UDP(sport=40001, dport=7) / b"six"
    reply = exchange(session, bytes(udp6), lambda p: p[0] >> 4 == 6 and IPv6(p).haslayer(UDP))
    assert IPv6(reply).src == "2001:db8::1" and bytes(IPv6(reply)[UDP].payload) == b"six"
    stats = runner.link.statistics()  # type: ignore[attr-defined]
    assert stats.packets_out >= 4 and stats.packets_in >= 4


@pytest.mark.parametrize(
    ("require", "expected", "success_line"),
    [
        ("require-pap", "PAP", "PAP peer authentication succeeded for alice"),
        ("require-chap", "CHAP-MD5", "sent [CHAP Success"),
    ],
)
def test_authentication_required_by_pppd(
    pppd: PppdVm, modem_port: serial.Serial, require: str, expected: str, success_line: str
) -> None:
    pppd.ctl("secret", "alice", "s3cret")
    options = DEFAULTS.replace("noauth", f"auth {require}")
    session = connect(pppd, modem_port, LinkConfig(**ALICE), options)  # type: ignore[arg-type]
    assert session.info.auth == expected
    logged(pppd, session.mark, success_line)
    ping4(session)


def test_wrong_password_is_refused_by_pppd(pppd: PppdVm, modem_port: serial.Serial) -> None:
    pppd.ctl("secret", "alice", "s3cret")
    pppd.ctl("options", DEFAULTS.replace("noauth", "auth require-chap"))
    mark = pppd.log_offset()
    at_command(modem_port, "AT")
    rest = dial(modem_port)
    config = LinkConfig(username="alice", password=Secret("not-the-password"))
    runner = LinkRunner(Link(config, random.Random(3)), modem_port, initial_bytes=rest)
    runner.start(wait_for_peer=PEER_FIRST_BYTES)
    down = runner.run_until(lambda e: isinstance(e, LinkDown), timeout=LINK_UP)
    assert down.reason == DownReason.AUTH_FAILED  # type: ignore[attr-defined]
    assert "not-the-password" not in repr(runner.events)
    logged(pppd, mark, "sent [CHAP Failure")


def test_mru_1280(pppd: PppdVm, modem_port: serial.Serial) -> None:
    session = connect(pppd, modem_port, LinkConfig(), DEFAULTS + " mru 1280")
    assert session.info.mtu == 1280
    logged(pppd, session.mark, "<mru 1280>")
    ping4(session, size=1280 - 28)  # the largest packet pppd accepts from us


def test_asyncmap_0xa0000(pppd: PppdVm, modem_port: serial.Serial) -> None:
    session = connect(pppd, modem_port, LinkConfig(), DEFAULTS + " asyncmap 0xa0000")
    logged(pppd, session.mark, "<asyncmap 0xa0000>")
    # XON/XOFF (0x11, 0x13) must now be escaped by us; a payload full of them crosses.
    ping4(session, size=600, payload=bytes([0x11, 0x13, 0x7D, 0x7E, 0x00]))


def test_stays_up_through_pppd_echo_requests(pppd: PppdVm, modem_port: serial.Serial) -> None:
    config = LinkConfig(echo_interval=2.0, echo_failures=3)
    # pppd 2.4.9 logs Echo packets of an Opened link only at debug level 2.
    options = DEFAULTS.replace("lcp-echo-interval 0", "lcp-echo-interval 1 lcp-echo-failure 3")
    session = connect(pppd, modem_port, config, options + " debug")
    first = len(session.runner.events)

    def answered(count: int = 5) -> bool:
        log = pppd.console_log(session.mark)
        return log.count("sent [LCP EchoReq") >= count and log.count("rcvd [LCP EchoRep") >= count

    # pppd's keepalive (1 s apart), answered by us: serviced until five made the round.
    session.runner.pump_until(answered, ECHO_REPLIES, "five echo rounds in pppd's log")
    assert not [e for e in session.runner.events[first:] if isinstance(e, LinkDown)]
    assert "No response to" not in pppd.console_log(session.mark)
    ping4(session)


def test_pppd_terminate_is_reported_as_peer_terminated(
    pppd: PppdVm, modem_port: serial.Serial
) -> None:
    session = connect(pppd, modem_port, LinkConfig())
    pppd.ctl("terminate")
    down = session.runner.run_until(lambda e: isinstance(e, LinkDown), timeout=LINK_DOWN)
    assert down.reason == DownReason.PEER_TERMINATED  # type: ignore[attr-defined]
    logged(pppd, session.mark, "sent [LCP TermReq", "rcvd [LCP TermAck")


def test_hangup_without_terminate_is_carrier_lost(pppd: PppdVm, modem_port: serial.Serial) -> None:
    """pppd killed with -9 sends no Terminate-Request: only the modem's ``NO CARRIER``
    tells us. It comes at the end of a chain in the VM, each step waited on in turn so a
    slow one is named: pppd's exit (the kernel unregisters ppp0 first, waiting for RCU
    grace periods and for ppp0's last references: seconds on a starved emulated CPU),
    then /init's loop reopening ttyS1 and writing NO CARRIER (``stty`` forked first)."""
    session = connect(pppd, modem_port, LinkConfig())
    mark = pppd.log_offset()
    started = time.monotonic()
    assert pppd.hangup()
    pppd.wait_log(r"pppd-vm: modem: pppd exited rc=", PPPD_EXIT, since=mark)
    exited = time.monotonic() - started
    pppd.wait_command_mode()
    looped = time.monotonic() - started
    down = session.runner.run_until(lambda e: isinstance(e, LinkDown), timeout=LINK_DOWN)
    log.info(
        "hangup: pppd exited after %.1f s, NO CARRIER written after %.1f s, LinkDown after %.1f s",
        exited,
        looped,
        time.monotonic() - started,
    )
    assert down.reason == DownReason.CARRIER_LOST  # type: ignore[attr-defined]
    assert "NO CARRIER" in down.detail  # type: ignore[attr-defined]
