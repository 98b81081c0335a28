"""``pppbridge simulate``'s switches for the modem's own sockets, as real processes:
``--at-port`` (a second, AT-only terminal, its path on a line ``at-port: PATH``),
``--attached``, ``--ipv6-only``, ``--at-line-limit``; socket commands on the AT port while
PPP runs on the first terminal, and on the first terminal while its call is suspended
by ``+++`` (V.250 online command state) until ``ATO``. Every wait bounded.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import serial

from link_runner import LinkRunner
from netstack import ipwire
from netstack.config import LinkConfig
from netstack.events import LinkUp
from netstack.link import Link
from serial_pty import at_command, dial, open_port, wait_result
from sim_at_client import AtClient
from sim_process import STOP_TIMEOUT, SimProcess, leaving_no_namespace
from sim_socket_vendors import ALL_URCS, ECHO4, ECHO6, SEQUANS, TELIT

ROOT = Path(__file__).resolve().parent.parent
CLIENT4 = IPv4Address("203.0.113.10")
HAVE_NAMESPACE = os.geteuid() == 0 and os.path.exists("/dev/net/tun")
NETWORKS = [
    pytest.param(True, id="namespace", marks=pytest.mark.skipif(not HAVE_NAMESPACE, reason="root")),
    pytest.param(False, id="in-process"),
]
TIMEOUT = 30.0


def at_port_of(sim: SimProcess) -> str:
    paths = [line.split(": ", 1)[1] for line in sim.header if line.startswith("at-port: ")]
    assert len(paths) == 1, sim.header
    return paths[0]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


# --- the switches -----------------------------------------------------------------------


def test_help_explains_the_new_switches() -> None:
    done = run("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for switch in ("--at-port [PATH]", "--attached", "--ipv6-only", "--at-line-limit N"):
        assert switch in text, switch
    assert "attached and not connected" in text and "124" in text


def test_the_at_port_line_comes_after_the_device_and_control_lines(tmp_path: Path) -> None:
    control = tmp_path / "c.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "simulate", "--no-namespace"]
        + ["--control", str(control), "--at-port"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        first = [process.stdout.readline().strip() for _ in range(4)]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=STOP_TIMEOUT)
    assert re.fullmatch(r"device: /dev/pts/\d+", first[0]), first
    assert first[1] == f"control: {control}"
    assert re.fullmatch(r"at-port: /dev/pts/\d+", first[2]) and first[2][9:] != first[0][8:]
    assert first[3].startswith("--- pppbridge simulate ")
    assert process.returncode == 0, err


def test_at_port_path_is_a_symlink_made_and_removed(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB2"
    with leaving_no_namespace(tmp_path, "--no-namespace", "--at-port", str(link)) as sim:
        assert at_port_of(sim) == str(link) and link.is_symlink()
        client = AtClient(str(link), ALL_URCS)
        try:
            assert client.command("ATI")[-1] == "OK"
        finally:
            client.close()
    assert not link.exists() and not link.is_symlink()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at-line-limit", "3"], "--at-line-limit must be between 8 and 65536 characters"),
        (["--at-line-limit", "x"], "--at-line-limit must be a number of characters, not 'x'"),
        (["--at-port", "FILE"], "--at-port FILE: not a terminal"),
    ],
)
def test_bad_switches_are_one_line_and_status_2(
    args: list[str], message: str, tmp_path: Path
) -> None:
    regular = tmp_path / "plain"
    regular.write_text("")
    args = [str(regular) if a == "FILE" else a for a in args]
    message = message.replace("FILE", str(regular))
    done = run("--no-namespace", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr


def test_ipv6_only_gives_an_ipv6_address_and_no_ipv4_socket(tmp_path: Path) -> None:
    with leaving_no_namespace(tmp_path, "--no-namespace", "--ipv6-only", "--attached") as sim:
        client = AtClient(sim.device, ALL_URCS)
        try:
            client.command("AT+CMEE=1")
            address = client.command("AT+CGPADDR=1")[0]
            assert address.startswith("+CGPADDR: 1,") and address.count(",") == 1, address
            client.command('AT+CGDCONT=2,"IP","v4"')
            refused = client.command("AT+CGACT=1,2", ("+CME ERROR",))[-1]
            assert refused.startswith("+CME ERROR: 133"), refused
        finally:
            client.close()


def test_without_attached_the_context_waits_for_cgact(tmp_path: Path) -> None:
    with leaving_no_namespace(tmp_path, "--no-namespace", "--profile", "sequans") as sim:
        client = AtClient(sim.device, ALL_URCS)
        try:
            client.command("AT+CMEE=1")
            assert client.command("AT+CGACT?")[0] == "+CGACT: 1,0"
            client.command(f'AT+SQNSD=1,1,7,"{ECHO6}",0,0,1', ("+CME ERROR",))
            client.command("AT+CGACT=1,1")
            client.command(f'AT+SQNSD=1,1,7,"{ECHO6}",0,0,1')
        finally:
            client.close()
    with leaving_no_namespace(tmp_path, "--no-namespace", "--attached") as sim:
        client = AtClient(sim.device, ALL_URCS)
        try:
            assert client.command("AT+CGACT?")[0] == "+CGACT: 1,1"
        finally:
            client.close()


def test_line_limit_124_over_a_pty(tmp_path: Path) -> None:
    """Pycom GPy/FiPy cut commands at 124 characters (reference 1.8); payloads after the
    prompt are written in pieces and taken whole."""
    args = ("--no-namespace", "--profile", "sequans", "--attached", "--at-line-limit", "124")
    with leaving_no_namespace(tmp_path, *args) as sim:
        client = AtClient(sim.device, ALL_URCS)
        try:
            client.command('AT+CGDCONT=2,"IP","' + "a" * 104 + '"')  # 124 characters
            client.command('AT+CGDCONT=3,"IP","' + "a" * 105 + '"', ("ERROR",))  # cut
            client.command("AT+SQNSCFGEXT=1,1,1,0,0,1")  # hex both ways
            client.command(f'AT+SQNSD=1,1,7,"{ECHO6}",0,0,1')
            data = bytes(range(100))
            client.send("AT+SQNSSENDEXT=1,100", data.hex().upper().encode())
            assert client.wait_urc("+SQNSRING: 1,") == "+SQNSRING: 1,100"
            assert client.command("AT+SQNSRECV=1,1500")[1] == data.hex().upper()
        finally:
            client.close()
    assert "> AT+CGDCONT=3" in sim.transcript()


# --- PPP on the first terminal, sockets on the AT port or during +++ ---------------------------


def start_ppp(path: str) -> tuple[serial.Serial, LinkRunner]:
    port = open_port(path)
    at_command(port, "ATE0")
    at_command(port, "ATS12=2")  # a 40 ms escape guard time, as Telit's own code sets it
    rest = dial(port)
    runner = LinkRunner(Link(LinkConfig(username="test"), random.Random(5)), port, rest)
    runner.start()
    up = runner.run_until(lambda e: isinstance(e, LinkUp), timeout=TIMEOUT)
    assert isinstance(up, LinkUp) and up.info.local_ipv4 == CLIENT4
    return port, runner


def udp_over_ppp(runner: LinkRunner, data: bytes) -> bytes:
    sport = random.randrange(20000, 60000)
    runner.send(ipwire.build_udp(CLIENT4, IPv4Address(ECHO4), sport, 7, data))

    def answer(packet: bytes) -> bool:
        parsed = ipwire.parse_ip(packet)
        return parsed.protocol == 17 and ipwire.parse_udp(parsed)[1] == sport

    return ipwire.parse_udp(ipwire.parse_ip(runner.wait_packet(answer, TIMEOUT)))[2]


@pytest.mark.parametrize("namespace", NETWORKS)
def test_the_at_port_runs_sockets_while_ppp_runs_on_the_first(
    namespace: bool, tmp_path: Path
) -> None:
    args = ["--profile", "telit", "--attached", "--at-port"] + ["--no-namespace"] * (not namespace)
    with leaving_no_namespace(tmp_path, *args) as sim:
        port, runner = start_ppp(sim.device)
        aux = AtClient(at_port_of(sim), ALL_URCS)
        try:
            aux.command("AT+CMEE=1")
            aux.command("ATD*99***1#", ("+CME ERROR",))  # the AT port carries no call
            aux.command("AT#SCFGEXT=1,1,0,0,0,0")
            aux.command(f'AT#SD=1,1,7,"{ECHO6}",0,0,1')
            aux.send("AT#SSENDEXT=1,6", b"on aux")
            assert aux.wait_urc("SRING: 1,") == "SRING: 1,6"
            assert TELIT.read_data(aux.command("AT#SRECV=1,100,1"), False) == b"on aux"
            assert any(
                line.startswith("#PING: 01,") for line in aux.command(f'AT#PING="{ECHO6}",1')
            )
            assert udp_over_ppp(runner, b"ppp still up") == b"ppp still up"
            status = sim.control("status")
            assert status["call"] and status["mode"] == "online" and status["sockets"] == [1]
            aux.command("ATH")  # ends the call under the first terminal's feet
            assert sim.control("wait no-call 20")["ok"]
            wait_result(port, "NO CARRIER")
        finally:
            aux.close()
            port.close()


@pytest.mark.parametrize("namespace", NETWORKS)
def test_escape_suspends_ppp_for_socket_commands_and_ato_resumes(
    namespace: bool, tmp_path: Path
) -> None:
    args = ["--profile", "sequans", "--attached"] + ["--no-namespace"] * (not namespace)
    with leaving_no_namespace(tmp_path, *args) as sim:
        port, runner = start_ppp(sim.device)
        try:
            runner.pump(0.3)  # V.250 6.3.6: silence for the S12 guard time before +++
            port.write(b"+++")
            assert wait_result(port, "OK")[-1] == "OK"  # and after it: online command state
            client = AtClient(port, ALL_URCS)
            client.command("AT+SQNSCFGEXT=1,1,0,0,0,0")
            client.command(f'AT+SQNSD=1,1,7,"{ECHO4}",0,0,1')
            client.send("AT+SQNSSENDEXT=1,4", b"held")
            assert client.wait_urc("+SQNSRING: 1,") == "+SQNSRING: 1,4"
            assert SEQUANS.read_data(client.command("AT+SQNSRECV=1,100"), False) == b"held"
            got = client.command("ATO", ("CONNECT",))
            assert got[-1] == "CONNECT" and sim.control("status")["mode"] == "online"
            assert udp_over_ppp(runner, b"resumed") == b"resumed"
        finally:
            port.close()
