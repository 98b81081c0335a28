"""``pppbridge run``'s command-line errors, end to end: each is one line on standard
error, exit status 2 (``RunExit.USAGE``), no traceback, and nothing left behind in the
network namespace the run was given (no interface, address or route) nor in its state
directory (no state file, no lock).

Each run gets a real pseudo-terminal as ``--device`` unless the device is the mistake, so
that a switch that were not refused would go on to the bring-up, and time out here.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from run_process import LINE_TIMEOUT, ROOT, RunProcess, TestNamespace
from test_tun import NOBODY, needs_root

# (switches, what the line says), each with a working --device.
BAD_SWITCHES = {
    "nan": (["--echo-interval", "nan"], "--echo-interval must be a number, not 'nan'"),
    "inf": (["--registration-timeout", "inf"], "--registration-timeout must be a number"),
    "negative": (["--holdoff", "-1"], "--holdoff cannot be negative"),
    "negative-maxfail": (["--maxfail", "-2"], "--maxfail cannot be negative"),
    "fraction": (["--echo-failures", "1.5"], "--echo-failures must be a whole number"),
    "metric": (["--metric", "4294967296"], "--metric must be between 0 and "),
    "baud": (["--baud", "1234"], "--baud 1234: choose one of"),
    "pin-letters": (["--pin", "12a4"], "the PIN must be 4 to 8 digits"),
    "pin-long": (["--pin", "123456789"], "the PIN must be 4 to 8 digits"),
    "apn-quote": (["--apn", 'inter"net'], "the APN 'inter\"net' holds a double quote"),
    "cid": (["--cid", "0"], "the cid must be from 1 to 16"),
    "route": (["--route", "198.51.100.0/33"], "--route '198.51.100.0/33'"),
    "dns": (["--dns", "file:"], "--dns 'file:': expected resolvconf, resolved, file:PATH or none"),
    "interface": (["--interface", "a" * 16], "interface name 'aaaaaaaaaaaaaaaa'"),
}


@pytest.fixture(scope="module")
def cli_namespace() -> Iterator[TestNamespace]:
    with TestNamespace.made() as namespace:
        yield namespace


@pytest.fixture
def pty() -> Iterator[str]:
    """A terminal nobody answers on: a run that got past its checks would hang there."""
    controller, terminal = os.openpty()
    try:
        yield os.ttyname(terminal)
    finally:
        os.close(terminal)
        os.close(controller)


def run_to_the_end(
    namespace: TestNamespace, workdir: Path, *args: str, prefix: tuple[str, ...] = ()
) -> tuple[int, RunProcess]:
    bridge = RunProcess(namespace, workdir, "--dns", "none", *args, prefix=prefix)
    bridge.start()
    try:
        return bridge.wait_exit(LINE_TIMEOUT), bridge
    finally:
        bridge.stop()


def assert_one_line_and_nothing_left(
    status: int, bridge: RunProcess, namespace: TestNamespace, expected: str
) -> None:
    assert status == 2, bridge.stderr
    assert bridge.errors == [bridge.errors[0]] and bridge.errors[0].startswith(
        "pppbridge run: error: "
    ), bridge.stderr
    assert expected in bridge.errors[0]
    assert "internal error" not in bridge.errors[0]
    assert bridge.lines == []
    assert namespace.state().empty, namespace.state()
    left = list(bridge.state_dir.iterdir()) if bridge.state_dir.exists() else []
    assert left == []


@needs_root
@pytest.mark.parametrize("name", list(BAD_SWITCHES))
def test_bad_switch_value(
    name: str, tmp_path: Path, cli_namespace: TestNamespace, pty: str
) -> None:
    args, expected = BAD_SWITCHES[name]
    status, bridge = run_to_the_end(cli_namespace, tmp_path, "--device", pty, *args)
    assert_one_line_and_nothing_left(status, bridge, cli_namespace, expected)


@needs_root
def test_unknown_switch_shows_the_run_usage(tmp_path: Path, cli_namespace: TestNamespace) -> None:
    status, bridge = run_to_the_end(cli_namespace, tmp_path, "--bogus")
    assert status == 2
    assert bridge.errors[0].startswith("usage: pppbridge run ")
    assert bridge.errors[-1] == "pppbridge run: error: unrecognized arguments: --bogus"
    assert "Traceback" not in bridge.stderr and namespace_clean(cli_namespace, bridge)


def namespace_clean(namespace: TestNamespace, bridge: RunProcess) -> bool:
    return namespace.state().empty and not (
        bridge.state_dir.exists() and any(bridge.state_dir.iterdir())
    )


@needs_root
def test_missing_device(tmp_path: Path, cli_namespace: TestNamespace) -> None:
    device = str(tmp_path / "ttyUSB9")
    status, bridge = run_to_the_end(cli_namespace, tmp_path, "--device", device)
    assert_one_line_and_nothing_left(status, bridge, cli_namespace, f"{device}: no such device")


@needs_root
def test_device_that_is_a_regular_file(tmp_path: Path, cli_namespace: TestNamespace) -> None:
    device = tmp_path / "modem"
    device.write_text("AT\r\n")
    status, bridge = run_to_the_end(cli_namespace, tmp_path, "--device", str(device))
    expected = f"{device}: not a serial device"
    assert_one_line_and_nothing_left(status, bridge, cli_namespace, expected)


@needs_root
def test_device_that_is_not_a_terminal(tmp_path: Path, cli_namespace: TestNamespace) -> None:
    """/dev/null is a character device, but no terminal: found out when it is opened,
    after the TUN was made, which must be gone again."""
    status, bridge = run_to_the_end(cli_namespace, tmp_path, "--device", "/dev/null")
    assert_one_line_and_nothing_left(status, bridge, cli_namespace, "/dev/null: ")


@needs_root
def test_busy_device(tmp_path: Path, cli_namespace: TestNamespace, pty: str) -> None:
    """Another program holds the port's lock (pyserial's exclusive open: flock)."""
    holder = os.open(pty, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        status, bridge = run_to_the_end(cli_namespace, tmp_path, "--device", pty)
    finally:
        os.close(holder)
    assert_one_line_and_nothing_left(status, bridge, cli_namespace, f"{pty}: busy")


@needs_root
def test_device_without_permission(tmp_path: Path, cli_namespace: TestNamespace, pty: str) -> None:
    """Root without CAP_DAC_OVERRIDE is any user to a device owned by someone else: told to
    join the device's group, after the TUN (which it may make) was made and removed."""
    os.chown(pty, NOBODY, NOBODY)
    os.chmod(pty, 0o600)
    no_override = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
    status, bridge = run_to_the_end(cli_namespace, tmp_path, "--device", pty, prefix=no_override)
    assert_one_line_and_nothing_left(status, bridge, cli_namespace, f"{pty}: permission denied")


