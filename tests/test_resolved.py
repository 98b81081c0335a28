"""DNS through systemd-resolved (bridge/resolved.py, ``--dns resolved`` in
bridge/netconfig.py) over a real D-Bus: each test starts its own ``dbus-daemon`` (Debian
package dbus-daemon), with no system bus involved.

systemd-resolved itself cannot run on these machines (no systemd as PID 1), so the service
on that bus is a stand-in written here: it owns ``org.freedesktop.resolve1`` and implements
the per-link methods of ``org.freedesktop.resolve1.Manager`` as their published definition
(org.freedesktop.resolve1(5)) gives them: the same names and signatures
(``SetLinkDNS(ia(iay))``, ``SetLinkDomains(ia(sb))``, ``RevertLink(i)``), resolved's
checks of the arguments (address family and size) and its ``NoSuchLink`` error for an
index the kernel does not know. It records every call, so the tests check the calls and
their arguments: the servers and the ``~.`` routing domain set on the TUN, updated when
the servers change, reverted on teardown, on withdraw, and by the next start after a
bridge was killed (a persistent TUN outlives it; one the bridge made takes resolved's
settings along). Needs root and /dev/net/tun for the TUN, in namespaces the tests make.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import pytest
from jeepney import HeaderFields, Message, MessageType, new_error, new_method_return
from jeepney.bus_messages import DBusNameFlags, message_bus
from jeepney.io.blocking import open_dbus_connection

from bridge import resolved
from bridge.errors import HostSetupError
from bridge.netconfig import (
    DnsMode,
    DnsTarget,
    HostConfig,
    HostSettings,
    cleanup_from_state,
    default_dns_mode,
    parse_dns_mode,
)
from bridge.tun import tun_setup
from test_netconfig import IID, PEER_IID, ra
from test_tun import ROOT, TIMEOUT, Namespace, namespace, needs_root

__all__ = ["namespace"]  # the fixture, from test_tun

IFNAME = "pbtest0"
LOCAL = IPv4Address("203.0.113.10")
PEER = IPv4Address("198.51.100.1")
DNS4 = (IPv4Address("198.51.100.53"), IPv4Address("198.51.100.54"))
DNS6 = IPv6Address("2001:db8:1::53")
NAME = "org.freedesktop.resolve1"
MANAGER = "org.freedesktop.resolve1.Manager"
PATH = "/org/freedesktop/resolve1"
needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None,
    reason="needs dbus-daemon (Debian package dbus-daemon; .ci/run installs it)",
)


# --- the bus and the stand-in -------------------------------------------------------------------


@pytest.fixture
def bus() -> Iterator[str]:
    """A dbus-daemon of this test's own (its session configuration: anyone may own any
    name), on a socket at a path (an abstract one would be per network namespace)."""
    directory = tempfile.mkdtemp(prefix="pb-dbus-")  # short: socket paths are 108 bytes
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address"]
        + [f"--address=unix:path={directory}/bus"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None and daemon.stderr is not None
        if not select.select([daemon.stdout], [], [], TIMEOUT)[0]:
            raise TimeoutError(f"dbus-daemon gave no address within {TIMEOUT} s")
        address = daemon.stdout.readline().strip()
        assert address.startswith("unix:path="), daemon.stderr.read()
        yield address
    finally:
        daemon.terminate()
        try:
            daemon.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(TIMEOUT)
        for stream in (daemon.stdout, daemon.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(directory, ignore_errors=True)


class StandInResolved:
    """org.freedesktop.resolve1's per-link methods on the test's bus (see the module
    docstring), served by a thread; ``calls`` lists each call as (method, ifindex,
    arguments), ``links`` what each link has now. ``refuse`` maps a method to the D-Bus
    error it answers instead."""

    SIGNATURES = {
        "SetLinkDNS": "ia(iay)",
        "SetLinkDomains": "ia(sb)",
        "SetLinkDefaultRoute": "ib",
        "RevertLink": "i",
    }
    ADDRESS_SIZES = {socket.AF_INET: 4, socket.AF_INET6: 16}

    def __init__(self, address: str) -> None:
        self.connection = open_dbus_connection(address)
        request = message_bus.RequestName(NAME, DBusNameFlags.do_not_queue)
        reply = self.connection.send_and_get_reply(request, timeout=TIMEOUT)
        assert reply.body == (1,)  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        self.calls: list[tuple[str, int, Any]] = []
        self.links: dict[int, dict[str, Any]] = {}
        self.refuse: dict[str, str] = {}
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="stand-in resolved")
        self._thread.start()  # in the namespace of the thread that made the stand-in

    def stop(self) -> None:
        os.write(self._stop_write, b"x")
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the stand-in did not stop"
        self.connection.close()
        os.close(self._stop_read)
        os.close(self._stop_write)

    def _serve(self) -> None:
        while True:
            ready = select.select([self.connection.sock, self._stop_read], [], [], TIMEOUT)[0]
            if self._stop_read in ready:
                return
            while True:  # every message read, including those parsed from one read
                try:
                    message = self.connection.receive(timeout=0)
                except TimeoutError:
                    break
                except OSError:
                    return  # the bus went away
                if message.header.message_type == MessageType.method_call:
                    self.connection.send(self._answer(message))

    def _answer(self, message: Message) -> Message:
        fields = message.header.fields
        method = fields.get(HeaderFields.member)
        if fields.get(HeaderFields.path) != PATH or fields.get(HeaderFields.interface) not in (
            None,
            MANAGER,
        ):
            return _error(message, "org.freedesktop.DBus.Error.UnknownObject", "no such object")
        if method not in self.SIGNATURES:
            return _error(message, "org.freedesktop.DBus.Error.UnknownMethod", f"{method}?")
        if fields.get(HeaderFields.signature) != self.SIGNATURES[method]:
            return _error(message, "org.freedesktop.DBus.Error.InvalidArgs", "bad signature")
        if method in self.refuse:
            return _error(message, self.refuse[method], "refused by the test")
        ifindex = message.body[0]
        try:
            socket.if_indextoname(ifindex)
        except OSError:
            return _error(
                message, "org.freedesktop.resolve1.NoSuchLink", f"Link {ifindex} not known"
            )
        problem = getattr(self, f"_{method}")(ifindex, *message.body[1:])
        if problem:
            return _error(message, "org.freedesktop.DBus.Error.InvalidArgs", problem)
        return new_method_return(message)

    def _SetLinkDNS(self, ifindex: int, addresses: list[tuple[int, bytes]]) -> str | None:
        for family, packed in addresses:
            if family not in self.ADDRESS_SIZES:
                return f"Unknown address family {family}"
            if len(packed) != self.ADDRESS_SIZES[family]:
                return "Invalid address size"
        servers = [(family, str(ip_address(packed))) for family, packed in addresses]
        self.calls.append(("SetLinkDNS", ifindex, servers))
        self.links.setdefault(ifindex, {})["dns"] = servers
        return None

    def _SetLinkDomains(self, ifindex: int, domains: list[tuple[str, bool]]) -> str | None:
        if any(not name for name, _ in domains):
            return "Invalid search domain"
        self.calls.append(("SetLinkDomains", ifindex, list(domains)))
        self.links.setdefault(ifindex, {})["domains"] = list(domains)
        return None

    def _SetLinkDefaultRoute(self, ifindex: int, enabled: bool) -> str | None:
        self.calls.append(("SetLinkDefaultRoute", ifindex, enabled))
        self.links.setdefault(ifindex, {})["default_route"] = enabled
        return None

    def _RevertLink(self, ifindex: int) -> str | None:
        self.calls.append(("RevertLink", ifindex, None))
        self.links.pop(ifindex, None)
        return None


def _error(message: Message, name: str, text: str) -> Message:
    return new_error(message, name, "s", (text,))


@pytest.fixture
def stand_in(bus: str, namespace: Namespace) -> Iterator[StandInResolved]:
    """The stand-in, started inside the test's namespace (it checks indexes there, as
    resolved does in its own)."""
    service = namespace.run(StandInResolved, bus)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def settings(tmp_path: Path, bus: str) -> HostSettings:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(b"nameserver 192.0.2.53\n")
    return HostSettings(
        ifname=IFNAME,
        state_dir=tmp_path / "run",
        resolv_conf=resolv,
        dns=DnsMode(DnsTarget.RESOLVED),
        system_bus=bus,
    )


def v4(*servers: IPv4Address) -> list[tuple[int, str]]:
    return [(socket.AF_INET, str(server)) for server in servers]


# --- the calls ----------------------------------------------------------------------------------


@needs_root
@needs_dbus
def test_servers_and_routing_domain_set_updated_and_reverted(
    namespace: Namespace, stand_in: StandInResolved, settings: HostSettings
) -> None:
    def scenario() -> tuple[int, list[dict[str, Any]]]:
        with HostConfig(settings) as host:
            tun = host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)
            host.apply_ipv4(LOCAL, PEER, DNS4)  # a repeat: no call
            listed = json.loads(host.state_path.read_text())["changes"]
            host.apply_ipv6_link_local(IID, PEER_IID)
            host.apply_router_advertisement(ra(dns=(str(DNS6),)))  # RDNSS: one more server
            host.apply_ipv4(LOCAL, PEER, DNS4[:1])  # IPCP renegotiated: fewer servers
            return tun.ifindex, listed

    ifindex, listed = namespace.run(scenario)
    assert {
        "kind": "resolved",
        "ifname": IFNAME,
        "ifindex": ifindex,
        "bus": settings.system_bus,
        "servers": [str(server) for server in DNS4],
        "domains": ["~."],
    } in listed  # recorded in the state file
    assert stand_in.calls == [
        ("SetLinkDNS", ifindex, v4(*DNS4)),
        ("SetLinkDomains", ifindex, [(".", True)]),
        ("SetLinkDefaultRoute", ifindex, True),
        ("SetLinkDNS", ifindex, [*v4(*DNS4), (socket.AF_INET6, str(DNS6))]),
        ("SetLinkDomains", ifindex, [(".", True)]),
        ("SetLinkDefaultRoute", ifindex, True),
        ("SetLinkDNS", ifindex, [*v4(DNS4[0]), (socket.AF_INET6, str(DNS6))]),
        ("SetLinkDomains", ifindex, [(".", True)]),
        ("SetLinkDefaultRoute", ifindex, True),
        ("RevertLink", ifindex, None),  # teardown
    ]
    assert stand_in.links == {}
    assert settings.resolv_conf.read_bytes() == b"nameserver 192.0.2.53\n"  # untouched


@needs_root
@needs_dbus
def test_without_default_route_no_routing_domain_and_withdraw_reverts(
    namespace: Namespace, stand_in: StandInResolved, settings: HostSettings
) -> None:
    def scenario() -> tuple[int, dict[int, dict[str, Any]]]:
        with HostConfig(replace(settings, default_route=False)) as host:
            tun = host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4[:1])
            during = {index: dict(link) for index, link in stand_in.links.items()}
            host.withdraw()  # the link went down
            assert stand_in.links == {}
            return tun.ifindex, during

    ifindex, during = namespace.run(scenario)
    # Without the default route, not a default DNS route either: the host's lookups
    # must not go to the carrier's servers (resolved's DefaultRoute= would say yes).
    assert during == {ifindex: {"dns": v4(DNS4[0]), "domains": [], "default_route": False}}
    assert [call[0] for call in stand_in.calls] == [
        "SetLinkDNS",
        "SetLinkDomains",
        "SetLinkDefaultRoute",
        "RevertLink",
    ]


# A bridge that configures resolved's DNS on pbtest0 and waits to be killed.
KILLED = """
import sys
from ipaddress import IPv4Address
from pathlib import Path
from pyroute2 import netns
from bridge.netconfig import DnsMode, DnsTarget, HostConfig, HostSettings
netns.setns(sys.argv[1], flags=0)
settings = HostSettings("pbtest0", Path(sys.argv[2]), resolv_conf=Path(sys.argv[3]),
                        dns=DnsMode(DnsTarget.RESOLVED), system_bus=sys.argv[4])
