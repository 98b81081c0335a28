"""Policy routing and NAT for containers (``route_from``, ``masquerade``; bridge/policy_routing.py,
bridge/nat.py), on real namespaces: the bridge's namespace B, with an uplink of its own and a
main-table default route through it, and a "container" namespace C behind a veth pair.
C's packets leave through the TUN (read from its descriptor, answered by writing to it)
while B's own traffic keeps its default route; the container is cut off, not leaked, while
the link is down; the nftables table is there while configured and gone after teardown,
after a kill (the next start, or ``cleanup_from_state``). Forwarding that is off is refused.

The bridge's HostConfig works from the test's own namespace with ``netns=B``, so this host's
rules, tables and nftables are never touched. Needs root and /dev/net/tun.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, ip_network
from pathlib import Path

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from bridge import nat
from bridge.errors import HostSetupError
from bridge.netconfig import HostConfig, HostSettings, cleanup_from_state, parse_dns_mode
from bridge.netns import find_netns
from bridge.policy_routing import DEFAULT_TABLE, check_table
from run_process import TestNamespace
from test_netns import (
    IFNAME,
    LOCAL,
    answer_echo,
    raw_icmp_socket,
    run_until_ready_then_kill,
    send_echo,
    wait_echo_reply,
)
from test_tun import needs_root

FAR = IPv4Address("198.51.100.1")
CONTAINER_NET = ip_network("192.0.2.0/25")
CONTAINER = IPv4Address("192.0.2.2")
CONTAINER6 = ip_network("2001:db8:c::/64")
GATEWAY = IPv4Address("192.0.2.1")  # B's end of the veth
UPLINK_GATEWAY = "192.0.2.129"  # B's own default route, on its uplink 192.0.2.128/25
TABLE_NAME = f"pppbridge-{IFNAME}"


@dataclass
class Topology:
    bridge: TestNamespace
    """B: the bridge's namespace."""
    container: TestNamespace
    """C: the container's namespace."""
    veth: int
    """The index of B's end of the veth pair."""
    uplink: int
    """The index of B's uplink, where its own default route goes."""


def build_bridge_side(container: str, forwarding: bool) -> tuple[int, int]:
    """In B: IPv4 forwarding, an uplink (a veth pair of its own) with the default route,
    and the veth to the container, whose other end goes to C."""
    with open("/proc/sys/net/ipv4/ip_forward", "w") as setting:
        setting.write("1" if forwarding else "0")
    with IPRoute() as ipr:
        ipr.link("add", ifname="pbup0", kind="veth", peer={"ifname": "pbup1"})
        uplink, other = ipr.link_lookup(ifname="pbup0")[0], ipr.link_lookup(ifname="pbup1")[0]
        for index in (uplink, other):
            ipr.link("set", index=index, state="up")
        ipr.addr("add", index=uplink, address="192.0.2.130", prefixlen=25)
        ipr.route("add", dst="0.0.0.0/0", gateway=UPLINK_GATEWAY)
        ipr.link("add", ifname="pbveth0", kind="veth", peer={"ifname": "pbveth1"})
        veth = ipr.link_lookup(ifname="pbveth0")[0]
        ipr.link("set", index=ipr.link_lookup(ifname="pbveth1")[0], net_ns_fd=container)
        ipr.addr("add", index=veth, address=str(GATEWAY), prefixlen=25)
        ipr.link("set", index=veth, state="up")
        return veth, uplink


def build_container_side() -> None:
    with IPRoute() as ipr:
        veth = ipr.link_lookup(ifname="pbveth1")[0]
        ipr.addr("add", index=veth, address=str(CONTAINER), prefixlen=25)
        ipr.link("set", index=veth, state="up")
        ipr.route("add", dst="0.0.0.0/0", gateway=str(GATEWAY))


def make_topology(forwarding: bool = True) -> Iterator[Topology]:
    with TestNamespace.made() as bridge, TestNamespace.made() as container:
        veth, uplink = bridge.run(build_bridge_side, container.name, forwarding)
        container.run(build_container_side)
        yield Topology(bridge, container, veth, uplink)


@pytest.fixture
def topology() -> Iterator[Topology]:
    yield from make_topology()


@pytest.fixture
def settings(tmp_path: Path, topology: Topology) -> HostSettings:
    return HostSettings(
        ifname=IFNAME,
        state_dir=tmp_path / "run",
        default_route=False,
        dns=parse_dns_mode("none"),
        netns=topology.bridge.name,
        route_from=(CONTAINER_NET,),
    )


# --- what B has -----------------------------------------------------------------------------------


def route_from_container(veth: int) -> int | str:
    """The interface index a packet from the container to FAR leaves B by, or the error
    that the lookup gives (``ip route get FAR from CONTAINER iif pbveth0``)."""
    with IPRoute() as ipr:
        try:
            found = ipr.route("get", dst=str(FAR), src=str(CONTAINER), iif=veth)
        except NetlinkError as exc:
            return errno.errorcode[exc.code]
        return int(found[0].get_attr("RTA_OIF"))


