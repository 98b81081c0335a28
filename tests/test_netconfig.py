"""Host configuration (bridge/netconfig.py) on real TUN devices and real netlink, in network
namespaces the tests make and remove: addresses, routes and DNS appear and go, Router
Advertisements are applied and repeated, nothing that is not ours is touched, and a bridge
killed with SIGKILL is cleaned up by the next start. resolv.conf is always a temporary file
(and, once, a bind mount in a private mount namespace).

Needs root and /dev/net/tun.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS, IPv6

from bridge.errors import HostSetupError
from bridge.hooks import HookContext
from bridge.netconfig import (
    DnsMode,
    DnsTarget,
    HostConfig,
    HostSettings,
    cleanup_from_state,
    default_dns_mode,
    parse_dns_mode,
    parse_route,
    replace_file,
)
from bridge.tun import LinkState, TunDevice, read_link_state, tun_setup
from netstack import ipwire
from netstack.ra import RouterAdvertisement, parse_router_advertisement
from test_tun import (
    NOBODY,
    ROOT,
    TIMEOUT,
    Namespace,
    namespace,
    needs_root,
    open_tun_node,
    run_child,
)

__all__ = ["namespace", "open_tun_node"]  # fixtures shared with test_tun

IFNAME = "pbtest0"
LOCAL = IPv4Address("203.0.113.10")
PEER = IPv4Address("198.51.100.1")
DNS4 = (IPv4Address("198.51.100.53"), IPv4Address("198.51.100.54"))
IID = bytes.fromhex("0211223344556677")
PEER_IID = bytes.fromhex("0000000000000001")
ROUTER = "fe80::1"
GLOBAL = IPv6Address("2001:db8:2:0:211:2233:4455:6677")
ORIGINAL = b"# the host's own\nnameserver 192.0.2.53\noptions edns0\n"
EXTRA = (ip_network("192.0.2.0/24"), ip_network("2001:db8:5::/48"))


def ra_bytes(
    router_lifetime: int = 1800,
    valid: int = 86400,
    preferred: int = 14400,
    dns: tuple[str, ...] = (),
    router: str = ROUTER,
) -> bytes:
    packet = IPv6(src=router, dst="ff02::1", hlim=255) / ICMPv6ND_RA(routerlifetime=router_lifetime)
    packet /= ICMPv6NDOptPrefixInfo(
        prefix="2001:db8:2::", prefixlen=64, validlifetime=valid, preferredlifetime=preferred
    )
    if dns:
        packet /= ICMPv6NDOptRDNSS(lifetime=600, dns=list(dns))
    return bytes(packet)


def ra(**fields: Any) -> RouterAdvertisement:
    parsed = parse_router_advertisement(ra_bytes(**fields))
    assert parsed is not None
    return parsed


@pytest.fixture
def settings(tmp_path: Path) -> HostSettings:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    return HostSettings(ifname=IFNAME, state_dir=tmp_path / "run", resolv_conf=resolv, routes=EXTRA)


# --- what the kernel has (called inside the namespace) ------------------------------------------


def addresses(ifname: str = IFNAME) -> set[tuple[str, str | None, int]]:
    """(local, peer or None, prefix length) of every address on ``ifname``."""
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=ifname)
        found = set()
        for item in ipr.get_addr(index=index[0]) if index else []:
            local = item.get_attr("IFA_LOCAL") or item.get_attr("IFA_ADDRESS")
            peer = item.get_attr("IFA_ADDRESS")
            found.add((local, peer if peer != local else None, item["prefixlen"]))
        return found


def routes(ifname: str = IFNAME) -> set[tuple[str, str | None, int]]:
    """(destination, gateway, metric) of the routes someone added through ``ifname`` (not
    the kernel's own: proto kernel, local table)."""
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=ifname)
        if not index:
            return set()
        found = set()
        for route in ipr.get_routes(oif=index[0]):
            if route["proto"] == 2 or route.get_attr("RTA_TABLE") != 254:
                continue
            dst = route.get_attr("RTA_DST") or ("0.0.0.0" if route["family"] == 2 else "::")
            found.add(
                (
                    f"{dst}/{route['dst_len']}",
                    route.get_attr("RTA_GATEWAY"),
                    route.get_attr("RTA_PRIORITY"),
                )
            )
        return found


