"""The bridge's control socket and ``pppbridge status``/``at`` through it.

The server runs here on the test's event loop with a hand-made ``BridgeState`` (the
supervisor's wiring comes later); the clients are real processes
(``python3 -m bridge.observe_cli``) or the synchronous ``ControlClient``. The socket is
made safely (mode 0660, nothing removed but a socket nobody listens on, only our own
inode removed on close); every failure of a client is one line and a documented status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bridge import control_socket
from bridge.client_exit import ClientError, ClientExit
from bridge.control_socket import (
    ControlClient,
    ControlServer,
    ControlSocketError,
    parse_request,
    socket_path,
)
from bridge.serial_port import SerialPort, SerialSettings
from bridge.status import BridgeState, ModemStatus, Phase, from_json
from netstack.errors import UsageError
from sim_process import SimProcess
from test_status import up_state

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = "tbr0"
PROCESS_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def serving(
    state_dir: Path,
    snapshot: Callable[[], BridgeState] | None = None,
    at_port: SerialSettings | None = None,
    **options: Any,
) -> AsyncIterator[ControlServer]:
    state = replace(up_state(), instance=INSTANCE)
    server = ControlServer(
        socket_path(INSTANCE, state_dir), snapshot or (lambda: state), at_port=at_port, **options
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def pppbridge(*args: str) -> tuple[int, str, str]:
    """``pppbridge ARGS`` as a process (bounded); its status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.observe_cli",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"pppbridge {' '.join(args)}: still running") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert "Traceback" not in err
    return lines[0]


def run(scenario: Callable[[], object]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 120))  # type: ignore[arg-type]


# ----------------------------------------------------------------- status
def test_status_prints_the_bridge_as_text_and_as_json(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path):
            status, out, err = await pppbridge(
                "status", "--state-dir", str(tmp_path), "--instance", INSTANCE
            )
            assert (status, err) == (0, "")
            assert "phase: up (for 1m 00s)" in out and "edition: LTE-M" in out
            assert "dropped: bad_fcs 2, tun_refused 1" in out
            status, out, err = await pppbridge(
                "status", "--json", "--state-dir", str(tmp_path), "--instance", INSTANCE
            )
            assert (status, err) == (0, "")
            assert from_json(BridgeState, json.loads(out)) == replace(up_state(), instance=INSTANCE)

    run(scenario)


def test_status_without_a_bridge_is_one_line_and_status_5(tmp_path: Path) -> None:
    async def scenario() -> None:
        status, out, err = await pppbridge("status", "--state-dir", str(tmp_path))
        assert (status, out) == (ClientExit.NO_BRIDGE, "")
        assert one_line(err) == (
            "pppbridge status: error: no pppbridge is running as pppbridge0 "
            f"({tmp_path}/pppbridge0.sock does not exist)"
        )
        with socket.socket(socket.AF_UNIX) as left:  # a killed bridge's socket
            left.bind(socket_path("pppbridge0", tmp_path))
            status, _, err = await pppbridge("status", "--state-dir", str(tmp_path))
        assert status == ClientExit.NO_BRIDGE
        assert "nobody listens on" in one_line(err)

    run(scenario)


@pytest.mark.parametrize("instance", ["a/b", "", "x" * 16, "eth 0", ".."])
def test_a_bad_instance_name_is_a_usage_error(instance: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        status, _, err = await pppbridge("status", "--instance", instance)
        assert status == ClientExit.USAGE
        assert one_line(err).startswith(f"pppbridge status: error: instance {instance!r}")

    run(scenario)


def test_a_bridge_that_does_not_answer_is_bounded(tmp_path: Path) -> None:
    path = socket_path(INSTANCE, tmp_path)
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(path)
        mute.listen()  # the kernel accepts; nobody ever answers
        with pytest.raises(ClientError, match=r"did not answer within 0\.5 s") as caught:
            ControlClient(path, INSTANCE).request({"command": "status"}, 0.5)
    assert caught.value.status is ClientExit.NO_BRIDGE


# ------------------------------------------------------------ socket safety
def test_the_socket_is_0660_in_a_directory_made_0755(tmp_path: Path) -> None:
    state_dir = tmp_path / "run" / "pppbridge"

    async def scenario() -> None:
        async with serving(state_dir):
            path = Path(socket_path(INSTANCE, state_dir))
            assert stat.S_ISSOCK(path.lstat().st_mode)
            assert stat.S_IMODE(path.lstat().st_mode) == 0o660
            assert stat.S_IMODE(state_dir.stat().st_mode) == 0o755
        assert not path.exists()

    old = os.umask(0o022)  # the mode is not the umask's
    try:
        run(scenario)
    finally:
        os.umask(old)


def test_a_socket_left_by_a_killed_bridge_is_replaced(tmp_path: Path) -> None:
    path = socket_path(INSTANCE, tmp_path)
    with socket.socket(socket.AF_UNIX) as left:  # bound, not listening; kept open so
        left.bind(path)  # that its inode number is not reused by the new socket
        before = os.lstat(path).st_ino

        async def scenario() -> None:
            async with serving(tmp_path):
                assert os.lstat(path).st_ino != before
                assert await asyncio.to_thread(ControlClient(path, INSTANCE).status)

        run(scenario)


def test_another_running_bridge_is_refused_and_keeps_its_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path):
            with pytest.raises(ControlSocketError, match="another pppbridge is running") as caught:
                async with serving(tmp_path):
                    pass
            assert caught.value.another_bridge
            path = socket_path(INSTANCE, tmp_path)
            assert (await asyncio.to_thread(ControlClient(path, INSTANCE).status)).phase is Phase.UP

    run(scenario)