def own_route() -> int:
    """The interface B's own packets to FAR leave by."""
    with IPRoute() as ipr:
        return int(ipr.route("get", dst=str(FAR))[0].get_attr("RTA_OIF"))


def main_table() -> set[str]:
    with IPRoute() as ipr:
        return {
            f"{r.get_attr('RTA_DST') or 'default'}/{r['dst_len']} {r.get_attr('RTA_OIF')}"
            for r in ipr.get_routes(family=2, table=254)
        }


def our_rules() -> set[str]:
    """The rules for the container's prefix: (priority, table, suppression)."""
    with IPRoute() as ipr:
        return {
            f"{r.get_attr('FRA_PRIORITY')} {r.get_attr('FRA_TABLE')}"
            f" {r.get_attr('FRA_SUPPRESS_PREFIXLEN')}"
            for r in ipr.get_rules(family=2)
            if r.get_attr("FRA_SRC") == str(CONTAINER_NET.network_address)
        }


def policy_table() -> set[str]:
    with IPRoute() as ipr:
        return {
            f"type {r['type']} metric {r.get_attr('RTA_PRIORITY')}"
            for r in ipr.get_routes(family=2, table=DEFAULT_TABLE)
        }


def tun_index() -> int:
    with IPRoute() as ipr:
        return int(ipr.link_lookup(ifname=IFNAME)[0])


EXPECTED_RULES = {"32700 254 0", f"32701 {DEFAULT_TABLE} 4294967295"}
UNREACHABLE = "type 7 metric 4294967295"
THROUGH_THE_TUN = "type 1 metric 700"


def nothing_left(topology: Topology) -> None:
    bridge = topology.bridge
    assert bridge.run(our_rules) == set() and bridge.run(policy_table) == set()
    assert TABLE_NAME not in nat.table_names(find_netns(bridge.name))


# --- the container's traffic ----------------------------------------------------------------------


@needs_root
def test_container_traffic_leaves_through_the_tun_and_the_hosts_does_not(
    topology: Topology, settings: HostSettings
) -> None:
    bridge, veth = topology.bridge, topology.veth
    main_before = bridge.run(main_table)
    with HostConfig(settings) as host:
        tun = host.open_tun(1500)
        # The link is not up yet: the container is cut off, not sent out of the uplink.
        assert bridge.run(route_from_container, veth) == "EHOSTUNREACH"
        assert bridge.run(policy_table) == {UNREACHABLE}
        host.apply_ipv4(LOCAL)
        assert bridge.run(our_rules) == EXPECTED_RULES
        assert bridge.run(policy_table) == {UNREACHABLE, THROUGH_THE_TUN}
        assert bridge.run(route_from_container, veth) == bridge.run(tun_index)
        assert bridge.run(own_route) == topology.uplink  # B's own traffic: as before
        assert bridge.run(main_table) == main_before  # a /32 of our own adds none there
        with topology.container.run(raw_icmp_socket) as sock:
            send_echo(sock, FAR, seq=1)
            request = answer_echo(tun)
        assert (request.src, request.dst) == (CONTAINER, FAR)  # no NAT asked for
        host.withdraw()  # the link went down: cut off again
        assert bridge.run(route_from_container, veth) == "EHOSTUNREACH"
    nothing_left(topology)
    assert bridge.run(main_table) == main_before


@needs_root
def test_masquerade_lets_the_container_ping_through_the_link(
    topology: Topology, settings: HostSettings
) -> None:
    bridge_netns = find_netns(topology.bridge.name)
    with HostConfig(replace(settings, masquerade=True)) as host:
        tun = host.open_tun(1500)
        host.apply_ipv4(LOCAL)
        assert TABLE_NAME in nat.table_names(bridge_netns)
        with topology.container.run(raw_icmp_socket) as sock:
            send_echo(sock, FAR, seq=7)
            request = answer_echo(tun)
            reply = wait_echo_reply(sock, seq=7)
        assert (request.src, request.dst) == (LOCAL, FAR)  # masqueraded
        assert (reply.src, reply.dst) == (FAR, CONTAINER)  # and back
    nothing_left(topology)


def enable_ipv6_forwarding() -> None:
    with open("/proc/sys/net/ipv6/conf/all/forwarding", "w") as setting:
        setting.write("1")


def ipv6_policy() -> tuple[set[str], set[str]]:
    """B's IPv6 rules for CONTAINER6 and the IPv6 routes of the policy table."""
    with IPRoute() as ipr:
        rules = {
            f"{r.get_attr('FRA_PRIORITY')} {r.get_attr('FRA_TABLE')}"
            for r in ipr.get_rules(family=10)
            if r.get_attr("FRA_SRC") == str(CONTAINER6.network_address)
        }
        table = {
            f"type {r['type']} oif {r.get_attr('RTA_OIF')}"
            for r in ipr.get_routes(family=10, table=DEFAULT_TABLE)
        }
        return rules, table