def cacheinfo(address: IPv6Address) -> dict[str, int]:
    with IPRoute() as ipr:
        for item in ipr.get_addr(family=10):
            if item.get_attr("IFA_ADDRESS") == str(address):
                return dict(item.get_attr("IFA_CACHEINFO"))
    raise AssertionError(f"{address} not there")


def route_expires(dst_len: int = 0) -> int:
    """Seconds left of the IPv6 route with this prefix length through IFNAME."""
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=IFNAME)[0]
        for route in ipr.get_routes(family=10, oif=index):
            if route["dst_len"] == dst_len and route["proto"] != 2:
                return int(route.get_attr("RTA_CACHEINFO")["rta_expires"]) // 100
    raise AssertionError("no such route")


def link_exists(ifname: str = IFNAME) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=ifname))


def full_config(host: HostConfig) -> None:
    host.start()
    host.open_tun(1500)
    host.apply_ipv4(LOCAL, PEER, DNS4)
    host.apply_ipv6_link_local(IID, PEER_IID)
    host.apply_router_advertisement(ra(dns=("2001:db8:1::53",)))


EXPECTED_ADDRESSES = {
    (str(LOCAL), str(PEER), 32),
    ("fe80::211:2233:4455:6677", "fe80::1", 128),
    (str(GLOBAL), None, 64),
}
EXPECTED_ROUTES = {
    ("0.0.0.0/0", None, 700),
    ("192.0.2.0/24", None, 700),
    ("2001:db8:5::/48", None, 700),
    ("::/0", ROUTER, 700),
}
EXPECTED_RESOLV_CONF = (
    b"# Written by pppbridge for pbtest0; the original returns when it stops.\n"
    b"nameserver 198.51.100.53\nnameserver 198.51.100.54\nnameserver 2001:db8:1::53\n"
)


# --- the whole configuration, and its removal -------------------------------------------------