def test_a_file_at_the_path_is_refused_and_kept(tmp_path: Path) -> None:
    path = Path(socket_path(INSTANCE, tmp_path))
    path.write_text("not ours\n")

    async def scenario() -> None:
        with pytest.raises(ControlSocketError, match="exists and is not a socket"):
            async with serving(tmp_path):
                pass

    run(scenario)
    assert path.read_text() == "not ours\n"


def test_close_removes_only_our_own_socket(tmp_path: Path) -> None:
    path = socket_path(INSTANCE, tmp_path)

    async def scenario() -> None:
        async with serving(tmp_path):
            os.unlink(path)
            Path(path).write_text("put there while we ran\n")

    run(scenario)
    assert Path(path).read_text() == "put there while we ran\n"


# ------------------------------------------------------------------ requests
def test_requests_as_json_or_words_on_one_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path):
            reader, writer = await asyncio.open_unix_connection(socket_path(INSTANCE, tmp_path))
            replies = []
            for request in (b'{"command": "status"}', b"status", b"{bad", b"[1]", b"dance", b" "):
                writer.write(request + b"\n")
                replies.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
            writer.close()
        assert [r["ok"] for r in replies] == [True, True, False, False, False, False]
        assert replies[0] == replies[1] and replies[0]["status"]["phase"] == "up"
        assert {r.get("reason") for r in replies[2:]} == {"usage"}
        assert "the commands are status, at" in replies[4]["error"]

    run(scenario)


def test_an_endless_line_ends_that_connection_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path):
            path = socket_path(INSTANCE, tmp_path)
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b"x" * (control_socket.MAX_REQUEST + 10))
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
            writer.close()
            assert await asyncio.to_thread(ControlClient(path, INSTANCE).status)

    run(scenario)


def test_idle_and_surplus_clients_are_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_socket, "IDLE_TIMEOUT", 0.3)

    async def scenario() -> None:
        async with serving(tmp_path):
            path = socket_path(INSTANCE, tmp_path)
            idle = [await asyncio.open_unix_connection(path) for _ in range(16)]
            reader, _ = await asyncio.open_unix_connection(path)
            busy = json.loads(await asyncio.wait_for(reader.readline(), 5))
            assert busy["reason"] == "busy"
            for idle_reader, _ in idle:  # each closed after IDLE_TIMEOUT
                assert await asyncio.wait_for(idle_reader.read(), 5) == b""

    run(scenario)


def test_plain_words_parse() -> None:
    assert parse_request("at AT+CSQ\r\n") == {"command": "at", "line": "AT+CSQ"}
    assert parse_request(b"status") == {"command": "status"}
    with pytest.raises(UsageError):
        parse_request("   ")


# ------------------------------------------------------------------------ at
@pytest.mark.parametrize(
    ("phase", "holder"),
    [
        (Phase.UP, "PPP holds it"),
        (Phase.NEGOTIATING, "PPP holds it"),
        (Phase.BRINGING_UP, "the bring-up"),
        (Phase.WAITING_TO_REDIAL, "(waiting-to-redial)"),
    ],
)
def test_at_with_one_port_is_refused_with_the_reason(
    phase: Phase, holder: str, tmp_path: Path
) -> None:
    state = replace(up_state(), instance=INSTANCE, phase=phase)

    async def scenario() -> None:
        async with serving(tmp_path, lambda: state):
            status, out, err = await pppbridge(
                "at", "--state-dir", str(tmp_path), "--instance", INSTANCE, "AT+CSQ"
            )
        assert (status, out) == (ClientExit.REFUSED, "")
        line = one_line(err)
        assert line.startswith(
            f"pppbridge at: error: pppbridge {INSTANCE}: the bridge has one port to the "
            "modem, /dev/ttyUSB2, and "
        )
        assert holder in line and "--at-port" in line

    run(scenario)


def test_at_refusals_name_the_at_sockets(tmp_path: Path) -> None:
    """--mode at-socket: the first port is the AT sockets'; beside PPP, a second port
    they use now is refused too (one user of a port at a time)."""
    args = ("at", "--state-dir", str(tmp_path), "--instance", INSTANCE, "AT+CSQ")

    async def scenario() -> None:
        async with serving(tmp_path, holder="the modem's AT sockets use it"):
            status, _, err = await pppbridge(*args)
        assert status == ClientExit.REFUSED
        assert "/dev/ttyUSB2, and the modem's AT sockets use it; give it" in one_line(err)
        second = SerialSettings("/dev/ttyUSB3")
        async with serving(tmp_path, at_port=second, at_port_busy=lambda: True):
            status, _, err = await pppbridge(*args)
        assert status == ClientExit.REFUSED
        assert "the AT port /dev/ttyUSB3 carries IPv6 through the modem's AT sockets now" in (
            one_line(err)
        )

    run(scenario)


