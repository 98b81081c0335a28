"""``pppbridge run``'s switches, and the one frozen value they make (checked once)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from netstack.errors import UsageError

from .errors import HostSetupError
from .modem import PROFILES, ModemSettings
from .netconfig import DEFAULT_METRIC, DEFAULT_STATE_DIR, HostSettings, parse_dns_mode, parse_route
from .run_exit import EXIT_STATUS_HELP
from .serial_port import BAUD_RATES, DEFAULT_BAUD, SerialSettings
from .simulator.plan import DEFAULT_PLAN
from .simulator.settings import SimSettings, number
from .tun import DEFAULT_NAME

DESCRIPTION = """\
Bring the link up through a cellular modem and route this host over it, with PPP in
userspace (no pppd, no /dev/ppp: only /dev/net/tun). It drives the modem with AT commands
(SIM PIN, PDP context, registration), dials, configures the TUN interface (addresses,
routes, DNS) and keeps the link up: LCP echo, redial with backoff. Each phase is reported
as it passes. Without --device it runs against the built-in modem simulator."""
SECRET_ENV = {"pin": "PPPBRIDGE_PIN", "password": "PPPBRIDGE_PASSWORD"}
"""Secrets may come from the environment instead of the command line, where other users
could read them (/proc/PID/cmdline)."""
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
    verbose: int = 0
    ipv4: bool = field(init=False, default=True)
    ipv6: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        pdp = self.modem.pdp.value
        object.__setattr__(self, "ipv4", pdp in ("ip", "ipv4v6"))
        object.__setattr__(self, "ipv6", pdp in ("ipv6", "ipv4v6"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EXIT_STATUS_HELP
    modem = parser.add_argument_group("the modem")
    modem.add_argument(
        "--device",
        metavar="PATH",
        help="the modem's AT/PPP port, e.g. /dev/ttyUSB2 or /dev/serial/by-id/...; "
        "without it, the built-in simulator plays the modem",
    )
    modem.add_argument("--apn", default="", help="the access point name (default: the network's)")
    modem.add_argument(
        "--pin", help=f"the SIM PIN, sent once if the SIM asks (or ${SECRET_ENV['pin']})"
    )
    modem.add_argument("--user", default="", help="user name for the PDP context (PAP/CHAP)")
    modem.add_argument(
        "--password", help=f"password for the PDP context (or ${SECRET_ENV['password']})"
    )
    modem.add_argument(
        "--auth",
        choices=("pap", "chap", "auto", "none"),
        help="how the modem authenticates the context (default: auto with a user or "
        "password, else none)",
    )
    modem.add_argument(
        "--pdp", choices=("ip", "ipv6", "ipv4v6"), default="ipv4v6", help="PDP type (ipv4v6)"
    )
    modem.add_argument("--cid", default="1", help="PDP context identifier dialled (1)")
    modem.add_argument(
        "--profile",
        choices=list(PROFILES),
        help="vendor profile (default: from the modem's identity)",
    )
    modem.add_argument(
        "--baud", default=str(DEFAULT_BAUD), help=f"line rate of a UART ({DEFAULT_BAUD})"
    )
    modem.add_argument(
        "--flow", choices=("none", "rtscts"), default="none", help="flow control (none)"
    )
    modem.add_argument(
        "--registration-timeout",
        default="120",
        metavar="SECONDS",
        help="how long to wait for the network (120)",
    )
    host = parser.add_argument_group("this host")
    host.add_argument("--interface", default=DEFAULT_NAME, help=f"TUN name ({DEFAULT_NAME})")
    host.add_argument(
        "--metric", default=str(DEFAULT_METRIC), help=f"metric of our routes ({DEFAULT_METRIC})"
    )
    host.add_argument("--no-default-route", action="store_true", help="add no default routes")
    host.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="PREFIX",
        help="also route PREFIX through the link (repeatable)",
    )
    host.add_argument(
        "--dns",
        metavar="resolvconf|file:PATH|none",
        help="where the DNS servers go (default: resolvconf if /etc/resolv.conf is a plain "
        "file, else none)",
    )
    host.add_argument(
        "--state-dir",
        default=str(DEFAULT_STATE_DIR),
        help=f"where what was configured is recorded ({DEFAULT_STATE_DIR})",
    )
    host.add_argument("--up-script", metavar="PROGRAM", help="run when the link is up")
    host.add_argument("--down-script", metavar="PROGRAM", help="run when the link went down")
    link = parser.add_argument_group("keeping the link up")
    link.add_argument(
        "--echo-interval",
        default="20",
        metavar="SECONDS",
        help="LCP echo on an idle link every SECONDS (20; 0: off)",
    )
    link.add_argument(
        "--echo-failures", default="3", metavar="N", help="unanswered echoes = dead link (3)"
    )
    link.add_argument(
        "--holdoff", default="2", metavar="SECONDS", help="wait before the first redial (2)"
    )
    link.add_argument(
        "--maxfail",
        default="10",
        metavar="N",
        help="give up after N failures in a row (10; 0: never)",
    )
    sim = parser.add_argument_group("the built-in simulator (without --device)")
    sim.add_argument(
        "--sim-profile",
        choices=sorted({"generic", "sequans", "telit", "quectel", "ublox"}),
        default="generic",
        help="the modem the simulator plays (generic)",
    )
    sim.add_argument(
        "--sim-messy", action="store_true", help="the simulator behaves like messy field logs"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="show the AT dialogue and host changes"
    )


def settings_from(args: argparse.Namespace) -> RunSettings:
    """The switches as ``RunSettings``; ``UsageError`` names a bad one."""
    pin = args.pin if args.pin is not None else os.environ.get(SECRET_ENV["pin"])
    password = args.password
    if password is None:
        password = os.environ.get(SECRET_ENV["password"], "")
    modem = ModemSettings.from_options(
        apn=args.apn,
        pdp=args.pdp,
        cid=args.cid,
        pin=pin,
        user=args.user,
        password=password,
        auth=args.auth,
        profile=args.profile,
        registration_timeout=number(
            args.registration_timeout, "--registration-timeout", low=1, high=3600
        ),
    )
    simulated = args.device is None
    routes = list(args.route)
    if simulated:  # the simulated network, and nothing of this host's own routing
        routes += [r for r in SIMULATED_ROUTES if r not in routes]
    try:
        dns = (
            parse_dns_mode(args.dns) if args.dns else parse_dns_mode("none") if simulated else None
        )
        host = HostSettings(
            ifname=args.interface,
            state_dir=Path(args.state_dir),
            metric=int(number(args.metric, "--metric", high=0xFFFFFFFF, whole=True)),
            default_route=not (args.no_default_route or simulated),
            routes=tuple(parse_route(r) for r in routes),
            dns=dns,
        )
    except HostSetupError as exc:  # a bad --route, --dns or --interface: the user's mistake
        raise UsageError(str(exc)) from None
    baud = int(number(args.baud, "--baud", whole=True))
    if baud not in BAUD_RATES:
        raise UsageError(f"--baud {baud}: choose one of {', '.join(map(str, BAUD_RATES))}")
    serial = SerialSettings(device=args.device or "", baud=baud, rtscts=args.flow == "rtscts")
    simulator = None
    if simulated:
        simulator = SimSettings(profile=args.sim_profile, messy=args.sim_messy)
    return RunSettings(
        modem=modem,
        serial=serial,
        host=host,
        simulator=simulator,
        echo_interval=number(args.echo_interval, "--echo-interval", high=3600),
        echo_failures=int(
            number(args.echo_failures, "--echo-failures", low=1, high=100, whole=True)
        ),
        holdoff=number(args.holdoff, "--holdoff", high=3600),
        maxfail=int(number(args.maxfail, "--maxfail", high=1_000_000, whole=True)),
        up_script=args.up_script,
        down_script=args.down_script,
        try_target=str(DEFAULT_PLAN.echo_ipv4) if simulated else None,
        verbose=args.verbose,
    )


def with_device(settings: RunSettings, device: str) -> RunSettings:
    """The settings with the simulator's pty as the device, once it runs."""
    return replace(settings, serial=replace(settings.serial, device=device))
