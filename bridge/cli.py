"""The ``pppbridge`` command line.

Parses arguments and dispatches to a command. Bad arguments end in the command's own
usage message and exit status 2; every other ending is one line on standard error and a
documented exit status (``bridge.entry``), never a traceback. ``run`` is the bridge
(``bridge.run``); ``selftest`` checks it against the built-in simulator in a network
namespace of its own; ``simulate`` runs the modem simulator; ``tun-setup`` prepares a
persistent TUN for a user.
"""

from __future__ import annotations

# First: main() installs the stop handlers, and until then a Ctrl-C is a traceback.
from .entry import (  # isort: skip
    EXIT_STATUS_HELP,
    exit_status,
    install_stop_signals,
    settle_standard_output,
)

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__

COMMANDS = {
    "selftest": "check the bridge against the built-in simulator, with real traffic",
    "run": "bring the link up through a modem and route this host over it",
    "config": "check a configuration file of run, or show one with every key",
    "simulate": "run the built-in modem simulator on a pseudo-terminal",
    "tun-setup": "make a persistent TUN a user owns, so the bridge can run as that user",
    "status": "show a running bridge: phase, modem, registration, signal, addresses, counters",
    "info": "show the modem's identity, SIM, registration and signal, without dialling",
    "at": "send one AT command to the modem (or through a running bridge)",
    "probe": "try IPv4 and IPv6 over PPP and IPv6 UDP over the modem's AT sockets, with timings",
}
"""Subcommand name -> one-line help."""
STOPPED_IS_DONE = {"simulate"}
"""Commands that run until stopped: a stop signal is their normal end (status 0)."""


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an unknown switch is reported with this command's usage.
    (argparse hands a subparser's leftovers to the top-level parser, whose usage does
    not show the command's switches.)"""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pppbridge",
        description="Put this host on the network through a cellular modem, "
        "running PPP entirely in userspace.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser
    )
    for name, help_text in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_STATUS_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == "simulate":
            from .simulator.arguments import CONTROL_EPILOG, DESCRIPTION, add_arguments

            add_arguments(sub)
            sub.description = DESCRIPTION
            sub.epilog = f"{CONTROL_EPILOG}\n\n{EXIT_STATUS_HELP}"
        elif name == "run":
            from .run_settings import add_arguments as add_run_arguments

            add_run_arguments(sub)
        elif name == "probe":
            from .probe_cli import add_arguments as add_probe_arguments

            add_probe_arguments(sub)
        elif name == "tun-setup":
            _tun_setup_arguments(sub)
        elif name in ("status", "info", "at"):
            from .client_exit import EXIT_HELP
            from .observe_cli import commands as observe_commands

            observe_commands()[name].add_arguments(sub)
            sub.epilog = EXIT_HELP
        elif name == "config":
            _config_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``pppbridge`` program; its exit status."""
    install_stop_signals()
    words = sys.argv[1:] if argv is None else list(argv)
    # The command's name before argparse has run: a signal may come while it does.
    program = " ".join(["pppbridge", *[word for word in words if word in COMMANDS][:1]])
    try:
        if words[:1] in (["run"], ["probe"]):
            _run_again_without_secrets_in_the_command_line(words)
        args = build_parser().parse_args(words)
        return _dispatch(args)
    except SystemExit:
        raise  # argparse's usage errors and --help: already said
    except BaseException as exc:  # one line for anything else, signals included
        done = 0 if program.removeprefix("pppbridge ") in STOPPED_IS_DONE else None
        return exit_status(program, exc, stopped_status=done)
    finally:
        settle_standard_output()


def _run_again_without_secrets_in_the_command_line(words: list[str]) -> None:
    """``pppbridge run --pin 1234``: exec ourselves with the PIN and password in the
    environment instead (``run_settings.secrets_moved_to_environment``)."""
    from .run_settings import secrets_moved_to_environment

    moved = secrets_moved_to_environment(words)
    if moved is None:
        return
    kept, environment = moved
    # -P: not the current directory first on sys.path (a "bridge" there is not ours).
    argv = [sys.executable, "-P", "-m", "bridge", *kept]
    os.execve(sys.executable, argv, {**os.environ, **environment})


TUN_SETUP_EPILOG = """\
Once, as root: pppbridge tun-setup --user U (the same as: ip tuntap add dev pppbridge0
mode tun user U). Then U may run the bridge on that interface without root for the TUN;
addresses and routes still need CAP_NET_ADMIN (e.g. the systemd unit's
AmbientCapabilities=CAP_NET_ADMIN). --remove takes the interface away again."""


def _tun_setup_arguments(parser: argparse.ArgumentParser) -> None:
    from .tun import DEFAULT_NAME

    parser.epilog = f"{TUN_SETUP_EPILOG}\n\n{EXIT_STATUS_HELP}"
    parser.add_argument("--user", help="the user who will own the TUN (name or uid)")
    parser.add_argument("--group", help="a group whose members may use it too")
    parser.add_argument("--interface", default=DEFAULT_NAME, help=f"its name ({DEFAULT_NAME})")
    parser.add_argument("--remove", action="store_true", help="remove the persistent TUN")


def _tun_setup(args: Any) -> int:
    from netstack.errors import UsageError

    from .errors import HostSetupError
    from .tun import tun_remove, tun_setup

    try:
        if args.remove:
            tun_remove(args.interface)
            print(f"{args.interface}: no longer persistent (gone once nobody uses it)")
            return 0
        if not args.user:
            raise UsageError("tun-setup needs --user (or --remove)")
        uid = tun_setup(args.interface, args.user, args.group)
    except HostSetupError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"{args.interface}: a persistent TUN owned by uid {uid}; run the bridge as that "
        f"user with --interface {args.interface}"
    )
    return 0


CONFIG_EPILOG = """\
pppbridge run --config FILE takes its settings from FILE (TOML); every switch of run is a
key (--echo-interval: echo_interval) and wins over the file. --check reads FILE, and the
pin_file or password_file it names, and makes every check run makes of the values before
it starts; what only running can tell (the modem device, the interface, whether the files
to write can be written) it leaves to run: it touches nothing."""


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = f"{CONFIG_EPILOG}\n\n{EXIT_STATUS_HELP}"
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--check", metavar="FILE", help="check FILE: one line, FILE: ok or what is wrong"
    )
    what.add_argument(
        "--example",
        action="store_true",
        help="print a commented example with every key, its default and what it does",
    )


def _config(args: Any) -> int:
    from .config import check, example
    from .entry import LineWriter

    writer = LineWriter(sys.stdout, "standard output")
    writer.line(example().rstrip("\n") if args.example else check(args.check))
    return 0


def _dispatch(args: Any) -> int:
    if args.command == "selftest":
        from .selftest import main as selftest

        return selftest()
    if args.command == "simulate":
        from .simulator.arguments import simulate

        return simulate(args)
    if args.command == "tun-setup":
        return _tun_setup(args)
    if args.command in ("status", "info", "at"):
        from .observe_cli import commands

        return commands()[args.command].main(args)
    if args.command == "config":
        return _config(args)
    if args.command == "probe":
        from .probe_cli import main as probe

        return probe(args)
    from .run import main as run
    from .run_settings import settings_from

    return run(settings_from(args))
