"""The shared pppd VM comes back from whatever a failed test leaves behind.

Each test wedges the session's VM the way a failure can (pppd left running in the middle
of a call, the mode switched behind the harness's back, qemu killed, the guest frozen)
and checks that ``vm_recovery.recover`` (what the ``pppd`` fixture runs after a failed
test) brings it back to answering ``AT`` with ``OK``, with no pppd running, and says what
it did. The VM is left healthy for the tests after these.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest

from interop_bounds import CTL_ANSWER, LOG_LINE
from pppd_vm import PppdVm
from serial_pty import at_command, dial, open_port
from vm_recovery import health_problem, recover

pytestmark = pytest.mark.interop

QUICK_PROBE = 5.0
"""Bound for each recovery step when the test knows /init cannot answer (frozen guest):
keeps the test short; a real recovery uses ``HEALTH_PROBE``."""


def assert_healthy_again(vm: PppdVm, record_healthy: bool) -> None:
    assert record_healthy
    assert health_problem(vm) is None
    assert vm.status() == ("server", None)
    port = open_port(str(vm.pty))
    try:
        assert at_command(port, "AT") == ["OK"]
    finally:
        port.close()


def test_recovery_hangs_up_pppd_left_running_mid_call(pppd: PppdVm) -> None:
    port = open_port(str(pppd.pty))
    mark = pppd.log_offset()
    try:
        dial(port)
        pppd.wait_log(r"sent \[LCP ConfReq", LOG_LINE, since=mark)
    finally:
        port.close()  # the line stays in PPP mode, pppd waiting for our LCP
    assert health_problem(pppd) is not None

    record = recover(pppd, "test: pppd left mid-call")

    assert record.steps[0].startswith("reset"), record.describe()
    assert not any("reboot" in step for step in record.steps), record.describe()
    assert_healthy_again(pppd, record.healthy)


def test_recovery_restarts_the_loop_of_a_mode_switched_behind_its_back(pppd: PppdVm) -> None:
    """``ctl.sh mode client`` run directly: the harness still thinks it is in server mode,
    so its reset alone does not help; restarting the loop does."""
    mark = pppd.log_offset()
    subprocess.run(
        [str(pppd.scripts / "ctl.sh"), "mode", "client", "--run-dir", str(pppd.run_dir)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CTL_ANSWER,
        check=True,
    )
    pppd.wait_log(r"pppd-vm: client: ready", LOG_LINE, since=mark)
    assert "client mode" in str(health_problem(pppd))

    record = recover(pppd, "test: mode switched behind the harness")

    assert any("restart the server loop" in step for step in record.steps), record.describe()
    assert not any("reboot" in step for step in record.steps), record.describe()
    assert_healthy_again(pppd, record.healthy)


def test_recovery_reboots_a_vm_whose_qemu_was_killed(pppd: PppdVm) -> None:
    old_run_dir, pid = pppd.run_dir, pppd.qemu_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # our own VM's qemu, by its pid file

    record = recover(pppd, "test: qemu killed")

    assert any("reboot" in step for step in record.steps), record.describe()
    assert pppd.run_dir != old_run_dir and (old_run_dir / "console.log").exists()
    assert_healthy_again(pppd, record.healthy)


def test_recovery_reboots_a_vm_that_stopped_answering(pppd: PppdVm) -> None:
    """The guest frozen (qemu's monitor ``stop``): qemu runs, but neither /init nor the
    modem line answer, as when a VM is wedged."""
    assert "paused" in monitor(pppd, "stop") + monitor(pppd, "info status")

    record = recover(pppd, "test: guest frozen", timeout=QUICK_PROBE)

    reboots = [step for step in record.steps if step.startswith("reboot")]
    assert reboots and "ctl hangup" in reboots[0], record.describe()
    assert_healthy_again(pppd, record.healthy)


def monitor(vm: PppdVm, command: str) -> str:
    """Run one command on the VM's qemu monitor socket; return what it printed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CTL_ANSWER)
        sock.connect(str(vm.run_dir / "monitor.sock"))
        read_prompt(sock)  # the banner
        sock.sendall(command.encode() + b"\n")
        return read_prompt(sock)


def read_prompt(sock: socket.socket) -> str:
    """Read until qemu's ``(qemu) `` prompt (the socket's timeout bounds each read)."""
    data = b""
    while not data.endswith(b"(qemu) "):
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"qemu monitor closed; read {data!r}")
        data += chunk
    return data.decode(errors="replace")