host = HostConfig(settings)
host.start()
print(host.open_tun(1500).ifindex, flush=True)
host.apply_ipv4(IPv4Address("203.0.113.10"), IPv4Address("198.51.100.1"),
                [IPv4Address("198.51.100.53")])
print("ready", flush=True)
sys.stdin.readline()  # until killed
"""


def kill_a_configured_bridge(namespace: Namespace, settings: HostSettings) -> int:
    """Run KILLED until it is ready, then SIGKILL it; the TUN's index."""
    assert settings.system_bus is not None
    argv = [namespace.name, str(settings.state_dir), str(settings.resolv_conf)]
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, *argv, settings.system_bus],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        lines = []
        for _ in range(2):
            if not select.select([child.stdout], [], [], TIMEOUT)[0]:
                raise TimeoutError(f"the bridge was not ready within {TIMEOUT} s")
            lines.append(child.stdout.readline())
        assert lines[1] == "ready\n", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        assert child.wait(TIMEOUT) == -signal.SIGKILL
        return int(lines[0])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(TIMEOUT)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()


@needs_root
@needs_dbus
@pytest.mark.parametrize("how", ["next start", "cleanup_from_state"])
def test_killed_bridge_is_reverted_by_the_next_start(
    namespace: Namespace, stand_in: StandInResolved, settings: HostSettings, how: str
) -> None:
    namespace.run(tun_setup, IFNAME, 0)  # persistent: resolved's settings outlive the bridge
    ifindex = kill_a_configured_bridge(namespace, settings)
    assert stand_in.links == {
        ifindex: {"dns": v4(DNS4[0]), "domains": [(".", True)], "default_route": True}
    }

    def clean() -> list[str]:
        if how == "cleanup_from_state":
            return cleanup_from_state(settings.state_dir / f"{IFNAME}.json")
        host = HostConfig(settings)
        try:
            return host.start()
        finally:
            host.teardown()

    done = namespace.run(clean)
    assert "reverted: DNS of pbtest0 in systemd-resolved" in done
    assert stand_in.calls[-1] == ("RevertLink", ifindex, None) and stand_in.links == {}
    assert list(settings.state_dir.iterdir()) == []


