"""What a call through the modem's AT sockets needs besides the plane
(``bridge.atsocket_session``), and the settings that choose it (``--mode``, ``--ipv6``)."""

from __future__ import annotations

from ipaddress import IPv6Address
from pathlib import Path

import pytest

from bridge.atsocket_session import NoAtSockets, context_ended, make_bridge, tun_mtu
from test_config import refusal, settings

ADDRESS = IPv6Address("2001:db8:2::2")


@pytest.mark.parametrize(
    "line",
    [
        "+CGEV: NW DEACT 1",
        "+CGEV: NW PDN DEACT 1",
        "+CGEV: ME PDN DEACT 1",
        "+cgev: nw deact",  # no cid: every context
        "+CGEV: NW DETACH",
        "+CEREG: 0",
        '+CEREG: 3,"00C3","0000A13F",9',
        "+CGREG: 0",
    ],
)
def test_urcs_that_end_the_context(line: str) -> None:
    assert context_ended(line, 1) is not None
    assert line.strip() in (context_ended(line, 1) or "")


@pytest.mark.parametrize(
    "line",
    [
        "+CGEV: NW DEACT 2",  # another context
        "+CGEV: NW PDN ACT 1",
        "+CEREG: 1",
        '+CEREG: 5,"00C3","0000A13F",9',
        "+CEREG: 2",  # searching: a reselection may come back
        "+CEREG: 2,0",  # a read's answer (<n>,<stat>), not a URC
        "+SQNSRING: 1,5",
        "garbage",
        "",
    ],
)
def test_urcs_that_do_not(line: str) -> None:
    assert context_ended(line, 1) is None


@pytest.mark.parametrize(
    ("profile", "vendor"),
    [
        ("sequans", "sequans"),
        ("telit", "telit"),
        ("quectel", "quectel"),
        ("ublox-r5", "ublox-inline-hex"),  # hex in the line: no "@", no 50 ms a datagram
    ],
)
def test_each_profile_has_its_vendors_commands(tmp_path: Path, profile: str, vendor: str) -> None:
    bridge = make_bridge(profile, settings(tmp_path, None, "--mode", "at-socket"), ADDRESS)
    assert bridge.vendor.name == vendor
    assert 1280 <= tun_mtu(bridge) <= 1500


@pytest.mark.parametrize("profile", ["generic", "v250"])
def test_a_profile_without_socket_commands_says_what_to_do(tmp_path: Path, profile: str) -> None:
    with pytest.raises(
        NoAtSockets, match=f"the {profile} modem profile has no AT socket.*--profile"
    ):
        make_bridge(profile, settings(tmp_path, None), ADDRESS)


def test_ublox_takes_the_binary_syntax_under_a_line_limit(tmp_path: Path) -> None:
    """Pycom-like 124 characters: the payload cannot be in the line; after "@" it can be
    written in pieces."""
    limited = settings(tmp_path, None, "--at-line-limit", "124")
    assert make_bridge("ublox", limited, ADDRESS).vendor.name == "ublox"


def test_the_line_limit_and_idle_time_reach_the_bridge(tmp_path: Path) -> None:
    chosen = settings(tmp_path, None, "--at-line-limit", "124", "--at-socket-idle", "30")
    assert (chosen.at_line_limit, chosen.at_socket_idle) == (124, 30)
    from_file = settings(tmp_path, 'mode = "at-socket"\nat_line_limit = 124\n')
    assert (from_file.mode, from_file.at_line_limit) == ("at-socket", 124)


def test_mode_at_socket_is_ipv6_only_and_never_dials(tmp_path: Path) -> None:
    chosen = settings(tmp_path, None, "--mode", "at-socket")
    assert (chosen.ipv4, chosen.ipv6, chosen.modem.dial, chosen.ppp_ipv6) == (
        False,
        True,
        False,
        False,
    )
    assert settings(tmp_path, None).modem.dial


def test_ipv6_paths(tmp_path: Path) -> None:
    """(IPV6CP tried, the AT sockets when PPP has no IPv6, they borrow the PPP line, the
    escape's guard time set in the bring-up)."""

    def paths(*switches: str) -> tuple[bool, bool, bool, float | None]:
        chosen = settings(tmp_path, None, "--device", "/dev/ttyUSB2", *switches)
        return (
            chosen.ppp_ipv6,
            chosen.at_socket_fallback,
            chosen.shares_the_line,
            chosen.modem.escape_guard,
        )

    port = ("--at-port", "/dev/ttyUSB3")
    assert paths(*port) == (True, True, False, None)
    assert paths() == (True, True, True, 0.1)  # one line: +++ and ATO, a short guard
    assert paths("--ipv6", "ppp") == (True, False, False, None)
    assert paths("--ipv6", "ppp", *port) == (True, False, False, None)
    assert paths("--ipv6", "at-socket", *port) == (False, False, False, None)
    assert paths("--ipv6", "at-socket") == (False, False, True, 0.1)
    assert paths("--pdp", "ip") == (False, False, False, None)
    assert paths("--mode", "at-socket") == (False, False, False, None)


def test_refusals(tmp_path: Path) -> None:
    assert "needs --pdp ipv6 or ipv4v6" in refusal(
        tmp_path, "", "--mode", "at-socket", "--pdp", "ip"
    )
    assert "124" not in refusal(tmp_path, "", "--at-line-limit", "8")
    simulated = refusal(tmp_path, "", "--at-port", "/dev/ttyUSB3")  # no --device
    assert "give the modem with --device too" in simulated
    no_ipv6 = refusal(tmp_path, "", "--ipv6", "at-socket", "--pdp", "ip")
    assert "--ipv6 at-socket needs a PDP type with IPv6" in no_ipv6