@needs_root
def test_ipv6_sources_go_through_the_link_from_ipv6cp_on(
    topology: Topology, settings: HostSettings
) -> None:
    bridge = topology.bridge
    bridge.run(enable_ipv6_forwarding)
    with HostConfig(replace(settings, route_from=(CONTAINER6,))) as host:
        host.open_tun(1500)
        assert bridge.run(ipv6_policy) == (
            {"32700 254", f"32701 {DEFAULT_TABLE}"},
            {"type 7 oif 1"},
        )
        host.apply_ipv6_link_local(bytes.fromhex("0211223344556677"), None)
        tun = bridge.run(tun_index)
        assert bridge.run(ipv6_policy)[1] == {"type 7 oif 1", f"type 1 oif {tun}"}
    assert bridge.run(ipv6_policy) == (set(), set())


@needs_root
def test_masquerade_alone(topology: Topology, settings: HostSettings) -> None:
    with HostConfig(replace(settings, route_from=(), masquerade=True)) as host:
        host.open_tun(1500)
        assert TABLE_NAME in nat.table_names(find_netns(topology.bridge.name))
        assert topology.bridge.run(our_rules) == set()
    nothing_left(topology)


@needs_root
def test_a_table_that_is_not_ours_is_left_alone(
    topology: Topology, settings: HostSettings, caplog: pytest.LogCaptureFixture
) -> None:
    bridge_netns = find_netns(topology.bridge.name)
    change = nat.masquerade_change(IFNAME)
    nat.add_masquerade(change, bridge_netns)  # someone else's, of the same name
    with HostConfig(replace(settings, route_from=(), masquerade=True)) as host:
        host.open_tun(1500)
    assert TABLE_NAME in nat.table_names(bridge_netns)
    assert f"{nat.masquerade_text(change)} is there already and not ours" in caplog.text


# --- refusals ----------------------------------------------------------------------------------


@pytest.fixture
def no_forwarding() -> Iterator[Topology]:
    yield from make_topology(forwarding=False)


@needs_root
@pytest.mark.parametrize(
    ("changed", "switch"),
    [({"route_from": (CONTAINER_NET,)}, "--route-from"), ({"masquerade": True}, "--masquerade")],
)
def test_forwarding_off_is_refused(
    no_forwarding: Topology, tmp_path: Path, changed: dict[str, object], switch: str
) -> None:
    name = no_forwarding.bridge.name
    settings = HostSettings(ifname=IFNAME, state_dir=tmp_path / "run", netns=name)
    with pytest.raises(HostSetupError) as refused:
        HostConfig(replace(settings, **changed)).start()  # type: ignore[arg-type]
    assert str(refused.value) == (
        f"{switch} needs IPv4 forwarding, which is off in network namespace /run/netns/{name}: "
        f"switch it on (nsenter --net=/run/netns/{name} sysctl -w net.ipv4.ip_forward=1); "
        "pppbridge leaves that to you, as it makes a router of every interface"
    )
    assert list(settings.state_dir.iterdir()) == []  # lock released, nothing recorded


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (254, "routing table 254 is the kernel's main table: choose another"),
        (0, "routing table 0 is outside 1-4294967295"),
        (2**32, "routing table 4294967296 is outside 1-4294967295"),
    ],
)
def test_bad_tables(table: int, message: str) -> None:
    with pytest.raises(HostSetupError, match=message):
        check_table(table)
    with pytest.raises(HostSetupError, match=message):
        HostSettings(route_table=table)


# --- after a kill ---------------------------------------------------------------------------------

KILLED = """
import sys
from ipaddress import IPv4Address, ip_network
from pathlib import Path
from bridge.netconfig import HostConfig, HostSettings, parse_dns_mode
namespace, state_dir = sys.argv[1], Path(sys.argv[2])
host = HostConfig(HostSettings("pbtest0", state_dir, default_route=False, netns=namespace,
                               dns=parse_dns_mode("none"), masquerade=True,
                               route_from=(ip_network("192.0.2.0/25"),)))
host.start()
host.open_tun(1500)
host.apply_ipv4(IPv4Address("203.0.113.10"))
print("ready", flush=True)
sys.stdin.readline()  # until killed
"""


@needs_root
@pytest.mark.parametrize("how", ["next start", "cleanup_from_state"])
def test_a_killed_bridges_rules_and_table_are_removed(
    topology: Topology, settings: HostSettings, how: str
) -> None:
    run_until_ready_then_kill(KILLED, topology.bridge.name, str(settings.state_dir))
    bridge = topology.bridge
    assert bridge.run(our_rules) == EXPECTED_RULES  # the TUN went, these stayed
    assert TABLE_NAME in nat.table_names(find_netns(bridge.name))
    if how == "cleanup_from_state":
        done = cleanup_from_state(settings.state_dir / f"{IFNAME}.json")
    else:
        host = HostConfig(replace(settings, netns=None, route_from=()))
        try:
            done = host.start()
        finally:
            host.teardown()
    assert f"removed nftables table inet {TABLE_NAME} (masquerade on {IFNAME})" in done
    assert f"removed rule 32701: from {CONTAINER_NET} lookup {DEFAULT_TABLE}" in done
    nothing_left(topology)
    assert list(settings.state_dir.iterdir()) == []
