"""The asyncio shell around the pure bring-up (``bridge.modem.BringUp``) and the hang-up.

``bring_up`` feeds what the serial descriptor reads to the machine, writes what it asks,
keeps its one timer, and hands its reports to ``report`` as they come; it returns the
``Dialled`` value (CONNECT: the bytes after it are the start of PPP), or ``Attached``
for a modem that is not dialled (``ModemSettings.dial`` False), or raises
``BringUpError`` with the machine's ``BringUpFailed``. The whole bring-up is bounded by
the machine's own deadlines (sync tries, command and registration timeouts);
``bring_up_limit`` is a last guard on top (``TimeoutError``).

``hang_up`` brings a modem back to command mode after a call, whatever state it was
left in: DTR dropped (V.250 &D2, the default of these modems), then the escape sequence
between guard times and ``ATH`` (V.250 6.3.6, S12). Its replies are not awaited: the next
bring-up synchronises anyway and ignores what came before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .at_pump import pump, write_line
from .modem import Attached, BringUp, BringUpFailed, Dialled, ModemSettings, WriteModem
from .modem.events import Report
from .serial_port import SerialPort

log = logging.getLogger("pppbridge.modem")
GUARD_TIME = 1.0
"""V.250 S12: one second of silence before and after ``+++`` (the default, 50 x 20 ms)."""
DTR_DROP = 0.5
"""How long DTR stays low to hang up; modems sample it over a few tens of ms."""


class BringUpError(Exception):
    """The bring-up failed: ``failure`` says at which step, why, and in the modem's words."""

    def __init__(self, failure: BringUpFailed, reset: WriteModem | None = None) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.reset = reset
        """The profile's reset command, for a modem that stopped answering."""


def bring_up_limit(settings: ModemSettings) -> float:
    """The longest a bring-up can take by the machine's own deadlines, with a margin: the
    guard that ``bring_up`` puts on top (it never cuts a bring-up that runs as meant)."""
    sync = settings.sync_attempts * (settings.sync_timeout + settings.sync_interval)
    commands = 40 * settings.command_timeout  # every step's commands, a few tries each
    return sync + commands + settings.registration_timeout + settings.dial_timeout + 60.0


async def bring_up(
    port: SerialPort,
    settings: ModemSettings,
    report: Callable[[Report], None],
) -> Dialled | Attached:
    machine = BringUp(settings)
    result = await pump(
        port.fileno(),
        machine,
        lambda output: isinstance(output, (BringUpFailed, Dialled, Attached)),
        bring_up_limit(settings),
        on_output=report,  # type: ignore[arg-type]  # the machine's outputs are Reports
    )
    if isinstance(result, BringUpFailed):
        raise BringUpError(result, machine.reset)
    assert isinstance(result, (Dialled, Attached))
    report(result)
    return result


async def hang_up(port: SerialPort) -> None:
    """Back to command mode, by DTR and by ``+++``/``ATH``; bounded (about 2.6 s)."""
    fd = port.fileno()
    log.debug("> (DTR dropped, then +++ and ATH: hanging up)")
    port.set_dtr(False)
    # These waits are the protocol's own timing (DTR low, S12 guard times), not waits
    # for something to happen.
    await asyncio.sleep(DTR_DROP)
    port.set_dtr(True)
    await asyncio.sleep(GUARD_TIME)
    write_line(fd, b"+++")
    await asyncio.sleep(GUARD_TIME + 0.1)
    write_line(fd, b"ATH\r")
    port.discard_input()


def reset_modem(port: SerialPort, reset: WriteModem) -> None:
    """Send the profile's reset command (``AT+CFUN=1,1`` or the vendor's); the modem
    reboots, so there is no reply to wait for. The caller waits for it to answer again."""
    log.info("resetting the modem: %s", reset.shown)
    write_line(port.fileno(), reset.data)
