"""The TUN and everything on it in another network namespace (``HostSettings.netns``,
bridge/netns.py): configured from the test's own namespace, which never sees the TUN; a
ping from inside the namespace answered through the TUN's descriptor; the namespace given
by name or by /proc/PID/ns/net; the state file naming it, so that cleanup after a kill goes
there, and says so when the namespace is gone; which resolv.conf ``resolvconf`` means.

Needs root and /dev/net/tun; namespaces are made and removed by each test
(``tests/run_process.py``'s ``TestNamespace``).
"""

from __future__ import annotations

import asyncio
import json
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from bridge.errors import HostSetupError
from bridge.netconfig import (
    DnsMode,
    DnsTarget,
    HostConfig,
    HostSettings,
    cleanup_from_state,
    parse_dns_mode,
)
from bridge.netns import NamespaceGone, find_netns, netns_path, run_in_thread
from bridge.tun import TunDevice
from netstack import ipwire
from run_process import TestNamespace
from test_tun import ROOT, TIMEOUT, needs_root, wait_packets

IFNAME = "pbtest0"
LOCAL = IPv4Address("203.0.113.10")
PEER = IPv4Address("198.51.100.1")
DNS4 = (IPv4Address("198.51.100.53"),)
ORIGINAL = b"nameserver 192.0.2.53\n"


@pytest.fixture
def bridge_ns() -> Iterator[TestNamespace]:
    with TestNamespace.made() as made:
        yield made


@pytest.fixture
def settings(tmp_path: Path, bridge_ns: TestNamespace) -> HostSettings:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    return HostSettings(
        ifname=IFNAME,
        state_dir=tmp_path / "run",
        default_route=False,
        dns=parse_dns_mode(f"file:{resolv}"),
        netns=bridge_ns.name,
    )


# --- what a namespace has, and traffic in it (shared with test_policy_routing) ---------------


def link_names() -> set[str]:
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def addresses_on(ifname: str = IFNAME) -> set[str]:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=ifname)
        found = ipr.get_addr(index=index[0]) if index else []
        return {f"{a.get_attr('IFA_LOCAL')}/{a['prefixlen']}" for a in found}


def raw_icmp_socket() -> socket.socket:
    """A raw ICMP socket of the namespace of the calling thread (it stays there)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    return sock


def send_echo(sock: socket.socket, dst: IPv4Address, seq: int) -> None:
    """An echo request through ``sock``: the ICMP message only, the kernel adds the IP
    header with the source its routes pick."""
    packet = ipwire.build_icmp_echo(LOCAL, dst, reply=False, ident=0x7171, seq=seq, payload=b"ns")
    sock.sendto(packet[20:], (str(dst), 0))


def answer_echo(tun: TunDevice) -> ipwire.IpPacket:
    """The far end: read an echo request from the TUN and write its reply back; the request
    as read."""
    request = ipwire.parse_ip(wait_packets(tun, is_echo_request)[0])
    echo = ipwire.parse_icmp_echo(request)
    assert echo is not None
    _, ident, seq, payload = echo
    reply = ipwire.build_icmp_echo(
        request.dst, request.src, reply=True, ident=ident, seq=seq, payload=payload
    )
    assert tun.write(reply)
    return request


def is_echo_request(packet: bytes) -> bool:
    if packet[0] >> 4 != 4:
        return False
    echo = ipwire.parse_icmp_echo(ipwire.parse_ip(packet))
    return echo is not None and not echo[0]


def wait_echo_reply(sock: socket.socket, seq: int) -> ipwire.IpPacket:
    """The echo reply with ``seq`` that reaches ``sock`` (bounded)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
            raise TimeoutError(f"no echo reply within {TIMEOUT} s")
        ip = ipwire.parse_ip(sock.recv(65536))
        echo = ipwire.parse_icmp_echo(ip)
        if echo is not None and echo[0] and echo[2] == seq:
            return ip


# --- the TUN in another namespace ---------------------------------------------------------------


