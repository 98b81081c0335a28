"""UDP request/response through the modem's AT sockets and through PPP, against the
built-in simulator: rate, round trip, and for the AT path the serial line time of the
bytes each exchange puts on the line.

Run from the repository root: ``python3 scripts/bench_atsocket.py`` (about a minute;
``--count N`` exchanges per measurement, ``--profile`` the vendor, ``--size`` the
payload). As root the simulator's network runs in a namespace of its own; without root
its hosts answer in-process. Nothing leaves the machine; nothing on this host changes
(the paths run against a packet pipe, ``bridge.packet_pair``, as ``pppbridge probe``).

For each line rate (115200 baud, then unthrottled: the simulator paces both directions
of its side at 10 bits a byte, 8N1) and each path, one after the other on one modem:

- PPP: dial, IPCP, then ``count`` UDP echoes (RFC 862) of ``size`` octets from IPCP's
  address, one at a time;
- AT sockets: the call hung up, the context activated without a dial, the same echoes
  from the context's IPv6 address through the vendor's socket commands (the first one,
  which opens the socket, is left out of the figures);
- one line shared (no second AT port): a PPP call whose line the AT sockets borrow
  between ``+++`` and ``ATO`` (the escape's guard time set to 0.1 s), the same IPv6
  echoes back to back: a loan of the line carries those that come within a second, then
  PPP has it back for half a second; with the number of suspensions and what each cost
  (PPP off the line), against the Pycom firmware's 2.5 s per AT command during PPP.

Printed: exchanges per second, median and 90th percentile round trip; for the AT path
the octets each exchange writes and reads on the AT line (commands, prompts, payloads
in hex, results, ring URCs, reads) and their line time at the baud rate (the physical
limit: every octet is 10 bits, and an exchange is a chain of command and answer, each
waiting for the last; plus the silence the vendor's protocol demands, u-blox's 50 ms
between its ``@`` prompt and the payload), with the ratio of the median round trip to
it. Target: the AT path within 1.3x of its line time at 115200 baud (``met``/``MISSED``;
exit 1 when missed or a measurement failed).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.cli import build_parser  # noqa: E402
from bridge.line_sharing import LINGER, MAX_LOAN, MIN_PPP  # noqa: E402
from bridge.probe import (  # noqa: E402
    PathFailed,
    at_socket_call,
    echo_round_trips,
    ppp_call,
    shared_line_call,
)
from bridge.run import start_simulator  # noqa: E402
from bridge.run_settings import RunSettings, settings_from  # noqa: E402
from bridge.serial_port import SerialPort  # noqa: E402
from bridge.waiting import first_of  # noqa: E402

ECHO_IPV4 = IPv4Address("198.51.100.1")
ECHO_IPV6 = IPv6Address("2001:db8:1::1")
ECHO_PORT = 7
TARGET_RATIO = 1.3
FLOW = 50007
"""The host's UDP port of every exchange: one flow, one modem socket, opened once."""
BAUD = 115200


@dataclass
class Figures:
    path: str
    baud: int | None
    rtts: list[float]
    lost: int
    line_octets: float | None = None
    """Octets on the AT line per exchange, both ways."""
    mandated_wait: float = 0.0
    """Silence the vendor's protocol demands per exchange (u-blox: 50 ms after ``@``)."""
    suspension: float | None = None
    """The mean time PPP was off the line a suspension (one line shared)."""
    suspensions: int = 0
    alone: tuple[float, float] | None = None
    """One exchange after the line went back to PPP: its round trip, and the time PPP
    was off the line for it (the cost of one AT command during PPP)."""

    @property
    def median(self) -> float:
        return statistics.median(self.rtts)

    @property
    def p90(self) -> float:
        ordered = sorted(self.rtts)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]

    @property
    def line_time(self) -> float | None:
        """The exchange's physical limit: its octets at 10 bits each, and the waits the
        vendor's protocol demands."""
        if self.line_octets is None or self.baud is None:
            return None
        return self.line_octets * 10 / self.baud + self.mandated_wait


async def measure(settings: RunSettings, count: int, size: int) -> list[Figures]:
    # One port: the modem's URCs come on the line the sockets use (a second port gets
    # them all), and the shared-line measurement needs just one.
    simulator, settings = await start_simulator(settings, lambda text: None, second_port=False)
    baud = settings.simulator.baud if settings.simulator else None
    try:
        port = SerialPort.open(settings.serial)
        try:
            return [
                await _ppp(port, settings, count, size, baud),
                await _at_sockets(port, settings, count, size, baud),
                await _shared(port, settings, count, size, baud),
            ]
        finally:
            port.close()
    finally:
        await simulator.close()


async def _ppp(
    port: SerialPort, settings: RunSettings, count: int, size: int, baud: int | None
) -> Figures:
    async with ppp_call(port, settings) as call:
        await first_of(call.events.ipv4.wait(), timeout=30)
        info = call.events.info
        if info is None or info.local_ipv4 is None:
            raise PathFailed("IPCP gave no address")
        rtts = await echo_round_trips(call.pair, info.local_ipv4, ECHO_IPV4, ECHO_PORT, count, size)
    return _figures("PPP (IPv4 UDP)", baud, rtts)


