"""The ``pppbridge`` command line.

Parses arguments and dispatches to a command. Bad arguments end in argparse's usage
message and exit status 2, never in a traceback. ``selftest`` runs the whole PPP stack
over a pseudo-terminal; ``simulate`` runs the modem simulator; ``run`` is a reserved name
that does not work yet: it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__

EXIT_NOT_IMPLEMENTED = 2

COMMANDS = {
    "selftest": "run our AT and PPP clients against the built-in modem simulator, end to end",
    "run": "bring the link up through a modem and route this host over it",
    "simulate": "run the built-in modem simulator on a pseudo-terminal",
}
"""Subcommand name -> one-line help."""
IMPLEMENTED = {"selftest", "simulate"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pppbridge",
        description="Put this host on the network through a cellular modem, "
        "running PPP entirely in userspace.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        shown = help_text if name in IMPLEMENTED else f"{help_text} (not implemented yet)"
        sub = commands.add_parser(name, help=shown, description=help_text)
        if name == "simulate":
            from .simulator.arguments import add_arguments

            add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "selftest":
        from .selftest import main as selftest

        return selftest()
    if args.command == "simulate":
        from .simulator.arguments import simulate

        return simulate(args)
    print(f"pppbridge {args.command}: not implemented yet", file=sys.stderr)
    return EXIT_NOT_IMPLEMENTED
