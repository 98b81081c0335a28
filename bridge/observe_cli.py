"""``status``, ``info`` and ``at``: the commands that look at a modem or a running bridge,
as one table for ``bridge.cli`` to take in, and as a program of their own until it does
(``python3 -m bridge.observe_cli status``; the tests run them so).

Each command has a one-line help, ``add_arguments(parser)`` and ``main(args) -> int``
(its exit status, ``bridge.client_exit``); each says its own failures in one line.
"""

from __future__ import annotations

# First, as in bridge.cli: until the stop handlers are in place a Ctrl-C is a traceback.
from .entry import (  # isort: skip
    exit_status,
    install_stop_signals,
    settle_standard_output,
)

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    main: Callable[[argparse.Namespace], int]


def commands() -> dict[str, Command]:
    from . import at_command, modem_info, status_command

    return {
        "status": Command(
            status_command.DESCRIPTION, status_command.add_arguments, status_command.main_status
        ),
        "info": Command(modem_info.DESCRIPTION, modem_info.add_arguments, modem_info.main_info),
        "at": Command(at_command.DESCRIPTION, at_command.add_arguments, at_command.main_at),
    }


def build_parser() -> argparse.ArgumentParser:
    from .client_exit import EXIT_HELP

    parser = argparse.ArgumentParser(prog="pppbridge")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in commands().items():
        one = sub.add_parser(
            name,
            help=command.help,
            description=command.help,
            epilog=EXIT_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(one)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_stop_signals()
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(words)
        return commands()[args.command].main(args)
    except SystemExit:
        raise
    except BaseException as exc:
        program = " ".join(["pppbridge", *words[:1]])
        return exit_status(program, exc, stopped_status=None)
    finally:
        settle_standard_output()


if __name__ == "__main__":
    sys.exit(main())
