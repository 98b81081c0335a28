"""Policy routing for containers that keep their own network (``route_from``): packets from
the given source prefixes leave through the TUN, the host's own traffic keeps its routes.

For each source prefix, two rules (ip-rule(8); FIB rules, ``RTM_NEWRULE``):

    PRIORITY      from PREFIX lookup main suppress_prefixlength 0
    PRIORITY + 1  from PREFIX lookup TABLE

The first keeps every specific route of the main table (the container's own bridge
network, the host's LAN, Docker's other networks) and ignores only its default routes
(wg-quick's way); the second sends the rest to TABLE, which holds a default route through
the TUN while the link is up (``netconfig`` adds it with the addresses, as a ``RouteChange``
in that table) and, under it, an ``unreachable`` default with the largest metric, so that
the container's traffic fails while the link is down instead of leaking out through the
host's default route. Docker's own masquerading (``-s 172.17.0.0/16 ! -o docker0``) then
gives the packets the TUN's address; for other forwarded traffic, see ``bridge.nat``.

Forwarding: packets from another interface reach the TUN only when the kernel forwards
(``net.ipv4.ip_forward``, ``net.ipv6.conf.all.forwarding``). pppbridge does not switch it
on: that makes the host (or the namespace) a router on every interface, and for IPv6 it
also stops the kernel from taking Router Advertisements on its other links, which is the
administrator's call (Docker switches IPv4 forwarding on itself). ``check_forwarding``
refuses at start with the command to run, rather than a bridge that silently carries
nothing.

The rules and the unreachable routes are made with the TUN and undone with it (not when the
link only goes down); each is a change of the state file, like everything else.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

from bridge.errors import HostSetupError
from bridge.netns import Netns, run_inside
from bridge.tun import netlink

from .netlink_import import IPRoute, NetlinkError

Network = IPv4Network | IPv6Network

DEFAULT_TABLE = 700
"""The routing table of ``route_from``: 700, as the route metric (NetworkManager's for
modems); any free table from 1 to 4294967295 but 253-255 (default, main, local)."""
RULE_PRIORITY = 32700
"""The first of the two rules of a prefix; below the main table's rule (32766), above the
low numbers administrators and other tools pick, whose rules therefore come first."""
RT_TABLE_MAIN = 254
_RESERVED_TABLES = {0: "unspec", 253: "default", 254: "main", 255: "local"}
UNREACHABLE_METRIC = 0xFFFFFFFF
"""The unreachable default's metric: the last resort of the table, under the TUN's route."""
RTN_UNREACHABLE = 7  # <linux/rtnetlink.h>
RTPROT_STATIC = 4
_FAMILIES = {4: 2, 6: 10}  # AF_INET, AF_INET6
_DEFAULTS = {4: "0.0.0.0/0", 6: "::/0"}
_FORWARDING = {
    4: ("/proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward"),
    6: ("/proc/sys/net/ipv6/conf/all/forwarding", "net.ipv6.conf.all.forwarding"),
}


@dataclass(frozen=True)
class RuleChange:
    """A routing policy rule we added."""

    source: str
    """The source prefix, e.g. "172.17.0.0/16"."""
    table: int
    """The table it looks up."""
    priority: int
    """Its priority (``FRA_PRIORITY``): rules are tried lowest first."""
    suppress_prefixlength: int | None = None
    """0: the lookup ignores routes with prefix length 0 (the default routes)."""


@dataclass(frozen=True)
class UnreachableChange:
    """The ``unreachable`` default route we added to ``table``."""

    version: int
    """4 or 6."""
    table: int
    """The routing table."""
    metric: int = UNREACHABLE_METRIC
    """Its metric."""


def check_table(table: int) -> None:
    """Raise ``HostSetupError`` unless ``table`` is a table of our own to use."""
    if not 1 <= table <= 0xFFFFFFFF:
        raise HostSetupError(f"routing table {table} is outside 1-4294967295")
    if table in _RESERVED_TABLES:
        raise HostSetupError(
            f"routing table {table} is the kernel's {_RESERVED_TABLES[table]} table: choose "
            f"another (the default is {DEFAULT_TABLE})"
        )


def versions(prefixes: tuple[Network, ...]) -> list[int]:
    """The IP versions among ``prefixes``, 4 first."""
    return sorted({prefix.version for prefix in prefixes})


def policy_changes(
    prefixes: tuple[Network, ...], table: int
) -> list[RuleChange | UnreachableChange]:
    """The unreachable defaults, then the two rules of each prefix, in the order to make
    them (so that no rule ever points at a table that would fall through)."""
    changes: list[RuleChange | UnreachableChange] = [
        UnreachableChange(version, table) for version in versions(prefixes)
    ]
    for prefix in prefixes:
        changes.append(RuleChange(str(prefix), RT_TABLE_MAIN, RULE_PRIORITY, 0))
        changes.append(RuleChange(str(prefix), table, RULE_PRIORITY + 1))
    return changes


def check_forwarding(wanted: list[int], netns: Netns | None, why: str) -> None:
    """Raise ``HostSetupError`` (with the command that fixes it) when the kernel does not
    forward the IP ``wanted`` versions in ``netns``: ``why`` (a switch) needs it."""
    for version in wanted:
        path, name = _FORWARDING[version]
        value = run_inside(netns, lambda path=path: _read_sysctl(path), what=f"reading {name}")
        if value != "0":
            continue
        where = f"in network namespace {netns}" if netns else "on this host"
        command = f"sysctl -w {name}=1"
        if netns is not None:
            command = f"nsenter --net={netns} {command}"
        raise HostSetupError(
            f"{why} needs IPv{version} forwarding, which is off {where}: switch it on "
            f"({command}); pppbridge leaves that to you, as it makes a router of every "
            "interface"
        )


def _read_sysctl(path: str) -> str:
    try:
        with open(path) as setting:
            return setting.read().strip()
    except OSError:
        return ""  # no /proc/sys here: the kernel's answer is the packets


# --- netlink ---------------------------------------------------------------------------------

PolicyChange = RuleChange | UnreachableChange


def text(change: PolicyChange) -> str:
    """``change`` as ip(8) would show it."""
    if isinstance(change, UnreachableChange):
        return f"route unreachable {_DEFAULTS[change.version]} table {change.table}"
    suppress = ""
    if change.suppress_prefixlength is not None:
        suppress = f" suppress_prefixlength {change.suppress_prefixlength}"
    table = "main" if change.table == RT_TABLE_MAIN else str(change.table)
    return f"rule {change.priority}: from {change.source} lookup {table}{suppress}"


def present(change: PolicyChange, netns: Netns | None) -> bool:
    """Whether the same rule (source, table, priority, suppression), or a default route of
    the same metric in the table, is there already."""
    look = _rule_present if isinstance(change, RuleChange) else _unreachable_present
    return netlink(lambda ipr: look(ipr, change), doing="look at the routing policy", netns=netns)


def add(change: PolicyChange, netns: Netns | None) -> None:
    if isinstance(change, RuleChange):
        args = _rule_args(change)
        netlink(lambda ipr: ipr.rule("add", **args), doing=f"add {text(change)}", netns=netns)
        return
    args = {**_unreachable_args(change), "proto": RTPROT_STATIC}
    netlink(lambda ipr: ipr.route("add", **args), doing=f"add {text(change)}", netns=netns)


def undo(change: PolicyChange, netns: Netns | None) -> str:
    """Remove ``change``; what was done, in words."""
    shown = text(change)
    if isinstance(change, RuleChange):
        args, gone, kind = _rule_args(change), errno.ENOENT, "rule"
    else:
        args, gone, kind = _unreachable_args(change), errno.ESRCH, "route"

    def remove(ipr: IPRoute) -> bool:
        try:
            getattr(ipr, kind)("del", **args)
        except NetlinkError as exc:
            if exc.code != gone:
                raise
            return False
        return True

    removed = netlink(remove, doing=f"remove {shown}", netns=netns)
    return f"{'removed' if removed else 'already gone:'} {shown}"


def _rule_args(change: RuleChange) -> dict[str, Any]:
    network = ip_network(change.source)
    args: dict[str, Any] = {
        "family": _FAMILIES[network.version],
        "src": str(network.network_address),
        "src_len": network.prefixlen,
        "table": change.table,
        "priority": change.priority,
    }
    if change.suppress_prefixlength is not None:
        args["suppress_prefixlen"] = change.suppress_prefixlength
    return args


def _unreachable_args(change: UnreachableChange) -> dict[str, Any]:
    return {
        "dst": _DEFAULTS[change.version],
        "family": _FAMILIES[change.version],
        "table": change.table,
        "type": RTN_UNREACHABLE,
        "priority": change.metric,
    }


def _rule_present(ipr: IPRoute, change: RuleChange) -> bool:
    args = _rule_args(change)
    wanted = (args["src"], args["src_len"], change.table, change.priority)
    for rule in ipr.get_rules(family=args["family"]):
        found = (
            rule.get_attr("FRA_SRC"),
            rule["src_len"],
            rule.get_attr("FRA_TABLE"),
            rule.get_attr("FRA_PRIORITY"),
        )
        suppress = rule.get_attr("FRA_SUPPRESS_PREFIXLEN")
        if suppress == 0xFFFFFFFF:  # the kernel's "none"
            suppress = None
        if found == wanted and suppress == change.suppress_prefixlength:
            return True
    return False


def _unreachable_present(ipr: IPRoute, change: UnreachableChange) -> bool:
    for route in ipr.get_routes(family=_FAMILIES[change.version], table=change.table):
        if route["dst_len"] == 0 and route.get_attr("RTA_TABLE") == change.table:
            if (route.get_attr("RTA_PRIORITY") or 0) == change.metric:
                return True
    return False
