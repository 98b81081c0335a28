"""The command-line switches of ``pppbridge simulate`` and their translation to settings."""

from __future__ import annotations

import argparse
import contextlib
import sys

from netstack.errors import UsageError
from netstack.secret import Secret

from ..entry import EXIT_OK, os_error_text
from .control import COMMANDS_HELP
from .pcap import PcapWriter
from .profiles import PROFILES
from .settings import BAUD_RATES, DialResult, NetworkAuth, Registration, SimSettings, number
from .transcript import Transcript

DESCRIPTION = """\
Run the built-in modem simulator. It prints the terminal to open on a line of its own
(device: /dev/pts/N), then the transcript of what goes over it. Each vendor's profile
answers its AT socket and ping commands too, with the simulated hosts behind them.
The modem wants CR at the end of a command line; try it with:
socat -,rawer,escape=0x1d /dev/pts/N (Ctrl-] quits).
Ctrl-C, SIGTERM or SIGHUP stop it and remove what it made."""
CONTROL_EPILOG = (
    "control commands (with --control PATH: one a line, one JSON reply a line; e.g.\n"
    "  echo status | socat - UNIX-CONNECT:PATH):\n" + COMMANDS_HELP
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    line = parser.add_argument_group("the modem")
    line.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="generic",
        help="the vendor's modem to play: its replies, URCs and PPP quirk (default generic)",
    )
    line.add_argument(
        "--link",
        metavar="PATH",
        help="serve on this terminal (a pty or serial device, e.g. the pppd VM's pty); "
        "if PATH does not exist, make a new pty and a symlink to it at PATH (removed on exit)",
    )
    line.add_argument(
        "--at-port",
        nargs="?",
        const="",
        metavar="PATH",
        help="also serve a second terminal that takes only AT commands, for the same modem "
        "(SIM, registration, contexts, sockets), as a USB modem's second ttyUSB: AT and "
        "socket commands there while the first terminal carries PPP; URCs go there. Its "
        "path is printed on a line 'at-port: PATH'. Without PATH a new pty; PATH as for --link",
    )
    line.add_argument(
        "--transcript",
        metavar="FILE",
        default="-",
        help="append the transcript of the AT dialogue and PPP events to FILE, after a "
        "header line per run (default: standard output)",
    )
    line.add_argument("--quiet", action="store_true", help="write no transcript at all")
    line.add_argument(
        "--pcap",
        metavar="FILE",
        help="write the PPP frames to a new pcap file for Wireshark (never overwritten)",
    )
    line.add_argument(
        "--control",
        metavar="PATH",
        help="make a Unix socket at PATH that takes the commands listed below while running",
    )
    line.add_argument(
        "--no-namespace",
        action="store_true",
        help="do not make a network namespace: answer echo and DNS in-process",
    )
    line.add_argument(
        "--seed", type=int, metavar="N", help="seed for the fault dice (reproducible runs)"
    )

    sim = parser.add_argument_group("SIM and network")
    sim.add_argument(
        "--pin", metavar="PIN", help="the SIM asks for this PIN (3 wrong tries block it)"
    )
    sim.add_argument(
        "--puk",
        metavar="PUK",
        default="12345678",
        help="the code that unblocks the SIM after 3 wrong PINs (default 12345678)",
    )
    sim.add_argument(
        "--registration",
        choices=[r.name.lower() for r in Registration],
        default="home",
        help="what the network answers when the modem attaches; searching: it never finds one "
        "(default home)",
    )
    sim.add_argument(
        "--registration-delay",
        default="0",
        metavar="SECONDS",
        help="seconds the modem searches (+CEREG stat 2) before the network answers (default 0)",
    )
    sim.add_argument(
        "--attached",
        action="store_true",
        help="attached and not connected: context 1 comes up as soon as the modem is "
        "registered (LTE's default bearer), so +CGPADDR answers and the modem's own "
        "sockets and ping work with no dial and no +CGACT",
    )
    sim.add_argument(
        "--ipv6-only",
        action="store_true",
        help="an IPv6-only network: an IPV4V6 context gets an IPv6 address alone, an IP "
        "context is refused (+CGACT gets --refuse-code, dialling NO CARRIER)",
    )
    sim.add_argument(
        "--pdp-refuse",
        action="store_true",
        help="refuse PDP activation (+CGACT gets +CME ERROR, dialling NO CARRIER)",
    )
    sim.add_argument(
        "--refuse-code",
        type=int,
        default=133,
        metavar="N",
        help="the +CME ERROR code of a refused activation (default 133)",
    )
    sim.add_argument(
        "--dial-result",
        choices=[d.value for d in DialResult],
        default="connect",
        help="what the modem answers to ATD and +CGDATA (default connect)",
    )
    sim.add_argument(
        "--auth",
        choices=[a.value for a in NetworkAuth],
        default="none",
        help="the PPP authentication the network asks of the client when the PDP context "
        "sets none (+CGAUTH or the vendor's command), with --user and --password (default none)",
    )
    sim.add_argument(
        "--user",
        default="test",
        help="the user name the network accepts with --auth (default test)",
    )
    sim.add_argument(
        "--password",
        default="secret",
        help="the password the network accepts with --auth (default secret)",
    )

    ppp = parser.add_argument_group("PPP and line faults")
    ppp.add_argument(
        "--reject-ipv6cp",
        action="store_true",
        help="Protocol-Reject IPV6CP (PPP without IPv6, as on many NB-IoT modems)",
    )
    for name, what in (
        ("drop", "drop the carrier (NO CARRIER, no LCP Terminate)"),
        ("terminate", "send LCP Terminate-Request"),
        ("silent", "go silent (echoes unanswered)"),
        ("renegotiate", "renegotiate LCP"),
    ):
        ppp.add_argument(
            f"--{name}-after", metavar="SECONDS", help=f"{what} this long after CONNECT"
        )
    ppp.add_argument(
        "--corrupt",
        default="0",
        metavar="RATE",
        help="fraction (0 to 1) of the PPP frames sent with a corrupted byte, so the client "
        "sees a bad FCS (default 0)",
    )
    ppp.add_argument(
        "--baud",
        default="unlimited",
        metavar="RATE",
        help=f"line rate: {', '.join(map(str, BAUD_RATES))} or unlimited (the default)",
    )
    ppp.add_argument(
        "--latency",
        default="0",
        metavar="SECONDS",
        help="seconds added to every packet in each direction between the link and the "
        "network (NB-IoT: seconds; default 0)",
    )
    ppp.add_argument(
        "--at-line-limit",
        metavar="N",
        help="keep only the first N characters of a command line, the rest is lost, as "
        "Pycom GPy/FiPy firmware cuts its commands at 124 (a payload after a send "
        "command's prompt is not a command line: it is taken whole, in any pieces)",
    )
    ppp.add_argument(
        "--messy",
        action="store_true",
        help="behave like real devices' logs: replies cut anywhere, URCs inside responses, "
        "vendor address notations",
    )
    ppp.add_argument(
        "--no-quirks",
        action="store_true",
        help="do not play the profile's known PPP quirk (see bridge/simulator/profiles.py)",
    )


