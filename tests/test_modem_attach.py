"""The bring-up of a modem that is not dialled (``--mode at-socket``): the context is
activated and its addresses and DNS servers read, in every vendor's notation, on virtual
time against the pure simulator (``modem_pair``)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

import pytest

from bridge.modem import Attached, BringUpFailed, FailureKind, ModemSettings, PdpType, Step
from bridge.modem.context_read import ContextRead
from bridge.modem.parsers import parse_cgcontrdp_dns, parse_cgpaddr
from bridge.simulator.profiles import PROFILES as SIM_PROFILES
from bridge.simulator.settings import SimSettings
from modem_pair import ModemPair

ATTACH = ModemSettings(apn="internet", dial=False)
CLIENT_V4 = IPv4Address("203.0.113.10")
CLIENT_V6 = IPv6Address("2001:db8:2::2")
DNS_V6 = IPv6Address("2001:db8:1::53")
CASES = [(name, messy) for name in SIM_PROFILES for messy in (False, True)]


def attach(sim: SimSettings, settings: ModemSettings = ATTACH, seed: int = 1) -> ModemPair:
    pair = ModemPair(settings, sim, seed=seed, split=sim.messy)
    pair.run()
    return pair


@pytest.mark.parametrize(("profile", "messy"), CASES)
def test_every_profile_attaches_without_dialling(profile: str, messy: bool) -> None:
    pair = attach(SimSettings(profile=profile, messy=messy))
    result = pair.result
    assert isinstance(result, Attached), result
    assert (result.ipv4, result.ipv6) == (CLIENT_V4, CLIENT_V6)
    assert DNS_V6 in result.dns
    assert pair.sent("ATD") == []
    assert pair.sent("AT+CGACT=1,1") == ["AT+CGACT=1,1"]
    assert pair.modem.contexts[1].active
    assert pair.modem.session is None, "no data call"


@pytest.mark.parametrize("messy", [False, True])
def test_ipv6_only_network_gives_an_ipv6_address_alone(messy: bool) -> None:
    pair = attach(SimSettings(profile="sequans", messy=messy, ipv6_only=True))
    assert isinstance(pair.result, Attached), pair.result
    assert (pair.result.ipv4, pair.result.ipv6) == (None, CLIENT_V6)


def test_an_ipv6_context_gives_its_ipv6_address_alone() -> None:
    settings = replace(ATTACH, pdp=PdpType.IPV6)
    pair = attach(SimSettings(profile="telit"), settings)
    assert isinstance(pair.result, Attached), pair.result
    assert pair.result.ipv6 == CLIENT_V6 and pair.result.ipv4 is None


@pytest.mark.parametrize(
    ("ipv6_only", "said"),
    [(False, "has no IPv6 address"), (True, "the network refused to activate")],
)
def test_no_ipv6_address_is_a_pdp_failure(ipv6_only: bool, said: str) -> None:
    """An IPv4-only context: activated, but nothing the modem's sockets could carry here;
    on an IPv6-only network the network refuses it outright."""
    settings = replace(ATTACH, pdp=PdpType.IP)
    pair = attach(SimSettings(profile="sequans", ipv6_only=ipv6_only), settings)
    result = pair.result
    assert isinstance(result, BringUpFailed), result
    assert (result.step, result.kind) == (Step.ACTIVATE, FailureKind.PDP)
    assert said in result.message


@pytest.mark.parametrize(("profile", "messy"), CASES)
def test_context_read_on_a_second_port_reads_without_changing_anything(
    profile: str, messy: bool
) -> None:
    """ContextRead (``--at-port`` beside PPP): the probe, then only the address reads."""
    dialled = ModemSettings(apn="internet")
    pair = ModemPair(
        dialled,
        SimSettings(profile=profile, messy=messy, attached=True),
        split=messy,
        machine=ContextRead,
    )
    pair.run()
    assert isinstance(pair.result, Attached), pair.result
    assert (pair.result.ipv4, pair.result.ipv6) == (CLIENT_V4, CLIENT_V6)
    assert DNS_V6 in pair.result.dns
    written = [w.shown for w in pair.written]
    assert not [line for line in written if line.startswith(("ATD", "AT+CGACT", "AT+CGDCONT="))]
    assert written[-3:] == ["AT+CGPIAF=1,1,1,1", "AT+CGPADDR=1", "AT+CGCONTRDP=1"]


def test_refused_activation_is_a_pdp_failure() -> None:
    pair = attach(SimSettings(profile="quectel", pdp_refuse=True))
    result = pair.result
    assert isinstance(result, BringUpFailed), result
    assert (result.step, result.kind) == (Step.ACTIVATE, FailureKind.PDP)
    assert "activate" in result.message


# --- the parsers, on what vendors print ---------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        '+CGPADDR: 1,"203.0.113.10","32.1.13.184.0.2.0.0.0.0.0.0.0.0.0.2"',
        '+CGPADDR: 1,"203.0.113.10","2001:DB8:2:0:0:0:0:2"',
        "+CGPADDR: 1,203.0.113.10,2001:db8:2::2",
        '+CGPADDR:1,"203.0.113.10","2001:0db8:0002:0000:0000:0000:0000:0002"',
    ],
)
def test_cgpaddr_in_every_notation(line: str) -> None:
    assert parse_cgpaddr([line], 1) == (CLIENT_V4, CLIENT_V6)


@pytest.mark.parametrize(
    "lines",
    [
        ['+CGPADDR: 2,"203.0.113.10"'],  # another context
        ['+CGPADDR: 1,"0.0.0.0","0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"'],  # none yet
        ["+CGPADDR: 1", "+CGPADDR: x,1.2.3.4", "garbage", '+CGPADDR: 1,"999.1.1.1"'],
    ],
)
def test_cgpaddr_without_an_address(lines: list[str]) -> None:
    assert parse_cgpaddr(lines, 1) == (None, None)


def test_cgcontrdp_dns_of_both_families_with_masks() -> None:
    lines = [
        '+CGCONTRDP: 1,5,"internet","203.0.113.10.255.255.255.255","203.0.113.1",'
        '"198.51.100.53","198.51.100.54"',
        '+CGCONTRDP: 1,5,"internet","32.1.13.184.0.2.0.0.0.0.0.0.0.0.0.2.'
        '255.255.255.255.255.255.255.255.0.0.0.0.0.0.0.0","",'
        '"32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.83",""',
        '+CGCONTRDP: 2,6,"other","","","192.0.2.53"',
    ]
    assert parse_cgcontrdp_dns(lines, 1) == (
        IPv4Address("198.51.100.53"),
        IPv4Address("198.51.100.54"),
        DNS_V6,
    )
