"""``pppbridge probe``'s command line (``bridge.probe`` does the work, loaded only when
the command runs: building the parser stays light for every command)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from .entry import LineWriter

if TYPE_CHECKING:
    from .probe import PathResult, Targets
    from .run_settings import RunSettings

ECHO_PORT = 7
"""RFC 862 UDP echo."""

DEFAULT_COUNT = 5
PROBE_GROUPS = ("the modem", "the built-in simulator (without --device)")
"""The groups of ``run``'s switches that probe takes too (it configures nothing here)."""


PROBE_DESCRIPTION = """\
Try each path through the modem: IPv4 over PPP, IPv6 over PPP (IPV6CP and the Router
Advertisement's prefix), and IPv6 UDP over the modem's own AT sockets; each with UDP
echoes (RFC 862) to a target. Show which path works, with timings (attach, connect,
first reply, median round trip), or why not. Nothing on this host is configured. Without
--device it runs against the built-in simulator, and its echo host is the target."""
PROBE_EPILOG = """\
exit status:
  0  at least one path works
  1  no path works, or an internal error (please report it)
  2  a user mistake: a bad switch or value; a missing, busy or forbidden device
  128+N  stopped by signal N (130: Ctrl-C, 143: SIGTERM, 129: SIGHUP)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .run_settings import add_arguments as add_run_arguments

    add_run_arguments(parser, groups=PROBE_GROUPS)
    parser.description = PROBE_DESCRIPTION
    parser.epilog = PROBE_EPILOG
    own = parser.add_argument_group("the probe")
    own.add_argument("--target", metavar="HOST", help="the echo host: an address or a name")
    own.add_argument("--port", type=int, default=ECHO_PORT, help=f"its UDP echo port ({ECHO_PORT})")
    own.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help=f"echoes per path ({DEFAULT_COUNT})"
    )
    own.add_argument("--json", action="store_true", help="print the rows as JSON")


def main(args: argparse.Namespace) -> int:
    """``pppbridge probe``: 0 when at least one path works, 1 when none does."""
    from netstack.errors import UsageError

    from .probe import as_json, table, targets_from
    from .run_settings import settings_from

    if not 1 <= args.count <= 1000:
        raise UsageError("--count must be from 1 to 1000")
    if not 1 <= args.port <= 65535:
        raise UsageError("--port must be from 1 to 65535")
    settings = settings_from(args)
    try:
        targets = targets_from(
            args.target,
            settings.simulator is not None,
            (settings.try_target or "", settings.try_target_ipv6 or ""),
            args.port,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from .errors import DeviceError

    try:
        rows = asyncio.run(_main(settings, targets, args.count, quiet=args.json))
    except DeviceError as exc:  # the user's device: missing, busy, not a terminal
        raise UsageError(str(exc)) from None
    out = LineWriter(sys.stdout, "standard output")
    for line in [as_json(rows)] if args.json else table(rows):
        out.line(line)
    return 0 if any(row.works for row in rows) else 1


async def _main(
    settings: RunSettings, targets: Targets, count: int, *, quiet: bool
) -> list[PathResult]:
    from .probe import probe
    from .run import start_simulator

    err = LineWriter(sys.stderr, "standard error")

    def say(text: str) -> None:
        if not quiet:
            err.line(f"pppbridge probe: {text}")

    simulator = None
    try:
        if settings.simulator is not None:
            simulator, settings = await start_simulator(settings, say)
        return await probe(settings, targets, count, say)
    finally:
        if simulator is not None:
            await simulator.close()
