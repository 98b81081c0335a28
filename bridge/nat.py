"""Source NAT for forwarded traffic that leaves through the TUN (``masquerade``), with
nftables: a table of our own, removed on exit like every other change.

What is made, in nft(8) notation (family ``inet``: IPv4 and IPv6 alike):

    table inet pppbridge-IFNAME {
        chain postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            oifname "IFNAME" masquerade
        }
    }

One table per interface, so that two bridges never touch each other's; deleting the
table deletes its chain and rule in one step, which is the whole undo. The rule matches the
interface by name, so it needs no TUN to exist yet and holds for a TUN made again.

The library: pyroute2's ``nftables`` (``NFTables``), which speaks nfnetlink (``NFT_MSG_*``)
to the kernel itself. pyroute2 is already the bridge's netlink library, so there is no new
dependency, it runs from any Python (the project's interpreter or a venv), and it goes
through the same threads into another network namespace as every other netlink call. The
alternative, Debian's ``python3-nftables`` (bindings of libnftables, JSON in and out),
installs into Debian's own python3 only (/usr/lib/python3/dist-packages, not seen by a venv
or another interpreter), needs the ``nftables`` and ``libnftables1`` packages besides, and
upstream publishes it on no package index; nothing here shells out to ``nft`` either.
pyroute2 calls its nftables API a prototype, so what this module sends is spelled out
(three expressions: ``meta oifname``, ``cmp``, ``masq``) rather than built by its helpers.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bridge.errors import HostSetupError
from bridge.netns import Netns, run_inside

from .netlink_import import NetlinkError

T = TypeVar("T")

TABLE_PREFIX = "pppbridge-"
CHAIN = "postrouting"
NFPROTO_INET = 1  # <linux/netfilter.h>: the inet family, IPv4 and IPv6 in one table
NF_INET_POST_ROUTING = 4
NF_IP_PRI_NAT_SRC = 100  # nft's "srcnat"
NFT_META_OIFNAME = 7  # <linux/netfilter/nf_tables.h>
NFT_REG_1 = 1
NFT_CMP_EQ = 0
IFNAMSIZ = 16


@dataclass(frozen=True)
class MasqueradeChange:
    """Our nftables table with its masquerade rule on the TUN."""

    ifname: str
    """The interface whose outgoing packets are masqueraded."""
    table: str
    """The table's name (family inet)."""


def masquerade_change(ifname: str) -> MasqueradeChange:
    return MasqueradeChange(ifname, TABLE_PREFIX + ifname)


def masquerade_text(change: MasqueradeChange) -> str:
    return f"nftables table inet {change.table} (masquerade on {change.ifname})"


def table_names(netns: Netns | None = None) -> list[str]:
    """The names of the inet tables there are."""
    return _nft(_names, "list nftables tables", netns)


def table_present(change: MasqueradeChange, netns: Netns | None) -> bool:
    return change.table in table_names(netns)


def add_masquerade(change: MasqueradeChange, netns: Netns | None) -> None:
    """Make the table, its chain and its rule; a table half made is removed again."""

    def make(nft: Any) -> None:
        nft.table("add", name=change.table)
        try:
            nft.chain(
                "add",
                table=change.table,
                name=CHAIN,
                hook="postrouting",
                type="nat",
                priority=NF_IP_PRI_NAT_SRC,
            )
            nft.rule("add", table=change.table, chain=CHAIN, expressions=_masquerade_on(change))
        except BaseException:
            with contextlib.suppress(NetlinkError):
                nft.table("del", name=change.table)
            raise

    _nft(make, f"add {masquerade_text(change)}", netns)


def undo_masquerade(change: MasqueradeChange, netns: Netns | None) -> str:
    def remove(nft: Any) -> bool:
        try:
            nft.table("del", name=change.table)
        except NetlinkError as exc:
            if exc.code != errno.ENOENT:
                raise
            return False
        return True

    shown = masquerade_text(change)
    removed = _nft(remove, f"remove {shown}", netns)
    return f"{'removed' if removed else 'already gone:'} {shown}"


def _masquerade_on(change: MasqueradeChange) -> tuple[list[dict[str, Any]], ...]:
    """``oifname "IFNAME" masquerade``: load the output interface's name into register 1,
    compare it with ours (IFNAMSIZ bytes, NUL padded, as the kernel keeps it), masquerade."""
    name = change.ifname.encode().ljust(IFNAMSIZ, b"\0")
    meta = _expression("meta", [("NFTA_META_DREG", NFT_REG_1), ("NFTA_META_KEY", NFT_META_OIFNAME)])
    compare = _expression(
        "cmp",
        [
            ("NFTA_CMP_SREG", NFT_REG_1),
            ("NFTA_CMP_OP", NFT_CMP_EQ),
            ("NFTA_CMP_DATA", {"attrs": [("NFTA_DATA_VALUE", name)]}),
        ],
    )
    return ([meta], [compare], [_expression("masq", [])])


def _expression(name: str, data: list[tuple[str, Any]]) -> dict[str, Any]:
    return {"attrs": [("NFTA_EXPR_NAME", name), ("NFTA_EXPR_DATA", {"attrs": data})]}


def _names(nft: Any) -> list[str]:
    return [table.get_attr("NFTA_TABLE_NAME") for table in nft.get_tables()]


def _nft(action: Callable[[Any], T], doing: str, netns: Netns | None) -> T:
    """``action(nft)`` with a fresh ``NFTables`` socket (family inet), in ``netns``; a
    netlink error becomes a ``HostSetupError`` that says what could not be done."""

    def call() -> T:
        from pyroute2.nftables.main import NFTables  # loaded only where NAT is asked for

        try:
            nft = NFTables(nfgen_family=NFPROTO_INET)
        except OSError as exc:
            raise HostSetupError(
                f"cannot {doing}: no nftables here ({exc.strerror}): load nf_tables "
                "(modprobe nf_tables), or leave masquerade off"
            ) from None
        try:
            return action(nft)
        finally:
            nft.close()

    try:
        return run_inside(netns, call, what="nftables")
    except NetlinkError as exc:
        if exc.code == errno.EPERM:
            raise HostSetupError(f"no permission to {doing}: needs root (CAP_NET_ADMIN)") from None
        hint = ""
        if exc.code in (errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT):
            hint = " (this kernel lacks nftables NAT: modprobe nf_tables nft_masq)"
        raise HostSetupError(f"cannot {doing}: {os.strerror(exc.code)}{hint}") from None
