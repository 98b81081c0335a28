"""The ``pppbridge`` command line.

Parses arguments and dispatches to a command. Bad arguments end in argparse's usage
message and exit status 2, never in a traceback. ``run`` and ``simulate`` are reserved
names that do not work yet: they say so and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__

EXIT_NOT_IMPLEMENTED = 2

COMMANDS = {
    "run": "bring the link up through a modem and route this host over it",
    "simulate": "run the built-in modem simulator on a pseudo-terminal",
}
"""Subcommand name -> one-line help."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pppbridge",
        description="Put this host on the network through a cellular modem, "
        "running PPP entirely in userspace.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        commands.add_parser(name, help=f"{help_text} (not implemented yet)", description=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"pppbridge {args.command}: not implemented yet", file=sys.stderr)
    return EXIT_NOT_IMPLEMENTED
