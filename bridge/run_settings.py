"""``pppbridge run``'s switches, and the one frozen value they and the configuration file
make, checked once: ``RunSettings``.

The switches are made from ``bridge.run_keys.KEYS``, without defaults, so that a switch
not given leaves the value to the ``--config`` file; ``bridge.config.values_from`` says
which source wins, and ``settings_from_values`` makes ``RunSettings`` from the values
whatever their source, each through ``run_keys.converted``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netstack.errors import UsageError
from netstack.secret import Secret

from .config import values_from
from .modem import ModemSettings
from .netconfig import DnsMode, DnsTarget, HostSettings, parse_route
from .run_exit import EXIT_STATUS_HELP
from .run_keys import KEYS, SECRET_ENV, Given, converted
from .serial_port import SerialSettings
from .simulator.plan import DEFAULT_PLAN
from .simulator.settings import SimSettings

DESCRIPTION = """\
Bring the link up through a cellular modem and route this host over it, with PPP in
userspace (no pppd, no /dev/ppp: only /dev/net/tun). It drives the modem with AT commands
(SIM PIN, PDP context, registration), dials, configures the TUN interface (addresses,
routes, DNS) and keeps the link up: LCP echo, redial with backoff. Each phase is reported
as it passes. Without --device it runs against the built-in modem simulator.

