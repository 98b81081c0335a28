"""``pppbridge simulate`` as a process on a real pty: a minimal AT client plus our netstack
client reach Opened and exchange ICMP, UDP, TCP and DNS with the simulated hosts over IPv4
and IPv6 (the global address formed from the Router Advertisement's prefix); the control
socket, the fallback without a namespace, the pcap, the transcript and bad switches.

The namespace tests need root and /dev/net/tun (CI has both); the simulator makes and
removes its own namespace, and each test checks none is left behind.
"""

from __future__ import annotations

import ipaddress
import os
import random
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import netns
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, IPv6
from scapy.utils import rdpcap

from link_runner import LinkRunner
from netstack import ipwire
from netstack.config import LinkConfig
from netstack.events import LinkDown, LinkUp
from netstack.link import Link
from serial_pty import at_command, dial, open_port
from sim_process import SimProcess

A4, A6 = ipaddress.IPv4Address, ipaddress.IPv6Address
CLIENT4 = A4("203.0.113.10")
ECHO4, ECHO6 = A4("198.51.100.1"), A6("2001:db8:1::1")
DNS4, DNS6 = A4("198.51.100.53"), A6("2001:db8:1::53")
PREFIX = ipaddress.IPv6Network("2001:db8:2::/64")

needs_namespace = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
    reason="the simulated operator network needs root and /dev/net/tun",
)


def _our_namespaces() -> set[str]:
    return {name for name in netns.listnetns() if name.startswith("pppsim-")}


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    before = _our_namespaces()
    yield
    assert _our_namespaces() <= before, "the simulator left its network namespace behind"


def connect(sim: SimProcess, pdp: str = "IPV4V6", config: LinkConfig | None = None) -> LinkRunner:
    """The minimal AT client, then our PPP client over the simulator's pty."""
    port = open_port(sim.device)
    assert at_command(port, "AT")[-1] == "OK"
    at_command(port, "ATE0")
    at_command(port, f'AT+CGDCONT=1,"{pdp}","test.apn"')
    rest = dial(port)
    runner = LinkRunner(Link(config or LinkConfig(username="test"), random.Random(7)), port, rest)
    runner.start()
    return runner


def wait_up(runner: LinkRunner, ipv6: bool = True) -> LinkUp:
    def done(event: object) -> bool:
        return isinstance(event, LinkUp) and (
            not ipv6 or (event.info.local_ipv4 is not None and event.info.local_interface_id)
        )

    up = runner.run_until(done, timeout=20)
    assert isinstance(up, LinkUp)
    return up


def global_address(runner: LinkRunner, up: LinkUp) -> A6:
    """SLAAC (RFC 4862 5.5.3) from the Router Advertisement and the IPV6CP identifier."""
    ra_packet = runner.wait_packet(lambda p: p[0] >> 4 == 6 and p[6] == 58 and p[40] == 134, 10)
    ra = IPv6(ra_packet)
    assert ra.src == "fe80::1" and ra.hlim == 255 and ICMPv6ND_RA in ra
    info = ra[ICMPv6NDOptPrefixInfo]
    assert (info.prefix, info.prefixlen, info.L, info.A) == ("2001:db8:2::", 64, 1, 1)
    iid = up.info.local_interface_id
    assert iid is not None
    return A6(ipaddress.IPv6Address(info.prefix).packed[:8] + iid)


def tcp_echo(runner: LinkRunner, src: A4 | A6, dst: A4 | A6) -> bytes:
    """A TCP echo exchange by hand (RFC 793 handshake, data, RST), checked with scapy."""
    layer = IP if isinstance(src, A4) else IPv6
    sport, isn = random.randrange(20000, 60000), random.randrange(1 << 32)
    runner.send(ipwire.build_tcp(src, dst, sport, 7, isn, 0, 0x02, b""))  # SYN

    def from_echo(packet: bytes) -> bool:
        return layer(packet).haslayer(TCP) and layer(packet)[TCP].dport == sport

    synack = layer(runner.wait_packet(from_echo, 10))[TCP]
    assert synack.flags == "SA" and synack.ack == isn + 1
    ack = synack.seq + 1
    runner.send(ipwire.build_tcp(src, dst, sport, 7, isn + 1, ack, 0x18, b"tcp echo"))  # PSH|ACK
    echoed = b""
    while echoed != b"tcp echo":
        segment = layer(runner.wait_packet(from_echo, 10))[TCP]
        echoed += bytes(segment.payload)
    runner.send(ipwire.build_tcp(src, dst, sport, 7, isn + 9, 0, 0x04, b""))  # RST
    return echoed