async def _at_sockets(
    port: SerialPort, settings: RunSettings, count: int, size: int, baud: int | None
) -> Figures:
    async with at_socket_call(port, settings) as call:
        pair, address, plane = call.pair, call.address, call.plane
        await echo_round_trips(pair, address, ECHO_IPV6, ECHO_PORT, 1, size, FLOW)  # opens
        written, read = plane.bytes_written, plane.bytes_read
        rtts = await echo_round_trips(pair, address, ECHO_IPV6, ECHO_PORT, count, size, FLOW)
        octets = (plane.bytes_written - written + plane.bytes_read - read) / count
    figures = _figures("AT sockets (IPv6 UDP)", baud, rtts)
    figures.line_octets = octets
    figures.mandated_wait = plane.bridge.vendor.prompt_delay
    return figures


async def _shared(
    port: SerialPort, settings: RunSettings, count: int, size: int, baud: int | None
) -> Figures:
    async with shared_line_call(port, settings) as call:
        pair, address, sharing = call.ppp.pair, call.address, call.sharing
        await echo_round_trips(pair, address, ECHO_IPV6, ECHO_PORT, 1, size, FLOW)  # opens
        before = (sharing.suspensions, sharing.suspended_seconds)
        rtts = await echo_round_trips(pair, address, ECHO_IPV6, ECHO_PORT, count, size, FLOW)
        suspensions = sharing.suspensions - before[0]
        seconds = sharing.suspended_seconds - before[1]
        # The line back with PPP for a while (the loan over, PPP's share passed), then
        # one exchange alone: one suspension, all its cost.
        await asyncio.sleep(MAX_LOAN + MIN_PPP + LINGER)
        loans = sharing.suspensions
        alone = await echo_round_trips(pair, address, ECHO_IPV6, ECHO_PORT, 1, size, FLOW)
        for _ in range(100):  # until that loan is over and counted (10 s at most)
            if sharing.suspensions > loans:
                break
            await asyncio.sleep(0.1)
    figures = _figures("one line, +++/ATO", baud, rtts)
    figures.suspension = seconds / suspensions if suspensions else None
    figures.suspensions = suspensions
    if alone[0] is not None and sharing.suspensions > loans and sharing.last_suspension:
        figures.alone = (alone[0], sharing.last_suspension)
    return figures


def _figures(path: str, baud: int | None, rtts: list[float | None]) -> Figures:
    answered = [rtt for rtt in rtts if rtt is not None]
    if not answered:
        raise PathFailed(f"{path}: no echo came back")
    return Figures(path, baud, answered, len(rtts) - len(answered))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50, help="exchanges per measurement (50)")
    parser.add_argument("--size", type=int, default=64, help="UDP payload octets (64)")
    parser.add_argument(
        "--profile",
        default="sequans",
        choices=("sequans", "telit", "quectel", "ublox"),
        help="the vendor the simulator plays (sequans)",
    )
    args = parser.parse_args()
    base = settings_from(build_parser().parse_args(["probe", "--sim-profile", args.profile]))
    results: list[Figures] = []
    failed = False
    for baud in (BAUD, None):
        assert base.simulator is not None
        settings = replace(base, simulator=replace(base.simulator, baud=baud))
        try:
            results += asyncio.run(measure(settings, args.count, args.size))
        except PathFailed as exc:
            print(f"measurement failed at {baud or 'unthrottled'}: {exc}")
            failed = True
    print(f"{args.profile}, {args.size}-octet UDP payloads, {args.count} exchanges each")
    print(
        f"{'path':<24} {'line':>11} {'rate/s':>8} {'median':>9} {'p90':>9} "
        f"{'octets':>7} {'line time':>10} {'ratio':>6}"
    )
    for figures in results:
        line = "unthrottled" if figures.baud is None else f"{figures.baud} Bd"
        octets = "-" if figures.line_octets is None else f"{figures.line_octets:.0f}"
        line_time = figures.line_time
        shown_time = "-" if line_time is None else f"{line_time * 1000:.1f} ms"
        ratio = "-" if line_time is None else f"{figures.median / line_time:.2f}"
        lost = f" ({figures.lost} lost)" if figures.lost else ""
        if figures.suspension is not None:
            lost += (
                f" {figures.suspensions} suspensions, PPP off the line "
                f"{figures.suspension * 1000:.0f} ms each"
            )
        print(
            f"{figures.path:<24} {line:>11} {1 / statistics.mean(figures.rtts):>8.1f} "
            f"{figures.median * 1000:>7.1f}ms {figures.p90 * 1000:>7.1f}ms {octets:>7} "
            f"{shown_time:>10} {ratio:>6}{lost}"
        )
    for figures in results:
        if figures.alone is not None:
            line = "unthrottled" if figures.baud is None else f"{figures.baud} baud"
            rtt, off = figures.alone
            print(
                f"one line at {line}: an exchange alone takes {rtt * 1000:.0f} ms, PPP off "
                f"the line {off * 1000:.0f} ms for it (Pycom firmware: about 2500 ms)"
            )
    at_line = [f for f in results if f.line_time is not None]
    for figures in at_line:
        assert figures.line_time is not None
        ratio = figures.median / figures.line_time
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"target: AT sockets within {TARGET_RATIO}x of the line time at {figures.baud} "
            f"baud: {ratio:.2f}x, {verdict}"
        )
        failed |= ratio > TARGET_RATIO
    return 1 if failed or not at_line else 0


if __name__ == "__main__":
    sys.exit(main())