@needs_root
def test_tun_in_another_namespace_answers_a_ping_from_inside(
    bridge_ns: TestNamespace, settings: HostSettings
) -> None:
    with HostConfig(settings) as host:
        tun = host.open_tun(1500)
        host.apply_ipv4(LOCAL, PEER, DNS4)
        assert IFNAME not in link_names()  # not here: there
        assert bridge_ns.run(addresses_on) == {f"{LOCAL}/32"}
        state = json.loads(host.state_path.read_text())
        assert state["netns"]["path"] == f"/run/netns/{bridge_ns.name}"
        with bridge_ns.run(raw_icmp_socket) as sock:
            send_echo(sock, PEER, seq=1)
            request = answer_echo(tun)  # the descriptor, read and written from here
            reply = wait_echo_reply(sock, seq=1)
        assert (request.src, request.dst) == (LOCAL, PEER)
        assert (reply.src, reply.dst) == (PEER, LOCAL)
        assert settings.dns is not None and settings.dns.path is not None
        assert settings.dns.path.read_bytes() == b"nameserver 198.51.100.53\n"
    assert bridge_ns.state().empty
    assert settings.dns.path.read_bytes() == ORIGINAL
    assert list(settings.state_dir.iterdir()) == []


@needs_root
def test_from_the_event_loops_thread(bridge_ns: TestNamespace, settings: HostSettings) -> None:
    """The data plane calls from callbacks on the loop: into the namespace all the same."""

    async def main() -> None:
        with HostConfig(settings) as host:
            host.open_tun(1400)
            host.apply_ipv4(LOCAL, PEER)
            host.open_tun(1500)  # LCP renegotiated: the MTU again, there

    asyncio.run(main())
    assert bridge_ns.state().empty


@contextmanager
def process_in(namespace: TestNamespace) -> Iterator[int]:
    """The pid of a process that sits in ``namespace`` until the block ends (once it says
    it is there: ``ip netns exec`` enters it after it started)."""
    command = namespace.command("sh", "-c", "echo in && exec cat")
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert select.select([child.stdout], [], [], TIMEOUT)[0], "not in the namespace in time"
        assert child.stdout.readline() == b"in\n"
        yield child.pid
    finally:
        child.stdin.close()
        child.wait(TIMEOUT)
        child.stdout.close()


@needs_root
def test_namespace_given_by_path(bridge_ns: TestNamespace, settings: HostSettings) -> None:
    with process_in(bridge_ns) as pid:
        by_path = replace(settings, netns=f"/proc/{pid}/ns/net")
        with HostConfig(by_path) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER)
            assert bridge_ns.run(addresses_on) == {f"{LOCAL}/32"}
        assert bridge_ns.state().empty


# --- after a kill -------------------------------------------------------------------------------

KILLED = """
import sys
from ipaddress import IPv4Address
from pathlib import Path
from bridge.netconfig import HostConfig, HostSettings, parse_dns_mode
namespace, state_dir, resolv = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
host = HostConfig(HostSettings("pbtest0", state_dir, default_route=False, netns=namespace,
                               dns=parse_dns_mode(f"file:{resolv}")))
host.start()
host.open_tun(1500)
host.apply_ipv4(IPv4Address("203.0.113.10"), None, [IPv4Address("198.51.100.53")])
print("ready", flush=True)
sys.stdin.readline()  # until killed
"""


def kill_a_bridge_in(namespace: TestNamespace, settings: HostSettings) -> None:
    """A bridge process in the test's namespace configures a persistent TUN in
    ``namespace``; then it is killed with SIGKILL."""
    namespace.run(persistent_tun)
    assert settings.dns is not None
    run_until_ready_then_kill(
        KILLED, namespace.name, str(settings.state_dir), str(settings.dns.path)
    )


def run_until_ready_then_kill(script: str, *args: str) -> None:
    """Run the Python ``script`` until it prints "ready", then kill it with SIGKILL."""
    with subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert select.select([child.stdout], [], [], TIMEOUT)[0], "not ready in time"
            assert child.stdout.readline() == "ready\n"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(TIMEOUT)


def persistent_tun() -> None:
    from bridge.tun import tun_setup

    tun_setup(IFNAME, 0)