def udp_exchange(runner: LinkRunner, src: A4 | A6, dst: A4 | A6, port: int, data: bytes) -> bytes:
    sport = random.randrange(20000, 60000)
    runner.send(ipwire.build_udp(src, dst, sport, port, data))

    def reply(packet: bytes) -> bool:
        try:
            parsed = ipwire.parse_ip(packet)
            return parsed.protocol == 17 and ipwire.parse_udp(parsed)[1] == sport
        except Exception:
            return False

    packet = ipwire.parse_ip(runner.wait_packet(reply, 10))
    assert packet.src == dst
    return ipwire.parse_udp(packet)[2]


def ping(runner: LinkRunner, src: A4 | A6, dst: A4 | A6) -> None:
    runner.send(ipwire.build_icmp_echo(src, dst, reply=False, ident=77, seq=1, payload=b"ping"))

    def reply(packet: bytes) -> bool:
        try:
            parsed = ipwire.parse_ip(packet)
            echo = ipwire.parse_icmp_echo(parsed)
            return parsed.src == dst and echo is not None and echo[0] and echo[1] == 77
        except Exception:
            return False

    runner.wait_packet(reply, 10)


def answer_network_pings(sim: SimProcess, runner: LinkRunner, target: A4 | A6) -> dict:
    """The network pings the client (control ``ping``) while the client answers."""
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(sim.control(f"ping {target} 3 10")), daemon=True
    )
    thread.start()
    for _ in range(3):
        request = runner.wait_packet(
            lambda p: (
                (p[0] == 0x45 and p[9] == 1 and p[20] == 8)
                or (p[0] >> 4 == 6 and p[6] == 58 and p[40] == 128)
            ),
            10,
        )
        reply = ipwire.echo_reply_for(request)
        assert reply is not None
        runner.send(reply)
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        runner.pump(0.1)
    thread.join(1)
    return result


# --------------------------------------------------------------------------- tests


@needs_namespace
def test_full_session_with_namespace_hosts(tmp_path: Path, no_leftovers: None) -> None:
    with SimProcess(tmp_path, "--profile", "quectel", "--pcap", str(tmp_path / "ppp.pcap")) as sim:
        runner = connect(sim)
        up = wait_up(runner)
        assert up.info.local_ipv4 == CLIENT4
        assert up.info.dns[:1] == (DNS4,)
        me6 = global_address(runner, up)
        assert me6 == A6("2001:db8:2::2") and me6 in PREFIX

        ping(runner, CLIENT4, ECHO4)
        ping(runner, me6, ECHO6)
        assert udp_exchange(runner, CLIENT4, ECHO4, 7, b"udp4") == b"udp4"
        assert udp_exchange(runner, me6, ECHO6, 7, b"udp6") == b"udp6"
        assert tcp_echo(runner, CLIENT4, ECHO4) == b"tcp echo"
        assert tcp_echo(runner, me6, ECHO6) == b"tcp echo"

        query = bytes(DNS(id=0x4242, rd=1, qd=DNSQR(qname="echo.pppbridge.test", qtype="A")))
        answer = DNS(udp_exchange(runner, CLIENT4, DNS4, 53, query))
        assert answer.id == 0x4242 and answer.an[0].rdata == str(ECHO4)
        query = bytes(DNS(id=7, rd=1, qd=DNSQR(qname="echo.pppbridge.test", qtype="AAAA")))
        answer = DNS(udp_exchange(runner, me6, DNS6, 53, query))
        assert answer.an[0].rdata == str(ECHO6)

        pings = answer_network_pings(sim, runner, CLIENT4)
        assert pings["ok"] and pings["received"] == 3, pings
        status = sim.control("status")
        assert status["network"] == "namespace" and status["ipv4"] and status["ipv6"]

        assert sim.control("terminate")["ok"]
        down = runner.run_until(lambda e: isinstance(e, LinkDown), 10)
        assert isinstance(down, LinkDown)
    frames = rdpcap(str(tmp_path / "ppp.pcap"))
    assert len(frames) > 10
    transcript = sim.transcript()
    assert "> AT+CGDCONT=1" in transcript and "< CONNECT 150000000" in transcript
    assert "Router Advertisement" in transcript and "call ended" in transcript


