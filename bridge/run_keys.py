"""The keys of ``pppbridge run``: one table, ``KEYS``, each key both a switch and a key
of the configuration file, and the one conversion of a value given for it.

A key has a name (``registration_timeout``, the switch ``--registration-timeout``), a
kind (text, number, choice, true/false, count, list of prefixes), a default and a help
line. The switches (``run_settings.add_arguments``), the file's keys and types
(``bridge.config``) and the commented example (``pppbridge config --example``) are all
made from this table, so none of them can drift from the others.

Whatever gives a value (a switch, the file, the environment, a systemd credential), it
becomes a ``Given``: the value as given and where it came from; ``converted`` makes it the
value the settings hold, through the same checks whatever the source:
``bridge.numbers.number`` for every number, ``ModemSettings`` for what goes into AT
commands, ``check_ifname``, ``parse_route``, ``parse_dns_mode``. A refusal is one
``UsageError`` line: for a switch, the check's own message (``--metric must be between 0
and 4294967295``); for the file, naming the file, the key, the value and what is allowed
(``x.toml: key "metric": 4294967296 is not allowed: a whole number from 0 to
4294967295``). A secret's value is never shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from netstack.errors import UsageError

from .errors import HostSetupError
from .modem import PROFILES, ModemSettings
from .netconfig import DEFAULT_METRIC, DEFAULT_STATE_DIR, DnsMode, parse_dns_mode, parse_route
from .numbers import allowed_numbers, number
from .serial_port import BAUD_RATES, DEFAULT_BAUD
from .simulator.profiles import PROFILES as SIMULATED_PROFILES
from .tun import DEFAULT_NAME, check_ifname

SECRET_ENV = {"pin": "PPPBRIDGE_PIN", "password": "PPPBRIDGE_PASSWORD"}
"""Secrets may come from the environment instead of the command line, where other users
could read them (/proc/PID/cmdline)."""


# --- the kinds of value a key holds --------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Text: a switch's word, a TOML string."""

    values: str | None = None
    """What a valid value is, in words, shown after a refused one; None: the check's own
    message says it (``the APN 'x"y' holds a double quote...``)."""

    @property
    def wanted(self) -> str:
        return self.values or "text in double quotes"

    @property
    def allowed(self) -> str | None:
        return self.values

    def accepts(self, value: object) -> bool:
        return isinstance(value, str)

    def convert(self, value: Any, label: str) -> Any:
        return value

    def switch_options(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Number:
    """A number from ``low`` to ``high``, whole if asked: TOML's integer (or float)."""

    low: float = 0.0
    high: float = float("inf")
    whole: bool = False
    values: str | None = None
    """What is allowed, when it is narrower than the range (the baud rates)."""

    @property
    def wanted(self) -> str:
        return self.values or allowed_numbers(low=self.low, high=self.high, whole=self.whole)

    allowed = wanted

    def accepts(self, value: object) -> bool:
        kinds = (int,) if self.whole else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool)

    def convert(self, value: Any, label: str) -> Any:
        result = number(value, label, low=self.low, high=self.high, whole=self.whole)
        return int(result) if self.whole else result

    def switch_options(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Choice:
    """One of a few words."""

    choices: tuple[str, ...]

    @property
    def wanted(self) -> str:
        return f"one of {', '.join(self.choices)}"

    allowed = wanted

    def accepts(self, value: object) -> bool:
        return isinstance(value, str) and value in self.choices

    def convert(self, value: Any, label: str) -> Any:
        return value

    def switch_options(self) -> dict[str, Any]:
        return {"choices": self.choices}


@dataclass(frozen=True)
class Flag:
    """True or false; the switch, which takes no value, sets ``switch_sets``."""

    switch_sets: bool = True

    wanted = allowed = "true or false"

    def accepts(self, value: object) -> bool:
        return isinstance(value, bool)

    def convert(self, value: Any, label: str) -> Any:
        return value

    def switch_options(self) -> dict[str, Any]:
        return {"action": "store_const", "const": self.switch_sets}


@dataclass(frozen=True)
class Count(Number):
    """A switch given once or more (``-vv``); a whole number in the file."""

    def switch_options(self) -> dict[str, Any]:
        return {"action": "count"}


@dataclass(frozen=True)
class Prefixes:
    """IPv4 and IPv6 prefixes: the switch repeated, a TOML list of strings."""

    wanted = 'a list of IPv4 or IPv6 prefixes, e.g. ["192.0.2.0/24"]'
    allowed = "an IPv4 or IPv6 prefix: address/length, without host bits"

    def accepts(self, value: object) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)

    def convert(self, value: Any, label: str) -> Any:
        return parse_route(value)

    def switch_options(self) -> dict[str, Any]:
        return {"action": "append"}


Kind = Text | Number | Choice | Flag | Count | Prefixes


