"""Lending PPP's line to AT with ``+++`` and ``ATO`` (``bridge.line_sharing``) on a real
pty, with a real PPP data plane on it and a modem the test plays on the other end."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bridge.data_plane import DataPlane
from bridge.line_sharing import ESCAPE_TRIES, EscapeIgnored, LineSharing
from bridge.packet_pair import PacketPair
from netstack.config import LinkConfig
from netstack.link import Link
from pty_modem import TIMEOUT, Modem, on_a_pty

GUARD = 0.05


def with_line(
    scenario: Callable[[Modem, int, DataPlane], Coroutine[Any, Any, None]],
) -> list[Any]:
    """``scenario(modem, line_fd, data_plane)`` with PPP running on a new pty."""

    async def with_ppp(modem: Modem, line_fd: int) -> None:
        pair = PacketPair()
        link = Link(LinkConfig(echo_interval=0), random.Random(1))
        plane = DataPlane(link, line_fd, pair.bridge_end, lambda event: None)
        plane.start()
        try:
            await scenario(modem, line_fd, plane)
        finally:
            plane.stop()
            pair.close()

    return on_a_pty(with_ppp)


def test_an_ok_inside_a_ppp_frame_is_not_the_escapes() -> None:
    """With ACCM 0, CR LF travel raw: a frame carrying "\\r\\nOK\\r\\n" (an SMTP reply...)
    read after +++ is data. The work starts only after the modem's own OK."""

    async def scenario(modem: Modem, line_fd: int, plane: DataPlane) -> None:
        sharing = LineSharing(line_fd, plane, GUARD)
        loop = asyncio.get_running_loop()

        async def play() -> None:
            await modem.until(b"+++")
            modem.say(b"\x7e\xff\x03\x00\x21 250 OK\r\nOK\r\n data\x7e")  # a frame, in flight
            await asyncio.sleep(GUARD * 2)  # the modem's own guard time
            modem.times["ok"] = loop.time()
            modem.say(b"\r\nOK\r\n")
            await modem.until(b"AT+CGPADDR=1\r")  # (its answer does not matter here)
            await modem.until(b"ATO\r")
            modem.say(b"\r\nCONNECT\r\n")

        async def work() -> float:
            os.write(line_fd, b"AT+CGPADDR=1\r")
            return loop.time()

        playing = asyncio.ensure_future(play())
        async with asyncio.timeout(TIMEOUT):
            started = await sharing.borrow(work)
            await playing
        assert started >= modem.times["ok"], "the work waited for the modem's OK"
        assert sharing.suspensions == 1

    assert with_line(scenario) == []


def test_a_modem_that_ignores_the_escape_keeps_ppp_and_says_so() -> None:
    """No OK, ESCAPE_TRIES times: EscapeIgnored; each time "ATO" went out (noise to the
    peer while online) and PPP has its line back."""

    async def scenario(modem: Modem, line_fd: int, plane: DataPlane) -> None:
        sharing = LineSharing(line_fd, plane, GUARD)

        async def work() -> None:
            raise AssertionError("no work without an escape")

        async with asyncio.timeout(TIMEOUT * 2):
            with pytest.raises(EscapeIgnored, match="did not answer \\+\\+\\+"):
                await sharing.borrow(work)
        for _ in range(ESCAPE_TRIES):
            await modem.until(b"+++")
            await modem.until(b"ATO\r")
        assert sharing.suspensions == 0
        plane.close("done")  # PPP is the line's again: its Terminate-Request goes out
        await modem.until(b"\x7e")

    assert with_line(scenario) == []
