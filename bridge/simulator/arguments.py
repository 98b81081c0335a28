"""The command-line switches of ``pppbridge simulate`` and their translation to settings."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from netstack.errors import UsageError
from netstack.secret import Secret

from .profiles import PROFILES
from .settings import BAUD_RATES, DialResult, NetworkAuth, Registration, SimSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    line = parser.add_argument_group("the modem")
    line.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="generic",
        help="vendor profile (default: generic)",
    )
    line.add_argument(
        "--link",
        metavar="PATH",
        help="serve on this terminal (e.g. the pppd VM's pty); if PATH does not "
        "exist, make a new pty and a symlink to it at PATH",
    )
    line.add_argument(
        "--transcript",
        metavar="FILE",
        default="-",
        help="where the transcript of AT dialogue and PPP events goes (default: standard output)",
    )
    line.add_argument("--quiet", action="store_true", help="no transcript")
    line.add_argument("--pcap", metavar="FILE", help="write the PPP frames to a pcap file")
    line.add_argument(
        "--control", metavar="PATH", help="Unix socket taking fault commands while running"
    )
    line.add_argument(
        "--no-namespace",
        action="store_true",
        help="do not make a network namespace: answer echo and DNS in-process",
    )
    line.add_argument("--seed", type=int, help="seed for the fault dice (reproducible runs)")

    sim = parser.add_argument_group("SIM and network")
    sim.add_argument("--pin", help="the SIM asks for this PIN (3 wrong tries block it)")
    sim.add_argument("--puk", default="12345678", help="unblocks the SIM (default 12345678)")
    sim.add_argument(
        "--registration",
        choices=[r.name.lower() for r in Registration],
        default="home",
        help="what the network answers to attach (default home)",
    )
    sim.add_argument("--registration-delay", type=float, default=0.0, metavar="SECONDS")
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
        help="answer to ATD (default connect)",
    )
    sim.add_argument(
        "--auth",
        choices=[a.value for a in NetworkAuth],
        default="none",
        help="authentication the network asks when +CGAUTH set none",
    )
    sim.add_argument("--user", default="test", help="the user name it accepts (default test)")
    sim.add_argument(
        "--password", default="secret", help="the password it accepts (default secret)"
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
            f"--{name}-after", type=float, metavar="SECONDS", help=f"{what} this long after CONNECT"
        )
    ppp.add_argument(
        "--corrupt",
        type=float,
        default=0.0,
        metavar="RATE",
        help="fraction of frames sent with a corrupted byte (bad FCS)",
    )
    ppp.add_argument(
        "--baud",
        default="unlimited",
        help=f"line rate: {', '.join(map(str, BAUD_RATES))} or unlimited",
    )
    ppp.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="added to packets in each direction (NB-IoT: seconds)",
    )
    ppp.add_argument(
        "--messy",
        action="store_true",
        help="behave like real devices' logs: split replies, URCs mid-response...",
    )
    ppp.add_argument("--no-quirks", action="store_true", help="do not play the profile's PPP quirk")


def settings_from(args: argparse.Namespace) -> SimSettings:
    """Raises UsageError with a message for the user."""
    if args.baud == "unlimited":
        baud = None
    else:
        try:
            baud = int(args.baud)
        except ValueError:
            raise UsageError(f"--baud must be a number or unlimited, not {args.baud!r}") from None
    return SimSettings(
        profile=args.profile,
        pin=args.pin,
        puk=args.puk,
        registration=Registration[args.registration.upper()],
        registration_delay=args.registration_delay,
        pdp_refuse=args.pdp_refuse,
        refuse_code=args.refuse_code,
        dial_result=DialResult(args.dial_result),
        auth=NetworkAuth(args.auth),
        user=args.user,
        password=Secret(args.password),
        reject_ipv6cp=args.reject_ipv6cp,
        drop_after=args.drop_after,
        terminate_after=args.terminate_after,
        silent_after=args.silent_after,
        renegotiate_after=args.renegotiate_after,
        corrupt_rate=args.corrupt,
        baud=baud,
        latency=args.latency,
        messy=args.messy,
        quirks=not args.no_quirks,
        seed=args.seed,
    )


def simulate(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from .shell import run_simulator

    try:
        settings = settings_from(args)
    except UsageError as exc:
        print(f"pppbridge simulate: error: {exc}", file=sys.stderr)
        return 2
    transcript: TextIO | None = None
    options: dict[str, Any] = dict(
        link=args.link, pcap=args.pcap, control=args.control, namespace=not args.no_namespace
    )
    try:
        if not args.quiet:
            transcript = out if args.transcript == "-" else open(args.transcript, "a")  # noqa: SIM115
        return run_simulator(settings, out, transcript=transcript, **options)
    except UsageError as exc:
        print(f"pppbridge simulate: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pppbridge simulate: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 1
    finally:
        if transcript is not None and transcript is not out:
            transcript.close()