@needs_root
def test_a_killed_bridge_is_cleaned_in_its_namespace(
    bridge_ns: TestNamespace, settings: HostSettings
) -> None:
    kill_a_bridge_in(bridge_ns, settings)
    assert bridge_ns.run(addresses_on) == {f"{LOCAL}/32"}  # left by the killed one
    done = cleanup_from_state(settings.state_dir / f"{IFNAME}.json")
    assert f"removed {LOCAL}/32 on {IFNAME}" in done
    assert bridge_ns.run(addresses_on) == set()
    assert settings.dns is not None and settings.dns.path is not None
    assert settings.dns.path.read_bytes() == ORIGINAL


@needs_root
def test_a_namespace_gone_took_the_changes_along(
    bridge_ns: TestNamespace, settings: HostSettings
) -> None:
    """The namespace was removed, and one of the same name made since: a different one,
    which the next start leaves alone; the file outside it is put back."""
    kill_a_bridge_in(bridge_ns, settings)
    netns.remove(bridge_ns.name)
    netns.create(bridge_ns.name)
    host = HostConfig(replace(settings, netns=None))
    try:
        done = host.start()
    finally:
        host.teardown()
    gone = f"network namespace /run/netns/{bridge_ns.name} is gone"
    assert f"{gone} (/run/netns/{bridge_ns.name} names another now), and with it: {IFNAME}" in done
    assert settings.dns is not None and settings.dns.path is not None
    assert settings.dns.path.read_bytes() == ORIGINAL
    assert list(settings.state_dir.iterdir()) == []


# --- finding a namespace ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", ".", "..", "a/b", "with space", "relative/ns/net"])
def test_bad_namespace_names(text: str) -> None:
    with pytest.raises(HostSetupError, match="expected a name .* or an absolute path"):
        HostSettings(netns=text)


def test_names_and_paths() -> None:
    assert netns_path("ctr") == Path("/run/netns/ctr")
    assert netns_path("/proc/1/ns/net") == Path("/proc/1/ns/net")


def test_missing_namespace_and_not_a_namespace(tmp_path: Path) -> None:
    with pytest.raises(HostSetupError, match="no network namespace /run/netns/pb-none: make it"):
        find_netns("pb-none")
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with pytest.raises(HostSetupError, match=f"{plain} is not a network namespace"):
        find_netns(str(plain))


@needs_root
def test_entering_checks_the_identity(bridge_ns: TestNamespace) -> None:
    found = find_netns(bridge_ns.name)
    assert run_in_thread(lambda: IFNAME, netns=found) == IFNAME
    netns.remove(bridge_ns.name)
    with pytest.raises(NamespaceGone, match="is gone"):
        run_in_thread(lambda: None, netns=found)
    netns.create(bridge_ns.name)  # for the fixture to remove


@needs_root
def test_start_refuses_a_missing_namespace(settings: HostSettings) -> None:
    with pytest.raises(HostSetupError, match="no network namespace /run/netns/pb-none"):
        HostConfig(replace(settings, netns="pb-none")).start()
    assert list(settings.state_dir.iterdir()) == []


# --- DNS in another namespace ----------------------------------------------------------------


def test_resolvconf_means_the_namespaces_file() -> None:
    named = HostSettings(netns="ctr")
    assert named.managed_resolv_conf == Path("/etc/netns/ctr/resolv.conf")
    assert HostSettings().managed_resolv_conf == Path("/etc/resolv.conf")
    chosen = HostSettings(netns="ctr", resolv_conf=Path("/tmp/r"))
    assert chosen.managed_resolv_conf == Path("/tmp/r")
    assert HostSettings(netns="/proc/1/ns/net").managed_resolv_conf is None


def test_resolvconf_refused_for_a_namespace_given_by_path() -> None:
    with pytest.raises(HostSetupError, match="has no resolv.conf of its own; use --dns file"):
        HostSettings(netns="/proc/1/ns/net", dns=DnsMode(DnsTarget.RESOLVCONF))


@needs_root
def test_default_dns_for_a_namespace_given_by_path_is_none(
    bridge_ns: TestNamespace, settings: HostSettings, tmp_path: Path
) -> None:
    before = settings.resolv_conf.read_bytes()  # this host's own: read, never written
    with process_in(bridge_ns) as pid:
        quiet = replace(settings, netns=f"/proc/{pid}/ns/net", dns=None)
        with HostConfig(quiet) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)
            assert settings.resolv_conf.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resolv.conf", "run"]
