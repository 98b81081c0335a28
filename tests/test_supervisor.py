"""The supervisor against a modem that never answers, in process: a real pty whose far
end the test holds and reads but never answers, a real TUN in a network namespace of the
test. Short sync settings keep it to a few seconds; the path is the one a silent modem
takes with the defaults (about 20 s of AT per bring-up).

Needs root and /dev/net/tun.
"""

from __future__ import annotations

import asyncio
import os
import tty
from pathlib import Path

from bridge.modem import ModemSettings
from bridge.netconfig import HostSettings, parse_dns_mode
from bridge.run_exit import RunEnded, RunExit
from bridge.run_settings import RunSettings
from bridge.serial_port import SerialSettings
from bridge.supervisor import Supervisor
from tests.run_process import TestNamespace
from tests.test_tun import needs_root

pytestmark = needs_root
BOUND = 60.0
"""Generous: three short bring-ups take a few seconds on a quiet machine."""


def test_a_silent_modem_is_reset_once_then_the_run_ends_with_status_3(tmp_path: Path) -> None:
    async def scenario() -> tuple[RunEnded | None, bytes, list[str]]:
        controller, device = os.openpty()
        tty.setraw(controller)
        tty.setraw(device)
        os.set_blocking(controller, False)
        heard = bytearray()
        loop = asyncio.get_running_loop()
        loop.add_reader(controller, lambda: heard.extend(os.read(controller, 4096)))
        settings = RunSettings(
            modem=ModemSettings(sync_attempts=2, sync_timeout=0.2, sync_interval=0.1),
            serial=SerialSettings(device=os.ttyname(device)),
            host=HostSettings(
                ifname="pppbr-silent",
                state_dir=tmp_path / "state",
                default_route=False,
                dns=parse_dns_mode("none"),
            ),
            holdoff=0.1,
            maxfail=0,
        )
        said: list[str] = []
        ended = None
        try:
            async with asyncio.timeout(BOUND):
                await Supervisor(settings, said.append).run()
        except RunEnded as exc:
            ended = exc
        finally:
            loop.remove_reader(controller)
            os.close(controller)
            os.close(device)
        return ended, bytes(heard), said

    with TestNamespace.made() as namespace:
        ended, heard, said = namespace.run(asyncio.run, scenario(), timeout=BOUND + 10)
    assert ended is not None and ended.status == RunExit.MODEM_NOT_ANSWERING, said
    assert heard.count(b"AT+CFUN=1,1\r") == 1  # the generic profile's reset, sent once
    assert heard.index(b"AT+CFUN=1,1\r") > heard.index(b"+++")  # after the escape
    assert heard.count(b"AT\r") >= 6  # three bring-ups of two tries each
    assert not os.path.exists(tmp_path / "state" / "pppbr-silent.json")
