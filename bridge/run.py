"""``pppbridge run``: the process around the ``Supervisor``.

Stop signals, here, are polite first: the first SIGTERM, SIGINT or SIGHUP ends the call
(LCP Terminate, hang-up) and restores the host, the second skips the politeness and
restores at once. Without ``--device`` the built-in simulator runs in this process on a
pty, with its operator network in a namespace of its own when root, and is the modem.
Every ending is one line and a status of ``bridge.run_exit.RunExit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TextIO

from netstack.errors import UsageError

from .capture import FrameTap, PcapCapture, TranscriptFile
from .control_socket import ControlServer, ControlSocketError, socket_path
from .entry import STOP_SIGNALS, Failed, LineWriter, internal_error, say
from .errors import DeviceError, HostSetupError
from .logs import PHASE_LOGGER, PppTrace, phase_to_journal, setup_logging
from .metrics import MetricsSettings, MetricsWriter
from .notify import Notifier
from .run_exit import RunEnded, RunExit
from .run_settings import RunSettings, with_device
from .serial_port import SerialSettings
from .status import BridgeState
from .supervisor import Supervisor

if TYPE_CHECKING:
    from .simulator.shell import Simulator


def main(settings: RunSettings) -> int:
    setup_logging(settings.verbose)  # bridge.logs: one event a line, journal-aware
    return asyncio.run(run(settings, sys.stdout))


def open_captures(settings: RunSettings) -> tuple[list[FrameTap], list[Callable[[], None]]]:
    """``--pcap``, ``--transcript`` and ``-vv``'s PPP trace: the frame taps for the data
    plane, and how to close what was opened. UsageError (before anything is touched) for
    a file that cannot be used."""
    taps: list[FrameTap] = []
    closers: list[Callable[[], None]] = []
    try:
        if settings.transcript:
            transcript = TranscriptFile.open(settings.transcript)
            transcript.attach()
            closers.append(transcript.close)
        if settings.pcap:
            capture = PcapCapture.open(settings.pcap, max_bytes=settings.pcap_size * 1_000_000)
            taps.append(capture)
            closers.append(capture.close)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    if PppTrace.enabled():
        taps.append(PppTrace())
    return taps, closers


async def start_simulator(
    settings: RunSettings, say: Callable[[str], None], *, second_port: bool | None = None
) -> tuple[Simulator, RunSettings]:
    """The built-in simulator on a new pty, and the settings with that pty as the device
    (and its second, AT-only pty as the AT port: by default with ``--mode ppp``). The
    caller closes it."""
    from .simulator.shell import Simulator

    assert settings.simulator is not None
    # A second, AT-only port as USB modems have, for the AT sockets beside PPP. (The
    # simulated modem sends its URCs there: with no PPP, the sockets use the one port.)
    if second_port is None:
        second_port = settings.mode == "ppp"
    at_port = "" if second_port else None
    simulator = Simulator(settings.simulator, at_port=at_port, out=io.StringIO(), err=io.StringIO())
    try:
        await simulator.start()
    except BaseException:
        await simulator.close()
        raise
    network = (
        "its network in a namespace of its own"
        if simulator.status().get("network") == "namespace"
        else "its hosts answered in-process"
    )
    say(
        f"no --device: the built-in simulator plays a {settings.simulator.profile} modem "
        f"on {simulator.device}, {network}"
    )
    return simulator, with_device(settings, simulator.device, simulator.at_device)


@contextlib.asynccontextmanager
async def _observers(settings: RunSettings, supervisor: Supervisor) -> AsyncIterator[None]:
    """The control socket (``pppbridge status``/``at``) and the ``--metrics`` file while
    the bridge runs. A socket another bridge listens on is a usage error; one that cannot
    be made otherwise is only a warning: the link matters more."""
    loop = asyncio.get_running_loop()

    def snapshot() -> BridgeState:
        return supervisor.status.snapshot(loop.time())

    at_port = None
    if settings.at_port:
        at_port = SerialSettings(settings.at_port, baud=settings.serial.baud)
    host = settings.host
    server = ControlServer(
        socket_path(host.ifname, host.state_dir),
        snapshot,
        at_port=at_port,
        at_port_busy=lambda: supervisor.at_port_in_use,
        holder="PPP holds it" if settings.mode == "ppp" else "the modem's AT sockets use it",
    )
    serving = True
    try:
        await server.start()
    except ControlSocketError as exc:
        if exc.another_bridge:
            raise UsageError(f"{exc} (another pppbridge runs on {host.ifname})") from None
        logging.getLogger("pppbridge").warning("no control socket: %s", exc)
        serving = False
    metrics = None
    try:
        if settings.metrics:
            metrics = MetricsWriter(
                MetricsSettings(settings.metrics, settings.metrics_interval), snapshot
            )
            metrics.start()
        yield
    finally:
        try:
            if metrics is not None:
                await metrics.stop()
        finally:
            if serving:
                await server.close()


async def _ready_once(supervisor: Supervisor, notifier: Notifier) -> None:
    """READY=1 the first time the link is up and configured (systemd takes the first)."""
    await supervisor.ready.wait()
    notifier.ready(f"ready: {supervisor.settings.host.ifname} is up")


async def run(settings: RunSettings, out: TextIO) -> int:
    """The whole run; its exit status. ``out`` gets the phase lines."""
    writer = LineWriter(out, "standard output")
    loop = asyncio.get_running_loop()
    stopping, hurry = asyncio.Event(), asyncio.Event()

    notifier = Notifier.from_environment()  # systemd's Type=notify, when it asks
    notifier.start_watchdog(loop)
    journal = phase_to_journal()
    phases = logging.getLogger(PHASE_LOGGER)

    def say_phase(text: str) -> None:
        # Under systemd, one event a line on the journal's stream with its priority;
        # otherwise the lines a person watching the terminal reads.
        if journal:
            phases.info("%s", text)
        else:
            writer.line(f"pppbridge: {text}")
        notifier.status(text)

    def say_error(text: str) -> None:
        if journal:
            phases.error("%s", text)
        else:
            say(f"pppbridge run: {text}")

    def on_signal(signum: signal.Signals) -> None:
        if stopping.is_set():
            hurry.set()
            return
        stopping.set()  # first: the line below may fail (no one reads standard output)
        notifier.stopping(f"{signum.name}: hanging up and restoring")
        with contextlib.suppress(Failed):
            say_phase(f"{signum.name}: hanging up and restoring (again: at once)")

    failures: list[str] = []

    def on_callback_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # A bug in a callback (the data plane, a netlink call): end the run politely and
        # say so once, rather than carry on half-working.
        exc = context.get("exception")
        if exc is None:
            return  # asyncio's warnings about resources, not errors of ours
        failures.append(str(exc) if isinstance(exc, Failed) else internal_error(exc))
        stopping.set()

    loop.set_exception_handler(on_callback_error)

    installed = []
    for signum in STOP_SIGNALS:
        with contextlib.suppress(ValueError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    simulator = None
    closers: list[Callable[[], None]] = []
    try:
        if settings.simulator is not None:
            simulator, settings = await start_simulator(settings, say_phase)
        supervisor = Supervisor(settings, say_phase, stopping=stopping, hurry=hurry)
        ready = loop.create_task(_ready_once(supervisor, notifier))
        try:
            # The control socket first: a second bridge on the same interface stops
            # there, before it opens (and rotates) the first one's capture files.
            async with _observers(settings, supervisor):
                taps, closers = open_captures(settings)
                supervisor.taps = tuple(taps)
                await supervisor.run()
        finally:
            ready.cancel()
        if failures:
            say_error(f"error: {failures[0]}; the host is as it was")
            return RunExit.FAILED
        say_phase("stopped; the host is as it was")
        return RunExit.STOPPED
    except RunEnded as ended:
        if ended.message:
            say_error(ended.message)
        return ended.status
    except (UsageError, DeviceError, HostSetupError) as exc:
        say_error(f"error: {exc}")
        return RunExit.USAGE
    finally:
        notifier.close()
        if simulator is not None:
            await simulator.close()
        for close in reversed(closers):
            close()
        for signum in installed:
            loop.remove_signal_handler(signum)
        loop.set_exception_handler(None)
