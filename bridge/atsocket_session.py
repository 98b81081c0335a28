"""What a call through the modem's AT sockets needs besides the plane: the vendor's
command set for the modem's profile, the TUN's MTU, and the URCs that end the context.

Used by ``bridge.supervisor`` for ``--mode at-socket`` (no PPP) and for IPv6 beside PPP
(``--ipv6 at-socket``, or the fallback when PPP reports IPv6 unavailable).
"""

from __future__ import annotations

from ipaddress import IPv6Address

from netstack.atsocket import AtSocketBridge
from netstack.atsocket_packets import IPV6_MIN_MTU
from netstack.atsocket_vendors import UBLOX_SARA_R4, UBLOX_SARA_R4_INLINE_HEX, VENDORS

from .modem.parsers import parse_registration, value_after
from .run_settings import RunSettings

TUN_MTU = 1500
VENDOR_OF_PROFILE = {"ublox-r5": "ublox"}
"""Modem profiles whose sockets are another profile's (SARA-R5 takes SARA-R4's
commands, at-commands.md 4)."""
INLINE_HEX_LINE = 1100
"""The longest u-blox +USOST line with its payload in hex inside it (512 octets: 1024
digits, the address, ports and quotes): a line limit under it takes the binary syntax
(``@``, the payload after it in pieces) instead."""
REGISTRATION_COMMANDS = ("+CEREG", "+CGREG", "+CREG")
LOST = frozenset({0, 3})
"""27.007 <stat>: not registered and not searching, registration denied."""


class NoAtSockets(Exception):
    """The modem's profile has no AT socket commands we know."""


def has_sockets(profile: str) -> bool:
    """Whether we know ``profile``'s AT socket commands."""
    return VENDOR_OF_PROFILE.get(profile, profile) in VENDORS


def make_bridge(profile: str, settings: RunSettings, address: IPv6Address) -> AtSocketBridge:
    """The translation for ``profile``'s socket commands, from the modem's ``address``."""
    vendor = VENDORS.get(VENDOR_OF_PROFILE.get(profile, profile))
    if vendor is None:
        known = ", ".join(sorted(name for name in VENDORS if "-" not in name))
        raise NoAtSockets(
            f"the {profile} modem profile has no AT socket commands: name the modem with "
            f"--profile ({known})"
        )
    limit = settings.at_line_limit
    if vendor is UBLOX_SARA_R4 and (limit is None or limit >= INLINE_HEX_LINE):
        # Hex in the command line (4.3): no "@" and no 50 ms of silence a datagram.
        vendor = UBLOX_SARA_R4_INLINE_HEX
    return AtSocketBridge(
        vendor,
        local_address=address,
        cid=settings.modem.cid,
        max_line=settings.at_line_limit,
        idle_timeout=settings.at_socket_idle,
    )


def tun_mtu(bridge: AtSocketBridge) -> int:
    """The TUN's MTU: what the modem's payload limit lets through, within IPv6's 1280 and
    Ethernet's 1500; anything larger gets Packet Too Big from the bridge, not a silent
    drop."""
    return max(IPV6_MIN_MTU, min(TUN_MTU, bridge.mtu))


def context_ended(line: str, cid: int) -> str | None:
    """Why a URC means the context (and the modem's sockets with it) is gone, or None:
    27.007 10.1.19 ``+CGEV: NW DEACT``/``ME DEACT``/``NW PDN DEACT <cid>``/``NW DETACH``,
    or a registration URC saying not registered and not searching, or denied (7.2,
    10.1.20, 10.1.22; searching, as in a cell reselection, may come back)."""
    text = value_after(line, "+CGEV")
    if text is not None:
        words = text.upper().replace(",", " ").split()
        if "DETACH" in words:
            return f"the network detached the modem ({line.strip()})"
        if any(word.endswith("DEACT") for word in words):
            numbers = [int(w) for w in words if w.isdigit()]
            if not numbers or cid in numbers:
                return f"the network deactivated the context ({line.strip()})"
        return None
    status = parse_registration(line, REGISTRATION_COMMANDS)
    if status is not None and status.mode is None and status.stat in LOST:
        return f"the modem lost its registration ({line.strip()})"
    return None
