"""``pppbridge selftest``: the bridge against the built-in simulator in a namespace of its
own, checked with the kernel's sockets; as a process, then the failure paths in process
(each ends in exactly one ``FAILED`` line and status 1, never a traceback). Each test
checks that no namespace of the selftest's process is left behind.
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

from bridge.selftest import SelftestFailed, dns_addresses, dns_query, selftest
from bridge.simulator.settings import DialResult, Registration

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
    reason="the selftest needs root and /dev/net/tun",
)
EXPECTED_LINES = [
    "selftest: no --device: the built-in simulator plays a generic modem on /dev/pts/",
    "selftest: bridge: dialled ATD*99***1#: CONNECT",
    "selftest: bridge: authenticated (CHAP-MD5)",
    "selftest: bridge: IPv4 up: 203.0.113.10 peer 203.0.113.1, DNS 198.51.100.53",
    "selftest: bridge: IPv6 global address 2001:db8:2::2",
    "selftest: bridge: ready",
    "selftest: 64 bytes from 198.51.100.1: icmp_seq=3 ",
    "selftest: 64 bytes from 2001:db8:1::1: icmp_seq=1 ",
    "selftest: UDP echo 198.51.100.1 port 7: ",
    "selftest: TCP echo 198.51.100.1 port 7: 4000 bytes back",
    "selftest: UDP echo 2001:db8:1::1 port 7: ",
    "selftest: TCP echo 2001:db8:1::1 port 7: 4000 bytes back",
    "selftest: DNS echo.pppbridge.test A at 198.51.100.53 (the configured resolver): 198.51.100.1",
    "selftest: DNS echo.pppbridge.test AAAA at 198.51.100.53 (the configured resolver): "
    "2001:db8:1::1",
    "selftest: bridge stopped: pppbr-selftest and everything on it removed",
]


def _namespaces_of(pid: int) -> list[str]:
    return [n for n in netns.listnetns() if f"-{pid}" in n and n.startswith(("pppsim", "pppbr"))]


def test_selftest_command_runs_the_bridge_end_to_end() -> None:
    command = [sys.executable, "-m", "bridge", "selftest"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        try:
            stdout, stderr = p.communicate(timeout=90)
        finally:
            p.kill()
    assert not _namespaces_of(p.pid), "the selftest left a network namespace behind"
    lines = stdout.splitlines()
    assert p.returncode == 0, stdout + stderr
    assert "Traceback" not in stderr
    for expected in EXPECTED_LINES:
        assert any(line.startswith(expected) for line in lines), (expected, lines)
    assert lines[-1] == "selftest: ok"
    assert all(line.startswith("selftest: ") for line in lines)


def test_selftest_without_root_says_what_it_needs() -> None:
    # A user namespace without mappings: not root there (uid 65534), yet the same user
    # for the files (this Python may live in root's home).
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "true"]).returncode:
        pytest.skip("unprivileged user namespaces are not available here")
    result = subprocess.run(
        ["unshare", "--user", sys.executable, "-m", "bridge", "selftest"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "pppbridge selftest: error: the selftest needs root and /dev/net/tun (it makes a "
        "network namespace and a TUN device of its own, and leaves this host untouched): "
        "sudo pppbridge selftest"
    ]


@pytest.mark.parametrize(
    "faults, reason",
    [
        ({"registration": Registration.DENIED}, "the bridge ended: registration: "),
        ({"dial_result": DialResult.BUSY}, "the bridge ended: dial: "),
        ({"pdp_refuse": True}, "the bridge ended: "),
        ({"drop_after": 0.0}, "the bridge ended: carrier lost"),
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


def test_a_malformed_dns_answer_is_a_failure_not_a_crash() -> None:
    query = dns_query(0x4242, "echo.pppbridge.test")
    answer = bytes([0x42, 0x42, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]) + query[12:]
    with pytest.raises(SelftestFailed, match="malformed DNS answer"):
        dns_addresses(answer + b"\xc0", query)  # an answer cut inside its name
    with pytest.raises(SelftestFailed, match="rcode 3"):
        dns_addresses(bytes([0x42, 0x42, 0x81, 0x83]) + bytes(8) + query[12:], query)