Every switch is also a key of the --config file (--echo-interval: echo_interval); a switch
given here wins over the file. pppbridge config --example shows them all."""
_SECRET_SWITCHES = {"--pin": SECRET_ENV["pin"], "--password": SECRET_ENV["password"]}


def secrets_moved_to_environment(words: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """``run``'s words with ``--pin``/``--password`` (and argparse's abbreviations of
    them, ``--pass X``, ``--pin=X``) taken out, and the environment variables that carry
    them instead; None when there are none. The caller runs itself again with those, so
    that the command line every user can read (ps, /proc/PID/cmdline) never shows them
    for longer than the start of the interpreter."""
    kept: list[str] = []
    moved: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        name, equals, value = word.partition("=")
        switch = next((s for s in _SECRET_SWITCHES if len(name) >= 4 and s.startswith(name)), None)
        if switch is None or word == "--":
            kept.append(word)
        elif equals:
            moved[_SECRET_SWITCHES[switch]] = value
        elif index + 1 < len(words):
            moved[_SECRET_SWITCHES[switch]] = words[index + 1]
            index += 1
        else:
            kept.append(word)  # no value: argparse says so
        index += 1
    return (kept, moved) if moved else None


SHARED_GUARD = 0.1
"""The escape's guard time set (ATS12=5) when the AT sockets may borrow the PPP line:
two of them a suspension, instead of two seconds (Telit's own code sets 40 ms)."""
SIMULATED_ROUTES = ("198.51.100.0/24", "2001:db8:1::/64")
"""The simulated operator network's hosts (``bridge.simulator.plan``), routed through the
link instead of a default route: the built-in simulator never takes over this host."""


@dataclass(frozen=True)
class RunSettings:
    """Everything ``pppbridge run`` needs, validated once."""

    modem: ModemSettings
    """The AT side: APN, PIN, credentials, PDP type, timeouts."""
    serial: SerialSettings
    """The modem's port (the built-in simulator's pty when ``simulator`` is set)."""
    host: HostSettings
    """The TUN interface, routes, DNS, state directory."""
    simulator: SimSettings | None = None
    """Run the built-in modem simulator in this process and use it as the modem."""
    echo_interval: float = 20.0
    """Seconds between LCP Echo-Requests on an idle link; 0 turns the keepalive off."""
    echo_failures: int = 3
    """Echo-Requests left unanswered before the link is declared dead."""
    holdoff: float = 2.0
    """Seconds before the first redial; each failure in a row doubles it (up to 120 s)."""
    maxfail: int = 10
    """Failures in a row before giving up; 0: never give up."""
    up_script: str | None = None
    down_script: str | None = None
    try_target: str | None = None
    """An address to suggest pinging once the link is up."""
    try_target_ipv6: str | None = None
    """The same, through the modem's AT sockets (``ping -6``)."""
    verbose: int = 0
    pcap: str | None = None
    """Write the PPP frames to this capture file (``bridge.capture``), rotated."""
    pcap_size: int = 10
    """Megabytes a capture file holds before the next one starts."""
    transcript: str | None = None
    """Append the AT dialogue, with times, to this file."""
    at_port: str | None = None
    """A second AT port of the modem: ``pppbridge at`` uses it while PPP holds the first."""
    metrics: str | None = None
    """Write the counters to this file in Prometheus text format."""
    metrics_interval: float = 15.0
    mode: str = "ppp"
    """``ppp``: dial and run PPP; ``at-socket``: attach only, the modem's own sockets carry
    IPv6 UDP (``bridge.atsocket_plane``); the TUN then has IPv6 only."""
    ipv6_path: str = "auto"
    """With ``ppp``: how IPv6 travels. ``auto``: PPP, and the AT sockets (on ``at_port``)
    when PPP reports IPv6 unavailable; ``ppp``: PPP only; ``at-socket``: the AT sockets
    always (IPV6CP is not even tried)."""
    at_line_limit: int | None = None
    """The longest AT command line the modem takes; None: the vendor's own limit."""
    at_socket_idle: float = 60.0
    """Seconds an unused modem socket stays open."""
    ipv4: bool = field(init=False, default=True)
    ipv6: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        pdp = self.modem.pdp.value
        object.__setattr__(self, "ipv4", pdp in ("ip", "ipv4v6") and self.mode == "ppp")
        object.__setattr__(self, "ipv6", pdp in ("ipv6", "ipv4v6"))
        if self.ipv6_path == "at-socket" and not self.ipv6:
            raise UsageError(
                "--ipv6 at-socket needs a PDP type with IPv6: --pdp ipv6 or ipv4v6, not ip"
            )
        if self.mode == "at-socket" and not self.ipv6:
            raise UsageError(
                "--mode at-socket carries IPv6 only: it needs --pdp ipv6 or ipv4v6, not ip"
            )

    @property
    def ppp_ipv6(self) -> bool:
        """Whether PPP negotiates IPv6 (IPV6CP)."""
        return self.ipv6 and self.mode == "ppp" and self.ipv6_path != "at-socket"

    @property
    def at_socket_fallback(self) -> bool:
        """Whether the AT sockets take IPv6 over when PPP reports it unavailable."""
        return self.ipv6 and self.mode == "ppp" and self.ipv6_path == "auto"

    @property
    def shares_the_line(self) -> bool:
        """Whether the AT sockets may borrow the PPP line (``+++``/``ATO``): IPv6 may go
        through them and there is no second AT port."""
        wanted = self.at_socket_fallback or self.ipv6_path == "at-socket" and self.mode == "ppp"
        return wanted and not self.at_port


def add_arguments(parser: argparse.ArgumentParser, groups: Sequence[str] | None = None) -> None:
    """``run``'s switches, from ``KEYS`` (only those of ``groups``, when given: ``probe``
    takes the modem's). None of them has a default here: a switch not given is None, so
    that a value from the file stands (``bridge.config.values_from``)."""
    parser.description = DESCRIPTION
    parser.epilog = EXIT_STATUS_HELP
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="take settings from FILE (TOML, the keys of pppbridge config --example); "
        "switches given here win over it",
    )
    made: dict[str, Any] = {}
    for key in KEYS:
        if not key.option_strings or (groups is not None and key.group not in groups):
            continue  # a key of the file only, or of another command
        if key.group not in made:
            made[key.group] = parser.add_argument_group(key.group)
        options = {"metavar": key.metavar} if key.metavar else {}
        made[key.group].add_argument(
            *key.option_strings,
            dest=key.name,
            default=None,
            help=key.help_text,
            **options,
            **key.kind.switch_options(),
        )