@needs_root
@needs_dbus
def test_killed_bridge_with_its_own_tun_needs_no_revert(
    namespace: Namespace, stand_in: StandInResolved, settings: HostSettings
) -> None:
    """resolved forgets a link that goes: nothing is called for it."""
    kill_a_configured_bridge(namespace, settings)
    calls = len(stand_in.calls)
    done = namespace.run(lambda: cleanup_from_state(settings.state_dir / f"{IFNAME}.json"))
    expected = "already gone: DNS of pbtest0 in systemd-resolved (it went with the interface)"
    assert expected in done
    assert len(stand_in.calls) == calls


# --- refusals -----------------------------------------------------------------------------------


@needs_root
@needs_dbus
def test_resolved_not_running(namespace: Namespace, settings: HostSettings) -> None:
    """A bus without resolved on it: the call says so, and nothing stays recorded."""

    def scenario() -> list[dict[str, Any]]:
        with HostConfig(settings) as host:
            host.open_tun(1500)
            with pytest.raises(HostSetupError) as caught:
                host.apply_ipv4(LOCAL, PEER, DNS4)
            assert str(caught.value) == (
                "systemd-resolved is not running: start it, or choose another --dns mode"
            )
            return json.loads(host.state_path.read_text())["changes"]  # type: ignore[no-any-return]

    assert [change["kind"] for change in namespace.run(scenario)] == ["link"]