def test_fallback_without_namespace_answers_echo(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--no-namespace", "--profile", "ublox") as sim:
        runner = connect(sim)
        up = wait_up(runner)
        me6 = global_address(runner, up)
        ping(runner, CLIENT4, ECHO4)
        ping(runner, me6, ECHO6)
        assert udp_exchange(runner, CLIENT4, ECHO4, 7, b"fallback") == b"fallback"
        query = bytes(DNS(id=9, rd=1, qd=DNSQR(qname="echo.pppbridge.test", qtype="A")))
        assert DNS(udp_exchange(runner, CLIENT4, DNS4, 53, query)).an[0].rdata == str(ECHO4)
        assert sim.control("status")["network"] == "local"
        _, _, err = sim.stop()
    assert "namespace" not in err  # asked for: no notice
    assert "operator network in-process" in sim.transcript()


def test_control_faults_and_waits(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--no-namespace") as sim:
        assert sim.control("bogus")["ok"] is False
        assert "no data call" in sim.control("drop")["error"]
        assert sim.control("registration roaming")["ok"]
        assert sim.control("wait registered 5")["registration"] == 5
        assert sim.control("dial-result busy")["ok"]
        port = open_port(sim.device)
        assert at_command(port, "ATD*99***1#", expect=("BUSY",))[-1] == "BUSY"
        sim.control("dial-result connect")
        runner = connect(sim, pdp="IP")
        wait_up(runner, ipv6=False)
        assert sim.control("wait ipv4 5")["ipv4"]
        assert sim.control("drop")["ok"]
        down = runner.run_until(lambda e: isinstance(e, LinkDown), 10)
        assert isinstance(down, LinkDown) and down.reason.name == "CARRIER_LOST"
        assert sim.control("wait no-call 5")["call"] is False
        for bad in ("corrupt 2", "baud inf", "ping 203.0.113.10 inf", "latency nan", "wait"):
            assert sim.control(bad)["ok"] is False, bad
        assert sim.control("status")["ok"]  # the socket survived them all
        assert sim.control("corrupt 2")["ok"] is False
        assert sim.control("baud 1234")["ok"] is False
        assert sim.control("latency -1")["ok"] is False


def test_latency_and_baud_slow_the_line_down(tmp_path: Path) -> None:
    """Lower bounds only: the line can never be faster than the configured rate."""
    with SimProcess(tmp_path, "--no-namespace", "--latency", "0.4", "--baud", "9600") as sim:
        runner = connect(sim, pdp="IP")
        wait_up(runner, ipv6=False)
        start = time.monotonic()
        assert udp_exchange(runner, CLIENT4, ECHO4, 7, bytes(900)) == bytes(900)
        elapsed = time.monotonic() - start
        # 0.8 s of latency, plus ~950 bytes each way at 960 bytes/s.
        assert elapsed >= 0.8 + 2 * 900 / 960, elapsed


def test_secrets_stay_out_of_the_transcript(tmp_path: Path) -> None:
    with SimProcess(
        tmp_path, "--no-namespace", "--pin", "4321", "--auth", "pap", "--password", "hunter2"
    ) as sim:
        port = open_port(sim.device)
        at_command(port, "ATE0")
        assert at_command(port, "AT+CPIN?")[0] == "+CPIN: SIM PIN"
        assert at_command(port, 'AT+CPIN="4321"')[-1] == "OK"
        at_command(port, 'AT+CGAUTH=1,1,"alice","s3cr3t-pw"')
    transcript = sim.transcript()
    assert "CPIN" in transcript and "CGAUTH" in transcript
    for secret in ("4321", "hunter2", "s3cr3t-pw"):
        assert secret not in transcript


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "nokia"], "invalid choice"),
        (["--baud", "1234"], "baud rate 1234"),
        (["--baud", "fast"], "--baud must be a number"),
        (["--corrupt", "1.5"], "--corrupt must be between 0 and 1"),
        (["--pin", "12"], "4 to 8 digits"),
        (["--latency", "-1"], "cannot be negative"),
        (["--link", "{file}"], "not a terminal"),
        (["--control", "{file}"], "is not a socket"),
    ],
)
def test_bad_switches_give_a_clear_error(args: list[str], message: str, tmp_path: Path) -> None:
    regular = tmp_path / "a-regular-file"
    regular.write_text("not a device\n")
    args = [arg.format(file=regular) for arg in args]
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "simulate", "--no-namespace", *args],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_messy_replies_are_cut_across_reads_and_a_session_still_works(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--no-namespace", "--messy", "--profile", "sequans") as sim:
        port = open_port(sim.device)
        at_command(port, "ATE0")
        port.write(b"ATI\r")
        reads: list[bytes] = []
        deadline = time.monotonic() + 5
        while b"OK\r\n" not in b"".join(reads) and time.monotonic() < deadline:
            ready, _, _ = select.select([port.fileno()], [], [], deadline - time.monotonic())
            if ready:
                reads.append(port.read(4096))
        reply = b"".join(reads)
        assert reply.endswith(b"\r\nOK\r\n") and b"SEQUANS Communications" in reply
        assert len(reads) > 1, "a messy reply should arrive in pieces"
        at_command(port, "AT+CEREG=2")
        runner = connect(sim)
        up = wait_up(runner)
        global_address(runner, up)
        ping(runner, CLIENT4, ECHO4)