def test_at_without_a_bridge_or_with_a_bad_command(tmp_path: Path) -> None:
    async def scenario() -> None:
        status, _, err = await pppbridge("at", "--state-dir", str(tmp_path), "AT")
        assert status == ClientExit.NO_BRIDGE and "no pppbridge is running" in one_line(err)
        status, _, err = await pppbridge("at", "--state-dir", str(tmp_path), "CSQ")
        assert status == ClientExit.USAGE
        assert one_line(err) == (
            "pppbridge at: error: 'CSQ' is not an AT command (it starts with AT: AT+CSQ, ATI)"
        )

    run(scenario)


def test_at_runs_on_the_second_port_while_ppp_holds_the_first(tmp_path: Path) -> None:
    """Two simulated modems: the first plays the PPP port, held open (locked) as the
    bridge holds it; the second is the bridge's --at-port. ``at --device FIRST`` finds
    the bridge holding it and goes through its socket."""
    for name in ("ppp", "at"):
        (tmp_path / name).mkdir()
    with (
        SimProcess(tmp_path / "ppp", "--no-namespace", "--profile", "quectel") as ppp,
        SimProcess(tmp_path / "at", "--no-namespace", "--profile", "quectel") as at_sim,
    ):
        held = SerialPort.open(SerialSettings(ppp.device))
        state = replace(
            up_state(),
            instance=INSTANCE,
            modem=ModemStatus(device=ppp.device, at_port=at_sim.device, profile="quectel"),
        )
        try:

            async def scenario() -> None:
                at_port = SerialSettings(at_sim.device)
                async with serving(tmp_path, lambda: state, at_port):
                    base = ("at", "--state-dir", str(tmp_path))
                    status, out, err = await pppbridge(*base, "--instance", INSTANCE, "AT+CGMM")
                    assert (status, out, err) == (0, "BG96\nOK\n", "")
                    status, out, _ = await pppbridge(*base, "--device", ppp.device, "AT+FOO")
                    assert (status, out) == (ClientExit.FAILED, "ERROR\n")
                    status, out, _ = await pppbridge(
                        *base, "--device", ppp.device, "--json", "AT+CSQ"
                    )
                    assert status == 0
                    assert json.loads(out) == {
                        "command": "AT+CSQ",
                        "outcome": "ok",
                        "lines": ["+CSQ: 20,99"],
                        "final": "OK",
                    }

            run(scenario)
        finally:
            held.close()
        assert "AT+CGMM" in at_sim.transcript() and "AT+CGMM" not in ppp.transcript()


def test_a_busy_device_without_a_bridge_is_a_usage_error(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--no-namespace") as sim:
        held = SerialPort.open(SerialSettings(sim.device))
        try:

            async def scenario() -> None:
                status, _, err = await pppbridge(
                    "at", "--state-dir", str(tmp_path), "--device", sim.device, "AT"
                )
                assert status == ClientExit.USAGE
                assert one_line(err) == (
                    f"pppbridge at: error: {sim.device}: busy, another program holds it "
                    "(ModemManager? another pppbridge?)"
                )

            run(scenario)
        finally:
            held.close()


@pytest.mark.parametrize(
    "name", ["pppbridge0", "wwan0", "a", "x" * 15, "x" * 16, "", ".", "..", "a/b", "a:b", "a b",
             "a%d", "tab\there", "é" * 7, "é" * 8]
)  # fmt: skip
def test_an_instance_is_what_the_kernel_takes_as_an_interface_name(name: str) -> None:
    """The same rules as the bridge's --interface (tun.check_ifname), without netlink."""
    from bridge.errors import HostSetupError
    from bridge.tun import check_ifname

    try:
        check_ifname(name)
    except HostSetupError:
        with pytest.raises(UsageError):
            control_socket.check_instance(name)
    else:
        assert control_socket.check_instance(name) == name


def test_the_socket_lives_where_the_bridge_keeps_its_state() -> None:
    from bridge.netconfig import DEFAULT_STATE_DIR
    from bridge.tun import DEFAULT_NAME

    assert control_socket.SOCKET_DIR == str(DEFAULT_STATE_DIR)
    assert control_socket.DEFAULT_INSTANCE == DEFAULT_NAME
    assert socket_path(DEFAULT_NAME) == "/run/pppbridge/pppbridge0.sock"


def test_a_failing_snapshot_is_one_reply_and_the_server_goes_on(tmp_path: Path) -> None:
    calls = []

    def snapshot() -> BridgeState:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return replace(up_state(), instance=INSTANCE)

    async def scenario() -> None:
        async with serving(tmp_path, snapshot):
            client = ControlClient(socket_path(INSTANCE, tmp_path), INSTANCE)
            with pytest.raises(ClientError, match="internal error .*RuntimeError: a bug"):
                await asyncio.to_thread(client.status)
            assert (await asyncio.to_thread(client.status)).phase is Phase.UP

    run(scenario)