# A user without privileges: the interpreter's modules are loaded before root is dropped
# (a per-user Python may sit under /root), then the command line runs as that user.
AS_USER = """
import os, sys
import bridge.cli, bridge.run, bridge.run_settings, bridge.supervisor, bridge.netconfig
import bridge.simulator.shell, serial
from pyroute2 import IPRoute
with IPRoute() as ipr:
    ipr.get_links()
uid = int(sys.argv[1])
os.setgroups([])
os.setgid(uid)
os.setuid(uid)
sys.exit(bridge.cli.main(sys.argv[2:]))
"""


@needs_root
def test_user_without_permission_for_the_tun(cli_namespace: TestNamespace, pty: str) -> None:
    directory = tempfile.mkdtemp(prefix="pppbridge-user-")  # pytest's tmp_path is 0700
    try:
        os.chmod(directory, 0o777)
        os.chown(pty, NOBODY, NOBODY)
        state = Path(directory) / "state"
        command = cli_namespace.command(
            *(sys.executable, "-c", AS_USER, str(NOBODY), "run", "--device", pty),
            *("--dns", "none", "--state-dir", str(state)),
        )
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=LINE_TIMEOUT, check=False
        )
        left = list(state.iterdir()) if state.exists() else []
    finally:
        shutil.rmtree(directory)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("pppbridge run: error: "), done.stderr
    assert "no permission" in lines[0] and "internal error" not in lines[0]
    assert cli_namespace.state().empty and left == []


def test_pin_and_password_never_stay_in_the_command_line(tmp_path: Path) -> None:
    """ps and /proc/PID/cmdline show every user the command line: a PIN or password given
    there moves to the environment (readable by the owner only) as the run starts."""
    from bridge.run_settings import secrets_moved_to_environment

    assert secrets_moved_to_environment(["run", "--apn", "x"]) is None
    assert secrets_moved_to_environment(["run", "--pin", "1234", "--passw=s3", "-v"]) == (
        ["run", "-v"],
        {"PPPBRIDGE_PIN": "1234", "PPPBRIDGE_PASSWORD": "s3"},
    )
    with TestNamespace.made() as namespace:
        args = ("--pin", "4321", "--password=sekrit-99")
        with RunProcess(namespace, tmp_path, *args) as run:
            run.wait_line("ready")
            assert run.process is not None
            shown = Path(f"/proc/{run.process.pid}/cmdline").read_bytes()
            assert b"4321" not in shown and b"sekrit-99" not in shown, shown
            assert b"--state-dir" in shown
            assert run.stop() == 0
        assert "sekrit-99" not in "\n".join(run.lines + run.errors)


def test_tun_setup_makes_a_persistent_tun_a_user_owns_and_removes_it() -> None:
    with TestNamespace.made() as namespace:

        def tun_setup(*args: str) -> subprocess.CompletedProcess[str]:
            command = namespace.command(sys.executable, "-m", "bridge", "tun-setup", *args)
            return subprocess.run(command, capture_output=True, text=True, timeout=LINE_TIMEOUT)

        made = tun_setup("--user", str(NOBODY), "--interface", "pppbr-owned")
        assert made.returncode == 0 and "owned by uid 65534" in made.stdout, made
        shown = subprocess.run(
            namespace.command("ip", "-d", "link", "show", "pppbr-owned"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "persist on" in shown and "user nobody" in shown
        assert tun_setup("--remove", "--interface", "pppbr-owned").returncode == 0
        assert namespace.state().empty
        for bad in ((), ("--user", "no-such-user-here")):
            result = tun_setup(*bad)
            assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result