# --- the keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One setting of ``pppbridge run``: a switch and a key of the configuration file."""

    name: str
    """The file's key; the switch is ``--`` and the name with ``-`` for ``_``."""
    kind: Kind
    """What the value is: checked strictly in the file, converted from either."""
    default: Any
    """The value when nothing gives one, as the file would write it; None: not set."""
    help: str
    """One line for ``--help`` and the example; ``{default}`` stands for the default."""
    group: str
    """The heading it is listed under."""
    metavar: str | None = None
    example: Any = None
    """A value the commented example shows for a key without a default."""
    check: Callable[[Any, str], Any] | None = None
    """The check that makes the value (e.g. ``ModemSettings``'s), instead of the kind's
    conversion; called with the value and the switch, which the messages name."""
    switches: tuple[str, ...] | None = None
    """The switches when not ``--name``; () for a key of the file only."""
    secret: bool = False
    """A PIN or password: its value is never shown."""

    @property
    def switch(self) -> str:
        """The switch that messages name: ``--metric``."""
        return "--" + self.name.replace("_", "-")

    @property
    def option_strings(self) -> tuple[str, ...]:
        return (self.switch,) if self.switches is None else self.switches

    @property
    def help_text(self) -> str:
        return self.help.format(default=self.default)


def _modem(name: str) -> Callable[[Any, str], Any]:
    """The check of a ``ModemSettings`` field: the value as ``ModemSettings`` makes it
    (``Secret``, ``PdpType``...), or its ``UsageError``."""

    def check(value: Any, label: str) -> Any:
        return getattr(ModemSettings.from_options(**{name: value}), name)

    return check


def _baud(value: Any, label: str) -> int:
    baud = int(number(value, label, whole=True))
    if baud not in BAUD_RATES:
        raise UsageError(f"{label} {baud}: choose one of {', '.join(map(str, BAUD_RATES))}")
    return baud


def _interface(value: Any, label: str) -> str:
    check_ifname(value)
    return str(value)


def _dns(value: Any, label: str) -> DnsMode:
    return parse_dns_mode(value)