def settings_from(args: argparse.Namespace) -> SimSettings:
    """Raises UsageError with a message for the user."""
    return SimSettings(
        profile=args.profile,
        pin=args.pin,
        puk=args.puk,
        registration=Registration[args.registration.upper()],
        registration_delay=number(args.registration_delay, "--registration-delay"),
        pdp_refuse=args.pdp_refuse,
        refuse_code=args.refuse_code,
        dial_result=DialResult(args.dial_result),
        auth=NetworkAuth(args.auth),
        user=args.user,
        password=Secret(args.password),
        reject_ipv6cp=args.reject_ipv6cp,
        drop_after=_optional_number(args.drop_after, "--drop-after"),
        terminate_after=_optional_number(args.terminate_after, "--terminate-after"),
        silent_after=_optional_number(args.silent_after, "--silent-after"),
        renegotiate_after=_optional_number(args.renegotiate_after, "--renegotiate-after"),
        corrupt_rate=number(args.corrupt, "--corrupt", high=1),
        baud=_baud(args.baud),
        latency=number(args.latency, "--latency"),
        messy=args.messy,
        quirks=not args.no_quirks,
        seed=args.seed,
        ipv6_only=args.ipv6_only,
        attached=args.attached,
        at_line_limit=_line_limit(args.at_line_limit),
    )


def _optional_number(text: str | None, name: str) -> float | None:
    return None if text is None else number(text, name)


def _line_limit(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--at-line-limit must be a number of characters, not {text!r}") from None


def _baud(text: str) -> int | None:
    if text == "unlimited":
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--baud must be a number or unlimited, not {text!r}") from None


def simulate(args: argparse.Namespace) -> int:
    """``pppbridge simulate``: serve until a stop signal. Raises UsageError (a switch or a
    path that cannot be used), ``Failed`` or ``StopSignal`` (``bridge.entry``)."""
    from .shell import run_simulator

    settings = settings_from(args)
    with contextlib.ExitStack() as opened:
        # Files are opened before the event loop runs: a FIFO nobody reads blocks here,
        # where a stop signal still ends it.
        transcript = None if args.quiet else opened.enter_context(open_transcript(args, settings))
        pcap = opened.enter_context(open_pcap(args.pcap)) if args.pcap else None
        run_simulator(
            settings,
            link=args.link,
            transcript=transcript,
            pcap=pcap,
            control=args.control,
            at_port=args.at_port,
            namespace=not args.no_namespace,
        )
    return EXIT_OK


def open_transcript(args: argparse.Namespace, settings: SimSettings) -> Transcript:
    if args.transcript == "-":
        return Transcript(sys.stdout, "standard output", settings)
    return Transcript.open(args.transcript, settings)


def open_pcap(path: str) -> PcapWriter:
    try:
        return PcapWriter(path)
    except FileExistsError:
        raise UsageError(f"--pcap {path}: exists; a capture never overwrites a file") from None
    except OSError as exc:
        raise UsageError(f"--pcap {path}: {os_error_text(exc)}") from None