@needs_root
def test_everything_appears_and_goes(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> None:
        host = HostConfig(settings)
        full_config(host)
        assert addresses() == EXPECTED_ADDRESSES
        assert routes() == EXPECTED_ROUTES
        assert settings.resolv_conf.read_bytes() == EXPECTED_RESOLV_CONF
        assert host.ipv6_globals == (GLOBAL,)
        context = host.hook_context(device="/dev/ttyUSB2")
        assert (context.ip_local, context.ip_remote, context.dns) == (LOCAL, PEER, DNS4)
        assert (context.ll_remote, context.ipv6_global) == (IPv6Address("fe80::1"), GLOBAL)
        done = host.teardown()
        assert f"{settings.resolv_conf}: restored" in done and len(done) == 9
        assert not link_exists()
        assert host.teardown() == []  # idempotent

    namespace.run(scenario)
    assert settings.resolv_conf.read_bytes() == ORIGINAL
    assert list(settings.state_dir.iterdir()) == []  # no state file, no lock file


@needs_root
def test_state_file_lists_every_change(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> dict[str, Any]:
        with HostConfig(settings) as host:
            full_config(host)
            return json.loads(host.state_path.read_text())  # type: ignore[no-any-return]

    state = namespace.run(scenario)
    assert (state["version"], state["ifname"]) == (1, IFNAME)
    kinds = [change["kind"] for change in state["changes"]]
    assert kinds.count("address") == 3 and kinds.count("route") == 4
    assert kinds[0] == "link" and kinds.count("file") == 1


@needs_root
def test_repeats_change_nothing(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> None:
        with HostConfig(settings) as host:
            full_config(host)
            before = host.state_path.read_bytes()
            for _ in range(3):
                host.apply_ipv4(LOCAL, PEER, DNS4)
                host.apply_ipv6_link_local(IID, PEER_IID)
                host.apply_router_advertisement(ra(dns=("2001:db8:1::53",)))
                host.open_tun(1500)
            assert host.state_path.read_bytes() == before
            assert addresses() == EXPECTED_ADDRESSES and routes() == EXPECTED_ROUTES

    namespace.run(scenario)


@needs_root
def test_a_new_ipv4_address_replaces_the_old(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> set[tuple[str, str | None, int]]:
        with HostConfig(replace(settings, routes=())) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)
            host.apply_ipv4(IPv4Address("203.0.113.11"), None, DNS4[:1])
            assert routes() == {("0.0.0.0/0", None, 700)}
            assert b"198.51.100.54" not in settings.resolv_conf.read_bytes()
            return addresses()

    assert namespace.run(scenario) == {("203.0.113.11", None, 32)}


@needs_root
def test_withdraw_keeps_the_interface(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> None:
        with HostConfig(settings) as host:
            full_config(host)
            host.withdraw()
            assert addresses() == set() and routes() == set() and link_exists()
            assert settings.resolv_conf.read_bytes() == ORIGINAL
            full_config(host)  # the link came back
            assert addresses() == EXPECTED_ADDRESSES

    namespace.run(scenario)


@needs_root
def test_configured_link_carries_traffic_both_ways(
    namespace: Namespace, settings: HostSettings
) -> None:
    """Echo requests from the network side, written to the TUN, come back answered by the
    kernel through our routes: IPv4 via the peer address, IPv6 via the RA's default route."""
    far4, far6 = IPv4Address("198.51.100.7"), IPv6Address("2001:db8:1::1")

    def scenario() -> list[ipwire.IpPacket]:
        with HostConfig(settings) as host:
            full_config(host)
            tun = host.open_tun(1500)
            for src, dst in ((far4, LOCAL), (far6, GLOBAL)):
                request = ipwire.build_icmp_echo(
                    src, dst, reply=False, ident=9, seq=1, payload=b"x"
                )
                assert tun.write(request)
            return wait_echo_replies(tun, 2)

    replies = namespace.run(scenario)
    assert {(reply.src, reply.dst) for reply in replies} == {(LOCAL, far4), (GLOBAL, far6)}


def wait_echo_replies(tun: TunDevice, count: int) -> list[ipwire.IpPacket]:
    deadline = time.monotonic() + TIMEOUT
    found: list[ipwire.IpPacket] = []
    while len(found) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0 and select.select([tun], [], [], remaining)[0], "no echo reply"
        for packet in tun.read_batch(64):
            ip = ipwire.parse_ip(packet)
            echo = ipwire.parse_icmp_echo(ip)
            if echo is not None and echo[0]:
                found.append(ip)
    return found


@needs_root
def test_from_the_event_loops_thread(namespace: Namespace, settings: HostSettings) -> None:
    """The data plane calls these from callbacks on the loop: pyroute2's synchronous API
    cannot run there, so the calls go through a thread of their own."""

    async def main() -> tuple[Any, ...]:
        with HostConfig(settings) as host:
            full_config(host)
            return host.ipv6_globals, await asyncio.to_thread(addresses)

    globals_, found = namespace.run(lambda: asyncio.run(main()))
    assert globals_ == (GLOBAL,) and found == EXPECTED_ADDRESSES


# --- Router Advertisements -------------------------------------------------------------------


@needs_root
def test_router_advertisement_lifetimes(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> None:
        with HostConfig(settings) as host:
            host.open_tun(1500)
            host.apply_ipv6_link_local(IID, PEER_IID)
            host.apply_router_advertisement(ra(valid=3600, preferred=1200, router_lifetime=900))
            info = cacheinfo(GLOBAL)
            assert 3590 <= info["ifa_valid"] <= 3600 and 1190 <= info["ifa_preferred"] <= 1200
            assert 890 <= route_expires() <= 900
            host.apply_router_advertisement(ra(valid=7200, preferred=7200, router_lifetime=1800))
            assert cacheinfo(GLOBAL)["ifa_preferred"] > 7000  # refreshed in place
            assert route_expires() > 1700

    namespace.run(scenario)


@needs_root
def test_router_lifetime_zero_and_withdrawn_prefix(
    namespace: Namespace, settings: HostSettings
) -> None:
    """RFC 4861 6.3.4: lifetime 0, no longer a default router; RFC 4862 5.5.3: valid
    lifetime 0 from the only router there is withdraws the address (on a PPP link no one
    else can send an RA, so the two-hour rule against forged ones does not apply)."""

    def scenario() -> None:
        with HostConfig(replace(settings, routes=())) as host:
            host.open_tun(1500)
            host.apply_ipv6_link_local(IID, PEER_IID)
            host.apply_router_advertisement(ra())
            assert ("::/0", ROUTER, 700) in routes()
            host.apply_router_advertisement(ra(router_lifetime=0))
            assert routes() == set() and (str(GLOBAL), None, 64) in addresses()
            assert host.apply_router_advertisement(ra(valid=0, preferred=0)) == ()
            assert addresses() == {("fe80::211:2233:4455:6677", "fe80::1", 128)}

    namespace.run(scenario)


@needs_root
def test_a_new_router_replaces_the_default_route(
    namespace: Namespace, settings: HostSettings
) -> None:
    def scenario() -> set[tuple[str, str | None, int]]:
        with HostConfig(replace(settings, routes=())) as host:
            host.open_tun(1500)
            host.apply_ipv6_link_local(IID, PEER_IID)
            host.apply_router_advertisement(ra())
            host.apply_router_advertisement(ra(router="fe80::2"))
            return routes()

    assert namespace.run(scenario) == {("::/0", "fe80::2", 700)}


@needs_root
def test_no_default_route(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> set[tuple[str, str | None, int]]:
        with HostConfig(replace(settings, default_route=False, metric=50)) as host:
            full_config(host)
            return routes()

    assert namespace.run(scenario) == {("192.0.2.0/24", None, 50), ("2001:db8:5::/48", None, 50)}


@needs_root
def test_ipv6_needs_an_mtu_of_1280(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> None:
        with HostConfig(settings) as host:
            host.open_tun(1279)
            with pytest.raises(HostSetupError, match="IPv6 needs an MTU of at least 1280"):
                host.apply_ipv6_link_local(IID, PEER_IID)

    namespace.run(scenario)


@needs_root
def test_the_modems_ipv6_address_for_its_at_sockets(
    namespace: Namespace, settings: HostSettings
) -> None:
    """--mode at-socket: the context's address as a /128, a default route straight on the
    link, the extra IPv6 routes and the context's DNS server; a new address replaces it;
    all of it goes with the teardown."""
    modem = IPv6Address("2001:db8:2::2")

    def scenario() -> None:
        with HostConfig(settings) as host:
            host.open_tun(1500)
            host.apply_ipv6_address(modem, [IPv6Address("2001:db8:1::53")])
            assert addresses() == {(str(modem), None, 128)}
            assert routes() == {("::/0", None, 700), ("2001:db8:5::/48", None, 700)}
            assert host.ipv6_globals == (modem,)
            host.apply_ipv6_address(modem, [IPv6Address("2001:db8:1::53")])  # a repeat
            assert addresses() == {(str(modem), None, 128)}
            host.apply_ipv6_address(IPv6Address("2001:db8:2::3"))
            assert addresses() == {("2001:db8:2::3", None, 128)}
            host.open_tun(1279)
            with pytest.raises(HostSetupError, match="IPv6 needs an MTU of at least 1280"):
                host.apply_ipv6_address(modem)
        assert not link_exists()

    namespace.run(scenario)
    assert settings.resolv_conf.read_bytes() == ORIGINAL


# A child that enters the namespace, warms pyroute2 up (after dropping root, the
# interpreter's own files may be out of reach), becomes the TUN's owner and runs the bridge.
UNPRIVILEGED = """
import json, os, sys
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path
from pyroute2 import IPRoute, netns
from bridge.errors import HostSetupError
from bridge.hooks import HookContext
from bridge.netconfig import HostConfig, HostSettings
namespace, directory, uid, device = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
netns.setns(namespace, flags=0)
with IPRoute() as ipr:
    ipr.get_links(ifname="pbtest0")
os.setgroups([])
os.setgid(uid)
os.setuid(uid)
settings = HostSettings("pbtest0", directory / "run", resolv_conf=directory / "resolv")
host = HostConfig(replace(settings, tun_device=device))
report = {"cleaned": host.start(), "created": host.open_tun(1500).created}
try:
    host.apply_ipv4(IPv4Address("203.0.113.10"), IPv4Address("198.51.100.1"))
except HostSetupError as exc:
    report["error"] = str(exc)
report["state"] = json.loads((directory / "run" / "pbtest0.json").read_text())["changes"]
report["teardown"] = host.teardown()
print(json.dumps(report))
"""


@needs_root
def test_unprivileged_owner_runs_and_is_told_what_needs_root(
    namespace: Namespace, open_tun_node: str
) -> None:
    """A TUN prepared once by root (tun_setup, MTU, up) is used by its owner without any
    privilege; what does need CAP_NET_ADMIN says so, and leaves nothing recorded."""

    def prepare() -> None:
        tun_setup(IFNAME, NOBODY)
        with TunDevice.open(IFNAME) as tun:
            tun.configure(1500)

    namespace.run(prepare)
    directory = tempfile.mkdtemp(prefix="pppbridge-user-")
    try:
        os.chmod(directory, 0o777)
        child = run_child(UNPRIVILEGED, namespace.name, directory, str(NOBODY), open_tun_node)
    finally:
        shutil.rmtree(directory)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    assert (report["cleaned"], report["created"]) == ([], False)
    assert report["error"] == (
        "no permission to add 203.0.113.10/32 peer 198.51.100.1 on pbtest0: "
        "needs root (CAP_NET_ADMIN)"
    )
    assert [change["kind"] for change in report["state"]] == ["link"]
    assert report["teardown"] == ["pbtest0: MTU 1500, up"]


# --- what is not ours is left alone --------------------------------------------------------------


@needs_root
def test_attached_tun_is_put_back_not_deleted(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> tuple[LinkState, LinkState, set[Any]]:
        tun_setup(IFNAME, 0)
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=IFNAME)[0]
            ipr.link("set", index=index, mtu=1500)
            ipr.addr("add", index=index, address="192.0.2.99", prefixlen=32)  # the admin's
            before = read_link_state(ipr, index)
        with HostConfig(settings) as host:
            full_config(host)
            host.apply_ipv4(IPv4Address("192.0.2.99"), None, DNS4)  # taken: not ours to add
            assert not host.open_tun(1400).created
        with IPRoute() as ipr:
            return before, read_link_state(ipr, index), addresses()

    before, after, left = namespace.run(scenario)
    assert before == after == LinkState(mtu=1500, up=False, addr_gen_mode=0)
    assert left == {("192.0.2.99", None, 32)}


@needs_root
def test_someone_elses_route_is_left_alone(
    namespace: Namespace, settings: HostSettings, caplog: pytest.LogCaptureFixture
) -> None:
    def scenario() -> set[tuple[str, str | None, int]]:
        tun_setup("pbother0", 0)  # another link, with its own default route
        with IPRoute() as ipr:
            other = ipr.link_lookup(ifname="pbother0")[0]
            ipr.link("set", index=other, state="up")
            ipr.route("add", dst="0.0.0.0/0", oif=other, priority=700, scope=253)
        with HostConfig(replace(settings, routes=())) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)
            assert routes() == set()
        return routes("pbother0")

    with caplog.at_level(logging.WARNING, logger="bridge.netconfig"):
        assert namespace.run(scenario) == {("0.0.0.0/0", None, 700)}
    assert (
        "route 0.0.0.0/0 dev pbtest0 metric 700 is there already and not ours: left as it is"
        in (caplog.messages)
    )


@needs_root
def test_resolv_conf_rewritten_by_someone_else_is_not_restored(
    namespace: Namespace, settings: HostSettings
) -> None:
    def scenario() -> None:
        with HostConfig(settings) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)
            settings.resolv_conf.write_bytes(b"nameserver 192.0.2.1\n")  # an admin's edit
            host.apply_ipv4(LOCAL, PEER, DNS4[:1])  # new servers: not written over theirs

    namespace.run(scenario)
    assert settings.resolv_conf.read_bytes() == b"nameserver 192.0.2.1\n"


# --- DNS modes -------------------------------------------------------------------------------


@needs_root
def test_resolv_conf_symlink_is_left_alone_and_said_so(
    namespace: Namespace, settings: HostSettings, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    target = tmp_path / "stub-resolv.conf"
    target.write_bytes(ORIGINAL)
    settings.resolv_conf.unlink()
    settings.resolv_conf.symlink_to(target)
    assert default_dns_mode(settings.resolv_conf) == DnsMode(DnsTarget.NONE)

    def scenario() -> None:
        with HostConfig(replace(settings, dns=parse_dns_mode("resolvconf"))) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)

    with caplog.at_level(logging.WARNING, logger="bridge.netconfig"):
        namespace.run(scenario)
    assert target.read_bytes() == ORIGINAL and settings.resolv_conf.is_symlink()
    assert any("managed by another service" in message for message in caplog.messages)


@needs_root
@pytest.mark.parametrize("existed", [False, True])
def test_dns_file_like_pppds_usepeerdns(
    namespace: Namespace, settings: HostSettings, tmp_path: Path, existed: bool
) -> None:
    peer_dns = tmp_path / "ppp-resolv.conf"
    if existed:
        peer_dns.write_bytes(b"nameserver 192.0.2.9\n")

    def scenario() -> bytes:
        with HostConfig(replace(settings, dns=parse_dns_mode(f"file:{peer_dns}"))) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)
            return peer_dns.read_bytes()

    assert namespace.run(scenario) == b"nameserver 198.51.100.53\nnameserver 198.51.100.54\n"
    assert settings.resolv_conf.read_bytes() == ORIGINAL  # touches nothing else
    assert peer_dns.exists() == existed
    if existed:
        assert peer_dns.read_bytes() == b"nameserver 192.0.2.9\n"


@needs_root
def test_dns_none(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> None:
        with HostConfig(replace(settings, dns=parse_dns_mode("none"))) as host:
            host.open_tun(1500)
            host.apply_ipv4(LOCAL, PEER, DNS4)
            assert settings.resolv_conf.read_bytes() == ORIGINAL

    namespace.run(scenario)


def test_default_dns_mode(tmp_path: Path) -> None:
    plain = tmp_path / "resolv.conf"
    assert default_dns_mode(plain) == DnsMode(DnsTarget.NONE)  # missing
    plain.write_bytes(ORIGINAL)
    assert default_dns_mode(plain) == DnsMode(DnsTarget.RESOLVCONF)


# A child in a private mount namespace and a network namespace of its own (unshare -mn):
# it bind-mounts a file over the resolv.conf it manages, as containers and `ip netns exec`
# do, configures, and reports the bind-mounted file's content before and after teardown.
BIND_MOUNTED = """
import json, subprocess, sys
from ipaddress import IPv4Address
from pathlib import Path
from bridge.netconfig import HostConfig, HostSettings
source, target, state_dir = map(Path, sys.argv[1:4])
subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
host = HostConfig(HostSettings(ifname="pbtest0", state_dir=state_dir, resolv_conf=target))
host.start()
host.open_tun(1500)
host.apply_ipv4(IPv4Address("203.0.113.10"), IPv4Address("198.51.100.1"),
                [IPv4Address("198.51.100.53")])
during = source.read_text()
host.teardown()
print(json.dumps({"during": during, "after": source.read_text()}))
"""


@needs_root
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_bind_mounted_resolv_conf_is_written_in_place(tmp_path: Path) -> None:
    source, target = tmp_path / "mounted", tmp_path / "resolv.conf"
    source.write_bytes(ORIGINAL)
    target.write_bytes(b"the file under the mount\n")
    child = subprocess.run(
        [
            "unshare",
            "--mount",
            "--net",
            "--propagation",
            "private",
            sys.executable,
            "-c",
            BIND_MOUNTED,
            str(source),
            str(target),
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout)
    assert seen["during"].endswith("nameserver 198.51.100.53\n")  # through the mount
    assert seen["after"].encode() == ORIGINAL  # restored byte for byte, in place
    assert target.read_bytes() == b"the file under the mount\n"  # never touched


def test_replace_file_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_bytes(ORIGINAL)
    path.chmod(0o640)
    replace_file(path, b"nameserver 192.0.2.1\n")
    assert path.read_bytes() == b"nameserver 192.0.2.1\n" and path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["resolv.conf"]  # no temporary left


# --- a bridge killed with SIGKILL -------------------------------------------------------------

KILLED = """
import sys
from pathlib import Path
from pyroute2 import netns
from bridge.netconfig import HostConfig, HostSettings
sys.path.insert(0, "tests")
from test_netconfig import EXTRA, IFNAME, full_config
netns.setns(sys.argv[1], flags=0)
state_dir, resolv_conf = Path(sys.argv[2]), Path(sys.argv[3])
host = HostConfig(HostSettings(IFNAME, state_dir, resolv_conf=resolv_conf, routes=EXTRA))
full_config(host)
print("ready", flush=True)
sys.stdin.readline()  # until killed
"""


def kill_a_configured_bridge(namespace: Namespace, settings: HostSettings) -> None:
    """Run a bridge process that configures everything, then kill it with SIGKILL."""
    argv = [sys.executable, "-c", KILLED, namespace.name, str(settings.state_dir)]
    child = subprocess.Popen(
        [*argv, str(settings.resolv_conf)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        if not select.select([child.stdout], [], [], TIMEOUT)[0]:
            raise TimeoutError(f"the bridge was not ready within {TIMEOUT} s")
        assert child.stdout.readline() == "ready\n", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        assert child.wait(TIMEOUT) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(TIMEOUT)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()


@needs_root
@pytest.mark.parametrize("how", ["next start", "cleanup_from_state"])
def test_killed_bridge_is_cleaned_by_the_next_start(
    namespace: Namespace, settings: HostSettings, how: str
) -> None:
    # A persistent TUN, so that what was configured on it outlives the killed process.
    namespace.run(tun_setup, IFNAME, 0)
    kill_a_configured_bridge(namespace, settings)
    assert namespace.run(addresses) == EXPECTED_ADDRESSES  # left by the killed one
    assert settings.resolv_conf.read_bytes() == EXPECTED_RESOLV_CONF

    def clean() -> list[str]:
        if how == "cleanup_from_state":
            return cleanup_from_state(settings.state_dir / f"{IFNAME}.json")
        host = HostConfig(settings)
        try:
            return host.start()
        finally:
            host.teardown()

    done = namespace.run(clean)
    assert len(done) == 9 and f"{IFNAME}: MTU 1500, down" in done
    assert namespace.run(addresses) == set() and namespace.run(routes) == set()
    assert namespace.run(link_exists)  # attached: never deleted
    assert settings.resolv_conf.read_bytes() == ORIGINAL
    assert list(settings.state_dir.iterdir()) == []


@needs_root
def test_killed_bridge_with_its_own_tun(namespace: Namespace, settings: HostSettings) -> None:
    """The TUN it made went with it, and its addresses and routes too; resolv.conf is what
    the next start must put back."""
    kill_a_configured_bridge(namespace, settings)
    assert not namespace.run(link_exists)
    done = namespace.run(lambda: cleanup_from_state(settings.state_dir / f"{IFNAME}.json"))
    assert f"{settings.resolv_conf}: restored" in done
    assert settings.resolv_conf.read_bytes() == ORIGINAL


# --- refusals ----------------------------------------------------------------------------------


@needs_root
def test_one_bridge_per_interface(namespace: Namespace, settings: HostSettings) -> None:
    def scenario() -> list[str]:
        messages = []
        with HostConfig(settings):
            with pytest.raises(HostSetupError) as second:
                HostConfig(settings).start()
            messages.append(str(second.value))
            with pytest.raises(HostSetupError) as cleanup:
                cleanup_from_state(settings.state_dir / f"{IFNAME}.json")
            messages.append(str(cleanup.value))
        return messages

    lock = settings.state_dir / f"{IFNAME}.lock"
    expected = (
        f"another pppbridge is running on pbtest0 (it holds {lock}): stop it first, or choose "
        "another interface name"
    )
    assert namespace.run(scenario) == [expected, expected]


def test_unreadable_state_file(settings: HostSettings) -> None:
    settings.state_dir.mkdir()
    path = settings.state_dir / f"{IFNAME}.json"
    path.write_text("{not json")
    with pytest.raises(
        HostSetupError, match="is unreadable .*: check what it lists, then delete it"
    ):
        cleanup_from_state(path)
    assert path.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resolv", "--dns 'resolv': expected resolvconf, resolved, file:PATH or none"),
        ("file:", "--dns 'file:': expected resolvconf, resolved, file:PATH or none"),
    ],
)
def test_bad_dns_mode(text: str, message: str) -> None:
    with pytest.raises(HostSetupError) as caught:
        parse_dns_mode(text)
    assert str(caught.value) == message


def test_dns_modes() -> None:
    assert parse_dns_mode("file:/etc/ppp/resolv.conf") == DnsMode(
        DnsTarget.FILE, Path("/etc/ppp/resolv.conf")
    )
    assert parse_dns_mode("resolvconf") == DnsMode(DnsTarget.RESOLVCONF)


def test_bad_routes_and_settings() -> None:
    assert parse_route("2001:db8::/32") == ip_network("2001:db8::/32")
    with pytest.raises(HostSetupError, match=r"--route '192.0.2.1/24': .*host bits set"):
        parse_route("192.0.2.1/24")
    with pytest.raises(HostSetupError, match="--route 'default'"):
        parse_route("default")
    with pytest.raises(HostSetupError, match="route metric -1 is outside"):
        HostSettings(metric=-1)
    with pytest.raises(HostSetupError, match="interface name"):
        HostSettings(ifname="no/slash")


def test_calls_out_of_order(settings: HostSettings) -> None:
    host = HostConfig(settings)
    try:
        with pytest.raises(RuntimeError, match="open_tun comes before"):
            host.apply_ipv4(LOCAL, PEER)
        with pytest.raises(RuntimeError, match="open_tun comes before"):
            host.apply_ipv6_link_local(IID, PEER_IID)
        assert host.apply_router_advertisement(ra()) == ()  # early: the next one counts
        assert host.hook_context() == HookContext(IFNAME)
    finally:
        host.teardown()
    assert os.listdir(settings.state_dir) == []