MODEM, HOST, LINK = "the modem", "this host", "keeping the link up"
SIMULATOR, OUTPUT = "the built-in simulator (without --device)", "output"
KEYS = (
    Key(
        "device",
        Text(),
        None,
        "the modem's AT/PPP port, e.g. /dev/ttyUSB2 or /dev/serial/by-id/...; without it, "
        "the built-in simulator plays the modem",
        MODEM,
        metavar="PATH",
        example="/dev/ttyUSB2",
    ),
    Key(
        "apn",
        Text(),
        "",
        "the access point name (default: the network's)",
        MODEM,
        check=_modem("apn"),
    ),
    Key(
        "pin",
        Text(),
        None,
        f"the SIM PIN, sent once if the SIM asks (or ${SECRET_ENV['pin']})",
        MODEM,
        example="1234",
        check=_modem("pin"),
        secret=True,
    ),
    Key(
        "pin_file",
        Text(),
        None,
        "a file whose first line is the SIM PIN (instead of pin; mode 0600)",
        MODEM,
        example="/etc/pppbridge/pin",
        switches=(),
    ),
    Key(
        "user", Text(), "", "user name for the PDP context (PAP/CHAP)", MODEM, check=_modem("user")
    ),
    Key(
        "password",
        Text(),
        None,
        f"password for the PDP context (or ${SECRET_ENV['password']})",
        MODEM,
        example="",
        check=_modem("password"),
        secret=True,
    ),
    Key(
        "password_file",
        Text(),
        None,
        "a file whose first line is the password (instead of password; mode 0600)",
        MODEM,
        example="/etc/pppbridge/password",
        switches=(),
    ),
    Key(
        "auth",
        Choice(("pap", "chap", "auto", "none")),
        None,
        "how the modem authenticates the context (default: auto with a user or password, "
        "else none)",
        MODEM,
        example="auto",
        check=_modem("auth"),
    ),
    Key(
        "pdp",
        Choice(("ip", "ipv6", "ipv4v6")),
        "ipv4v6",
        "PDP type ({default})",
        MODEM,
        check=_modem("pdp"),
    ),
    Key(
        "cid",
        Number(1, 16, whole=True),
        1,
        "PDP context identifier dialled ({default})",
        MODEM,
        check=_modem("cid"),
    ),
    Key(
        "profile",
        Choice(tuple(PROFILES)),
        None,
        "vendor profile (default: from the modem's identity)",
        MODEM,
        example="quectel",
    ),
    Key(
        "baud",
        Number(whole=True, values=f"one of {', '.join(map(str, BAUD_RATES))}"),
        DEFAULT_BAUD,
        "line rate of a UART ({default})",
        MODEM,
        check=_baud,
    ),
    Key("flow", Choice(("none", "rtscts")), "none", "flow control ({default})", MODEM),
    Key(
        "at_port",
        Text(),
        None,
        "a second AT port of the modem, used while PPP holds --device: by pppbridge at, and "
        "by the AT sockets carrying IPv6 (--ipv6)",
        MODEM,
        metavar="PATH",
        example="/dev/ttyUSB3",
    ),
    Key(
        "mode",
        Choice(("ppp", "at-socket")),
        "ppp",
        "ppp: dial, PPP carries the traffic; at-socket: never dial, the modem's own sockets "
        "carry IPv6 UDP (and ping) and the TUN has IPv6 only ({default})",
        MODEM,
    ),
    Key(
        "ipv6",
        Choice(("auto", "ppp", "at-socket")),
        "auto",
        "how IPv6 travels with --mode ppp: auto (PPP; the modem's AT sockets on --at-port "
        "when PPP cannot carry it), ppp, or at-socket (always, on --at-port) ({default})",
        MODEM,
    ),
    Key(
        "at_line_limit",
        Number(16, 65536, whole=True),
        None,
        "the longest AT command line the modem takes (Pycom firmware: 124); longer "
        "payloads are cut or refused (default: the vendor's limit)",
        MODEM,
        metavar="N",
        example=124,
    ),
    Key(
        "at_socket_idle",
        Number(1, 86400),
        60,
        "close a modem socket unused for SECONDS ({default})",
        MODEM,
        metavar="SECONDS",
    ),
    Key(
        "registration_timeout",
        Number(1, 3600),
        120,
        "how long to wait for the network ({default})",
        MODEM,
        metavar="SECONDS",
    ),
    Key("interface", Text(), DEFAULT_NAME, "TUN name ({default})", HOST, check=_interface),
    Key(
        "metric",
        Number(0, 0xFFFFFFFF, whole=True),
        DEFAULT_METRIC,
        "metric of our routes ({default})",
        HOST,
    ),
    Key(
        "default_route",
        Flag(switch_sets=False),
        True,
        "add no default routes (in the file: default_route = false)",
        HOST,
        switches=("--no-default-route",),
    ),
    Key(
        "route",
        Prefixes(),
        [],
        "also route PREFIX through the link (repeatable)",
        HOST,
        metavar="PREFIX",
    ),
    Key(
        "dns",
        Text("resolvconf, resolved, file:PATH or none"),
        None,
        "where the DNS servers go (default: resolvconf if /etc/resolv.conf is a plain file, "
        "else none)",
        HOST,
        metavar="resolvconf|resolved|file:PATH|none",
        example="resolvconf",
        check=_dns,
    ),
    Key(
        "state_dir",
        Text(),
        str(DEFAULT_STATE_DIR),
        "where what was configured is recorded ({default})",
        HOST,
    ),
    Key(
        "up_script",
        Text(),
        None,
        "run when the link is up",
        HOST,
        metavar="PROGRAM",
        example="/etc/pppbridge/up",
    ),
    Key(
        "down_script",
        Text(),
        None,
        "run when the link went down",
        HOST,
        metavar="PROGRAM",
        example="/etc/pppbridge/down",
    ),
    Key(
        "netns",
        Text("a network namespace: a name (ip netns) or a path such as /proc/PID/ns/net"),
        None,
        "put the TUN, its addresses, routes and DNS in this network namespace",
        HOST,
        metavar="NAME|PATH",
        example="container1",
    ),
    Key(
        "route_from",
        Prefixes(),
        [],
        "send traffic from PREFIX (containers) through the link by policy routing (repeatable)",
        HOST,
        metavar="PREFIX",
    ),
    Key(
        "route_table",
        Number(1, 0xFFFFFFFF, whole=True),
        700,
        "the routing table for --route-from ({default})",
        HOST,
        metavar="N",
    ),
    Key(
        "masquerade",
        Flag(),
        False,
        "source NAT (nftables) for traffic forwarded out through the link",
        HOST,
    ),
    Key(
        "echo_interval",
        Number(0, 3600),
        20,
        "LCP echo on an idle link every SECONDS ({default}; 0: off)",
        LINK,
        metavar="SECONDS",
    ),
    Key(
        "echo_failures",
        Number(1, 100, whole=True),
        3,
        "unanswered echoes = dead link ({default})",
        LINK,
        metavar="N",
    ),
    Key(
        "holdoff",
        Number(0, 3600),
        2,
        "wait before the first redial ({default})",
        LINK,
        metavar="SECONDS",
    ),
    Key(
        "maxfail",
        Number(0, 1_000_000, whole=True),
        10,
        "give up after N failures in a row ({default}; 0: never)",
        LINK,
        metavar="N",
    ),
    Key(
        "sim_profile",
        Choice(tuple(sorted(SIMULATED_PROFILES))),
        "generic",
        "the modem the simulator plays ({default})",
        SIMULATOR,
    ),
    Key("sim_messy", Flag(), False, "the simulator behaves like messy field logs", SIMULATOR),
    Key(
        "sim_reject_ipv6cp",
        Flag(),
        False,
        "the simulator's PPP carries no IPv6 (IPV6CP Protocol-Rejected, as many NB-IoT modems)",
        SIMULATOR,
    ),
    Key(
        "sim_ipv6_only",
        Flag(),
        False,
        "the simulated network grants IPv6 only (an IPv6-only NB-IoT network)",
        SIMULATOR,
    ),
    Key(
        "sim_at_line_limit",
        Number(8, 65536, whole=True),
        None,
        "the simulated modem keeps N characters of a command line (Pycom firmware: 124)",
        SIMULATOR,
        metavar="N",
        example=124,
    ),
    Key(
        "metrics",
        Text(),
        None,
        "write the counters to FILE in Prometheus text format (node_exporter's textfile collector)",
        OUTPUT,
        metavar="FILE",
        example="/var/lib/node_exporter/textfile_collector/pppbridge.prom",
    ),
    Key(
        "metrics_interval",
        Number(1, 3600),
        15,
        "rewrite the metrics file every SECONDS ({default})",
        OUTPUT,
        metavar="SECONDS",
    ),
    Key(
        "pcap",
        Text(),
        None,
        "write the PPP frames both ways to FILE for Wireshark, rotated by size",
        OUTPUT,
        metavar="FILE",
        example="/var/log/pppbridge/ppp.pcap",
    ),
    Key(
        "pcap_size",
        Number(1, 100_000, whole=True),
        10,
        "rotate the capture after MB megabytes ({default}): FILE and 4 older (FILE.1 to FILE.4)",
        OUTPUT,
        metavar="MB",
    ),
    Key(
        "transcript",
        Text(),
        None,
        "append the AT dialogue, with times, to FILE (secrets masked)",
        OUTPUT,
        metavar="FILE",
        example="/var/log/pppbridge/at.log",
    ),
    Key(
        "verbose",
        Count(0, 3, whole=True),
        0,
        "-v: the AT dialogue and host changes; -vv: PPP negotiation too (pppd's style); "
        "-vvv: LCP echoes too (in the file: verbose = 1, 2, 3)",
        OUTPUT,
        switches=("-v", "--verbose"),
    ),
)
"""Every setting of ``pppbridge run``, in the order ``--help`` and the example list them."""
KEY = {key.name: key for key in KEYS}


