"""Up/down hooks (bridge/hooks.py): pppd's environment and arguments, and real scripts run
with a bound on their time, their failures logged and never raised."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import time
from collections.abc import Coroutine
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bridge.hooks import (
    HOOK_PATH,
    HookContext,
    HookResult,
    hook_arguments,
    hook_environment,
    run_hook,
)

T = TypeVar("T")
TIMEOUT = 10.0
FULL = HookContext(
    ifname="pppbridge0",
    device="/dev/ttyUSB2",
    speed=115200,
    ip_local=IPv4Address("203.0.113.10"),
    ip_remote=IPv4Address("198.51.100.1"),
    dns=(IPv4Address("198.51.100.53"), IPv4Address("198.51.100.54"), IPv4Address("192.0.2.53")),
    ll_local=IPv6Address("fe80::211:2233:4455:6677"),
    ll_remote=IPv6Address("fe80::1"),
    ipv6_global=IPv6Address("2001:db8:2::211:2233:4455:6677"),
    ipparam="modem1",
)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(TIMEOUT):
            return await coroutine

    return asyncio.run(bounded())


def script(tmp_path: Path, body: str, name: str = "hook") -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def wait_exited(pid: int) -> None:
    """Return once process ``pid`` has ended (a pidfd turns readable), bounded."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([pidfd], [], [], TIMEOUT)[0], f"process {pid} still runs"
    finally:
        os.close(pidfd)


# --- environment and arguments: pure ---------------------------------------------------------


def test_environment_is_pppds_and_ours() -> None:
    assert hook_environment(FULL) == {
        "PATH": HOOK_PATH,
        "IFNAME": "pppbridge0",
        "DEVICE": "/dev/ttyUSB2",
        "SPEED": "115200",
        "IPLOCAL": "203.0.113.10",
        "IPREMOTE": "198.51.100.1",
        "USEPEERDNS": "1",
        "DNS1": "198.51.100.53",
        "DNS2": "198.51.100.54",  # pppd tells two
        "LLLOCAL": "fe80::211:2233:4455:6677",
        "LLREMOTE": "fe80::1",
        "IPPARAM": "modem1",
        "PPPBRIDGE_IPV6_GLOBAL": "2001:db8:2:0:211:2233:4455:6677",  # RFC 5952 4.2.2
    }


def test_unknown_values_are_left_out() -> None:
    assert hook_environment(HookContext("pppbridge0")) == {
        "PATH": HOOK_PATH,
        "IFNAME": "pppbridge0",
    }


def test_nothing_is_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPPBRIDGE_SECRET", "hunter2")
    assert "PPPBRIDGE_SECRET" not in hook_environment(FULL)


def test_arguments_are_pppds_ip_up_arguments() -> None:
    assert hook_arguments(FULL) == [
        "pppbridge0",
        "/dev/ttyUSB2",
        "115200",
        "203.0.113.10",
        "198.51.100.1",
        "modem1",
    ]
    assert hook_arguments(HookContext("pppbridge0")) == ["pppbridge0", "", "0", "", "", ""]


# --- real scripts -------------------------------------------------------------------------------


def test_script_sees_the_environment_and_arguments(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    hook = script(tmp_path, f'env > {seen}.env\necho "$@" > {seen}.args\necho hello\n')
    result = run(run_hook(hook, FULL))
    assert result == HookResult(returncode=0, timed_out=False, output="hello\n")
    env = dict(line.split("=", 1) for line in (tmp_path / "seen.env").read_text().splitlines())
    env.pop("PWD", None), env.pop("SHLVL", None), env.pop("_", None)  # the shell's own
    assert env == hook_environment(FULL)
    assert (tmp_path / "seen.args").read_text() == " ".join(hook_arguments(FULL)) + "\n"


def test_failure_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hook = script(tmp_path, "echo 'no route to the VPN' >&2\nexit 3\n")
    with caplog.at_level(logging.ERROR, logger="bridge.hooks"):
        result = run(run_hook(hook, FULL))
    assert (result.returncode, result.ok, result.output) == (3, False, "no route to the VPN\n")
    assert f"hook {hook} failed with status 3; output: no route to the VPN" in caplog.messages


@pytest.mark.parametrize("mode", [None, 0o644], ids=["missing", "not-executable"])
def test_a_script_that_cannot_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int | None
) -> None:
    hook = tmp_path / "hook"
    if mode is not None:
        hook.write_text("#!/bin/sh\n")
        hook.chmod(mode)
    with caplog.at_level(logging.ERROR, logger="bridge.hooks"):
        result = run(run_hook(hook, FULL))
    assert result.returncode is None and result.error and not result.ok
    assert caplog.messages[0].startswith(f"hook {hook} could not be started: ")


def test_overrunning_hook_is_killed_with_its_children(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    child = tmp_path / "child.pid"
    hook = script(tmp_path, f"echo started\nsleep 60 &\necho $! > {child}\nwait\n")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="bridge.hooks"):
        result = run(run_hook(hook, FULL, timeout=0.5))
    assert time.monotonic() - started < TIMEOUT / 2
    assert (result.returncode, result.timed_out, result.output) == (None, True, "started\n")
    wait_exited(int(child.read_text()))  # the whole process group went
    assert caplog.messages == [f"hook {hook} ran over 0.5 s and was killed; output: started"]


def test_a_background_process_holding_the_output_does_not_hold_the_hook(
    tmp_path: Path,
) -> None:
    child = tmp_path / "child.pid"
    # setsid: out of the hook's process group, so nothing kills it; it keeps stdout open.
    hook = script(tmp_path, f"setsid sleep 60 &\necho $! > {child}\necho done\n")
    try:
        started = time.monotonic()
        result = run(run_hook(hook, FULL))
        assert time.monotonic() - started < TIMEOUT / 2
        assert (result.returncode, result.output) == (0, "done\n")
    finally:
        os.kill(int(child.read_text()), 9)  # the one process this test left behind


def test_output_is_cut_to_the_limit(tmp_path: Path) -> None:
    hook = script(tmp_path, "head -c 100000 /dev/zero | tr '\\0' x\n")
    result = run(run_hook(hook, FULL))
    assert result.ok and result.output == "x" * 16384


def test_cancelling_kills_the_hook(tmp_path: Path) -> None:
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    hook = script(tmp_path, f"echo $$ > {fifo}\nexec sleep 60\n")

    async def scenario() -> int:
        task = asyncio.create_task(run_hook(hook, FULL))
        pid = int(await asyncio.to_thread(fifo.read_text))  # the hook has started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    wait_exited(run(scenario()))