def settings_from_values(values: Mapping[str, Given]) -> RunSettings:
    """``RunSettings`` from every key's ``Given`` (a key left out takes its default);
    ``UsageError`` names the first value refused."""
    given = {key.name: Given(key, key.default) for key in KEYS if key.default is not None}
    given.update(values)
    value = {name: converted(item) for name, item in given.items()}
    simulated = value.get("device") is None
    if simulated and value.get("at_port"):
        raise UsageError(
            "--at-port names the modem's second AT port: give the modem with --device too "
            "(the built-in simulator has a second port of its own)"
        )
    modem = ModemSettings(
        apn=value["apn"],
        pdp=value["pdp"],
        cid=value["cid"],
        pin=value.get("pin"),
        user=value["user"],
        password=value.get("password", Secret("")),
        auth=value.get("auth"),
        profile=value.get("profile"),
        registration_timeout=value["registration_timeout"],
        dial=value["mode"] == "ppp",
    )
    routes = list(value["route"])
    if simulated:  # the simulated network, and nothing of this host's own routing
        routes += [r for r in map(parse_route, SIMULATED_ROUTES) if r not in routes]
    host = HostSettings(
        ifname=value["interface"],
        state_dir=Path(value["state_dir"]),
        metric=value["metric"],
        default_route=value["default_route"] and not simulated,
        routes=tuple(routes),
        dns=value.get("dns") or (DnsMode(DnsTarget.NONE) if simulated else None),
        netns=value.get("netns"),
        route_from=tuple(value["route_from"]),
        route_table=value["route_table"],
        masquerade=value["masquerade"],
    )
    serial = SerialSettings(
        device=value.get("device") or "", baud=value["baud"], rtscts=value["flow"] == "rtscts"
    )
    simulator = None
    if simulated:
        simulator = SimSettings(
            profile=value["sim_profile"],
            messy=value["sim_messy"],
            reject_ipv6cp=value["sim_reject_ipv6cp"],
            ipv6_only=value["sim_ipv6_only"],
            at_line_limit=value.get("sim_at_line_limit"),
        )
    run = RunSettings(
        modem=modem,
        serial=serial,
        host=host,
        simulator=simulator,
        echo_interval=value["echo_interval"],
        echo_failures=value["echo_failures"],
        holdoff=value["holdoff"],
        maxfail=value["maxfail"],
        up_script=value.get("up_script"),
        down_script=value.get("down_script"),
        try_target=str(DEFAULT_PLAN.echo_ipv4) if simulated else None,
        try_target_ipv6=str(DEFAULT_PLAN.echo_ipv6) if simulated else None,
        verbose=value["verbose"],
        pcap=value.get("pcap"),
        pcap_size=value["pcap_size"],
        transcript=value.get("transcript"),
        at_port=value.get("at_port"),
        metrics=value.get("metrics"),
        metrics_interval=value["metrics_interval"],
        mode=value["mode"],
        ipv6_path=value["ipv6"],
        at_line_limit=value.get("at_line_limit"),
        at_socket_idle=value["at_socket_idle"],
    )
    if run.shares_the_line:
        run = replace(run, modem=replace(run.modem, escape_guard=SHARED_GUARD))
    return run


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> RunSettings:
    """The switches, the ``--config`` file and the environment as ``RunSettings``
    (``bridge.config.values_from`` says which wins); ``UsageError`` names a bad value."""
    return settings_from_values(values_from(args, environ))


def with_device(settings: RunSettings, device: str, at_port: str | None = None) -> RunSettings:
    """The settings with the simulator's pty as the device (and its second pty as the AT
    port), once it runs."""
    serial = replace(settings.serial, device=device)
    return replace(settings, serial=serial, at_port=at_port or settings.at_port)