# --- a value given, and what it becomes ---------------------------------------------------


@dataclass(frozen=True)
class Given:
    """A key's value as it was given, and where it came from."""

    key: Key
    value: Any = field(repr=False)
    """As given: a switch's word, the file's typed value, a secret's text."""
    where: str | None = None
    """Where a value from a file was written, shown before a refusal (``FILE: key
    "metric"``); None for a switch, the environment or a default, whose refusals are the
    checks' own messages, naming the switch."""

    @contextmanager
    def checked(self, item: Any) -> Iterator[None]:
        """A refusal of ``item`` (the value, or one item of a list) inside becomes one
        ``UsageError`` line that says where the value came from."""
        try:
            yield
        except (UsageError, HostSetupError) as exc:
            if self.where is None:
                raise UsageError(str(exc)) from None
            allowed = self.key.kind.allowed
            if allowed is None:  # the check's message names the value (never a secret's)
                raise UsageError(f"{self.where}: {exc}") from None
            raise UsageError(
                f"{self.where}: {toml_value(item)} is not allowed: {allowed}"
            ) from None

    def wrong_type(self) -> UsageError:
        """The refusal of a value from a file that is not of the key's kind."""
        shown = _type_of(self.value) if self.key.secret else toml_value(self.value)
        return UsageError(f"{self.where}: {shown} is not allowed: {self.key.kind.wanted}")


def toml_value(value: Any) -> str:
    """``value`` as TOML writes it, on one line: "internet", 700, true, ["a", "b"]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # its escapes are TOML's; no line break stays raw
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    return str(value)  # numbers (nan, inf as TOML writes them), dates


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _type_of(value: Any) -> str:
    """What kind of TOML value ``value`` is, for a secret's that must not be shown."""
    kinds = ((bool, "true or false"), (int, "a whole number"), (float, "a number"))
    kinds += ((str, "text"), (list, "a list"), (dict, "a table"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "a date or time")


def converted(given: Given) -> Any:
    """The value the settings hold, through the key's check; ``UsageError`` otherwise."""
    key = given.key
    convert = key.check or key.kind.convert
    if isinstance(key.kind, Prefixes):
        items = []
        for item in given.value:
            with given.checked(item):
                items.append(convert(item, key.switch))
        return tuple(items)
    with given.checked(given.value):
        return convert(given.value, key.switch)
