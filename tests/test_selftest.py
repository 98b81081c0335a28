"""``pppbridge selftest``: our PPP client against the modem simulator, end to end.

The command as a process (the namespace network when root, the in-process responder
otherwise, and forced with an unprivileged user namespace), then the failure paths in
process: each fault ends in exactly one ``FAILED`` line and status 1, never a traceback.
Each test checks that the selftest's process left no ``pppsim-<pid>-`` network namespace
behind (by pid: other simulators may run beside these tests).
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys

import pytest
from pyroute2 import netns

from bridge.selftest import SelftestFailed, dns_addresses, dns_query, final_result, selftest
from bridge.simulator.settings import DialResult, Registration

EXPECTED_LINES = [
    "selftest: ATD*99***1# -> CONNECT",
    'selftest: AT+CGAUTH=1,2,"selftest","***" -> OK',
    "selftest: IPv4 203.0.113.10 peer 203.0.113.1, DNS 198.51.100.53",
    "selftest: IPv6 2001:db8:2::2 ",
    "selftest: 64 bytes from 198.51.100.1: icmp_seq=3 ",
    "selftest: 64 bytes from 2001:db8:1::1: icmp_seq=1 ",
    "selftest: UDP echo 198.51.100.1 port 7: 18 bytes back",
    "selftest: DNS echo.pppbridge.test A at 198.51.100.53: 198.51.100.1,",
    "selftest: link down: closed locally",
    "selftest: modem back in command mode",
]


def _namespaces_of(pid: int) -> list[str]:
    return [name for name in netns.listnetns() if name.startswith(f"pppsim-{pid}-")]


def _run(*prefix: str) -> subprocess.CompletedProcess[str]:
    """``python3 -m bridge selftest`` (after ``prefix``), bounded; checks for leftovers."""
    command = [*prefix, sys.executable, "-m", "bridge", "selftest"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        try:
            stdout, stderr = p.communicate(timeout=60)
        finally:
            p.kill()
    assert not _namespaces_of(p.pid), "the selftest left its network namespace behind"
    return subprocess.CompletedProcess(command, p.returncode, stdout, stderr)


def _check_success(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for expected in EXPECTED_LINES:
        assert any(line.startswith(expected) for line in lines), (expected, lines)
    assert lines[-1] == "selftest: ok"
    assert all(line.startswith("selftest: ") for line in lines)
    return lines


def test_selftest_command_runs_the_whole_stack_against_the_simulator() -> None:
    _check_success(_run())


def test_selftest_without_privileges_uses_the_in_process_responder() -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "true"]).returncode:
        pytest.skip("unprivileged user namespaces are not available here")
    lines = _check_success(_run("unshare", "--user"))
    assert "selftest: simulator: operator network: local" in lines


@pytest.mark.parametrize(
    "faults, reason",
    [
        ({"registration": Registration.DENIED}, "not registered on the network: +CEREG: 0,3"),
        ({"dial_result": DialResult.BUSY}, "ATD*99***1#: expected CONNECT, got BUSY"),
        ({"pdp_refuse": True}, "ATD*99***1#: expected CONNECT, got NO CARRIER"),
        ({"drop_after": 0.0}, "link down: carrier lost"),
        ({"reject_ipv6cp": True}, "no IPv6: "),
    ],
)
def test_an_expected_failure_is_one_line_and_status_1(
    faults: dict[str, object], reason: str
) -> None:
    out = io.StringIO()
    assert asyncio.run(selftest(out, **faults)) == 1
    assert not _namespaces_of(os.getpid())
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith(f"selftest: FAILED: {reason}"), lines
    assert sum("FAILED" in line for line in lines) == 1


def test_final_results_are_whole_lines() -> None:
    assert final_result("OK") == "OK"
    assert final_result("CONNECT 150000000") == "CONNECT"
    assert final_result("+CME ERROR: 30") == "+CME ERROR"
    for line in ("xOK", "OK?", "CONNECTED", "+CEREG: 0,1", "AT"):
        assert final_result(line) is None


def test_a_malformed_dns_answer_is_a_failure_not_a_crash() -> None:
    query = dns_query(0x4242, "echo.pppbridge.test")
    answer = bytes([0x42, 0x42, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]) + query[12:]
    with pytest.raises(SelftestFailed, match="malformed DNS answer"):
        dns_addresses(answer + b"\xc0", query)  # an answer cut inside its name
    with pytest.raises(SelftestFailed, match="rcode 3"):
        dns_addresses(bytes([0x42, 0x42, 0x81, 0x83]) + bytes(8) + query[12:], query)
