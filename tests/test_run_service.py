"""``pppbridge run`` as systemd runs it, checked from the outside: the notify protocol on a
socket the test provides ($NOTIFY_SOCKET: STATUS= lines with the phases, READY=1 once the
link is up, WATCHDOG=1 with $WATCHDOG_USEC, STOPPING=1 on SIGTERM) and least privilege
(once the TUN exists, CAP_NET_ADMIN is all the bridge keeps).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from subprocess import CompletedProcess

from run_process import LINE_TIMEOUT, RunProcess, TestNamespace
from run_traffic import ECHO_IPV4, ping
from sim_process import SimProcess
from test_tun import needs_root

pytestmark = needs_root
CAP_NET_ADMIN = 1 << 12
LINK_ARGS = ("--dns", "none", "--no-default-route", "--route", "198.51.100.0/24")


def capabilities(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
            fields[key] = int(value.strip(), 16)
    return fields


def messages(sock: socket.socket, until: str, timeout: float) -> list[str]:
    """Every notify datagram read until one holds ``until`` (bounded)."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} within {timeout} s; got {got}")


def test_notify_and_capabilities_as_under_systemd(tmp_path: Path) -> None:
    notify_path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(notify_path)
        env = {"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"}
        with TestNamespace.made() as namespace, SimProcess(tmp_path) as sim:
            args = ("--device", sim.device, *LINK_ARGS)
            with RunProcess(namespace, tmp_path, *args, env=env) as run:
                run.wait_line("ready")
                before_ready = messages(sock, "READY=1", LINE_TIMEOUT)
                assert any("STATUS=modem found" in m for m in before_ready), before_ready
                assert any("STATUS=IPv4 up: 203.0.113.10" in m for m in before_ready)
                assert any("WATCHDOG=1" in m for m in before_ready)
                assert run.process is not None
                caps = capabilities(run.process.pid)
                assert caps["CapEff"] == caps["CapPrm"] == CAP_NET_ADMIN, caps
                assert caps["CapBnd"] == CAP_NET_ADMIN and caps["CapInh"] == 0, caps
                assert messages(sock, "WATCHDOG=1", 5.0)  # about every second
                assert run.stop() == 0
            assert "STOPPING=1" in " ".join(messages(sock, "STOPPING=1", 1.0))
            assert namespace.state().empty


def test_status_at_and_metrics_against_a_live_link(tmp_path: Path) -> None:
    """``pppbridge status --json`` reads the running bridge's own link; ``pppbridge at``
    goes through it to its second AT port (here a second simulator), and without one is
    refused; the metrics file holds the same counters."""
    metrics = tmp_path / "bridge.prom"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with TestNamespace.made() as namespace, SimProcess(tmp_path / "a") as sim:
        with SimProcess(tmp_path / "b") as second_port:
            args = ("--device", sim.device, "--at-port", second_port.device, *LINK_ARGS)
            args += ("--metrics", str(metrics), "--metrics-interval", "1")
            with RunProcess(namespace, tmp_path, *args) as run:
                run.wait_line("ready")
                assert namespace.run(ping, ECHO_IPV4) == 3
                state = json.loads(client(namespace, run, "status", "--json").stdout)
                assert state["phase"] == "up" and state["schema"] == 1
                assert state["network"]["ipv4"] == "203.0.113.10"
                assert state["network"]["ipv6_global"] == ["2001:db8:2::2"]
                assert state["modem"]["imei"] and state["registration"]["operator"]
                assert state["counters"]["packets_in"] >= 3
                assert state["counters"]["packets_out"] >= 3
                answer = client(namespace, run, "at", "AT+CSQ")
                assert answer.returncode == 0 and "+CSQ:" in answer.stdout, answer
                text = wait_for_file_text(metrics, 'pppbridge_up{bridge="pppbridge0"} 1')
                assert 'profile="generic"' in text and "pppbridge_receive_packets_total" in text
                assert run.stop() == 0
            assert not metrics.exists()  # ours, removed on exit


def client(namespace: TestNamespace, run: RunProcess, *words: str) -> CompletedProcess[str]:
    command = namespace.command(
        sys.executable, "-m", "bridge", words[0], "--state-dir", str(run.state_dir), *words[1:]
    )
    return subprocess.run(command, capture_output=True, text=True, timeout=LINE_TIMEOUT)


def wait_for_file_text(path: Path, needle: str) -> str:
    """The file's text once it holds ``needle`` (it is rewritten every second)."""
    deadline = time.monotonic() + LINE_TIMEOUT
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if needle in text:
            return text
        time.sleep(0.2)  # the probe's period: the file changes on the bridge's timer
    raise AssertionError(f"{needle!r} not in {path} within {LINE_TIMEOUT} s")


def test_under_the_journal_every_line_goes_to_stderr_with_its_priority(tmp_path: Path) -> None:
    """$JOURNAL_STREAM names standard error (as systemd sets it): the phase lines become
    log records there, one a line, with syslog priority prefixes; nothing on stdout."""
    journal = 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec "$@"'
    with TestNamespace.made() as namespace, SimProcess(tmp_path) as sim:
        args = ("--device", sim.device, *LINK_ARGS)
        prefix = ("sh", "-c", journal, "sh")
        with RunProcess(namespace, tmp_path, *args, prefix=prefix) as run:
            deadline = time.monotonic() + LINE_TIMEOUT
            while not any("ready: try" in line for line in run.errors):
                assert time.monotonic() < deadline, run.errors
                time.sleep(0.1)  # the probe's period: lines come as the bridge gets there
            assert run.stop() == 0
        assert run.lines == []
        assert "<6>registered: home network (Simulated Operator), LTE, after" in "\n".join(
            run.errors
        )
        assert all(line[:1] == "<" and line[2:3] == ">" for line in run.errors), run.errors