@needs_root
@needs_dbus  # for the settings' bus, replaced here
def test_no_bus(namespace: Namespace, settings: HostSettings, tmp_path: Path) -> None:
    missing = f"unix:path={tmp_path}/no-bus"

    def scenario() -> None:
        with HostConfig(replace(settings, system_bus=missing)) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)

    with pytest.raises(HostSetupError) as caught:
        namespace.run(scenario)
    assert str(caught.value) == (
        f"cannot reach systemd-resolved: no D-Bus at {missing} (No such file or directory); "
        "choose another --dns mode"
    )


@needs_root
@needs_dbus
@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            "org.freedesktop.resolve1.LinkBusy",
            "systemd-resolved refuses DNS for {link}: systemd-networkd manages it (exclude it "
            "from its .network files)",
        ),
        (
            "org.freedesktop.DBus.Error.AccessDenied",
            "systemd-resolved refuses SetLinkDNS: needs CAP_NET_ADMIN (or a polkit rule)",
        ),
    ],
)
def test_refusals(
    namespace: Namespace, stand_in: StandInResolved, bus: str, error: str, message: str
) -> None:
    stand_in.refuse["SetLinkDNS"] = error

    def scenario() -> str:
        with pytest.raises(HostSetupError) as caught:
            resolved.set_link_dns(1, DNS4, bus=bus)  # lo, in the namespace
        return str(caught.value)

    assert namespace.run(scenario) == message.format(link="lo (index 1)")


@needs_root
@needs_dbus
def test_unknown_link(namespace: Namespace, stand_in: StandInResolved, bus: str) -> None:
    def scenario() -> None:
        resolved.revert_link(4242, bus=bus)

    with pytest.raises(resolved.NoSuchLink, match="systemd-resolved does not know interface 4242"):
        namespace.run(scenario)


# --- the mode -----------------------------------------------------------------------------------


def test_resolved_is_the_default_with_its_stub(tmp_path: Path) -> None:
    link = tmp_path / "resolv.conf"
    for target in ("/run/systemd/resolve/stub-resolv.conf", "/run/systemd/resolve/resolv.conf"):
        link.symlink_to(target)
        assert default_dns_mode(link) == DnsMode(DnsTarget.RESOLVED)
        link.unlink()
    # /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, relative
    link.symlink_to("../" * (len(link.parent.parts) - 1) + "run/systemd/resolve/stub-resolv.conf")
    assert default_dns_mode(link) == DnsMode(DnsTarget.RESOLVED)
    link.unlink()
    link.symlink_to("/run/resolvconf/resolv.conf")  # resolvconf's: left alone
    assert default_dns_mode(link) == DnsMode(DnsTarget.NONE)


def test_resolved_mode_parsed_and_refused_in_another_namespace() -> None:
    assert parse_dns_mode("resolved") == DnsMode(DnsTarget.RESOLVED)
    with pytest.raises(HostSetupError, match="systemd-resolved serves its own namespace only"):
        HostSettings(netns="elsewhere", dns=DnsMode(DnsTarget.RESOLVED))
