"""Keep a shared pppd VM in a known state between tests, whatever the last test did.

One VM serves a whole session, so a test that fails half-way (pppd left running in
the middle of a call, the line left in PPP mode, the mode switched, qemu dead or the
guest frozen) must not take the next tests down with it. The fixtures call:

* ``health_problem(vm)`` before handing the VM to a test: what is wrong with it, or
  None. Healthy means: qemu runs, /init answers ``ctl status`` in its boot mode with no
  pppd running, and (server and cmux modes) the modem line answers ``AT`` with ``OK``.
* ``recover(vm, why)`` after a failed test, or when the check found a problem. It
  escalates: (1) ``reset`` (hang up pppd, boot mode, default options and secret), then
  check; (2) a mode switch to the boot mode, which restarts /init's modem loop, then
  check; (3) a reboot in a fresh run directory, then check. Each step is bounded; a
  step that fails (no answer) goes on to the next. What was done is returned as a
  ``Recovery`` whose ``describe()`` tells a person reading the failure what happened.

Call order: start the VM first; then any number of ``health_problem``/``recover``.
``recover`` raises ``VmStartError`` or ``AssertionError`` only if even a reboot leaves
the VM unhealthy.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field

import serial

from interop_bounds import HEALTH_PROBE
from pppd_vm import PppdVm, VmNotAnswering
from serial_pty import AtFailure, at_command, open_port

RECOVERIES: list[str] = []
"""Every recovery of this session, described, for the end of the run's report."""
AT_LINE_MODES = ("server",)
"""Modes in which the host end of the line is ours and /init answers AT on it (client
mode: the simulator holds it; cmux is not used by the tests)."""


@dataclass
class Recovery:
    """What ``recover`` did to one VM, in order, for the test report."""

    why: str
    steps: list[str] = field(default_factory=list)
    healthy: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        outcome = "healthy again" if self.healthy else "STILL UNHEALTHY"
        steps = "; ".join(self.steps)
        return f"{self.why}: {steps} -> {outcome} after {self.seconds:.1f} s"


def health_problem(vm: PppdVm, timeout: float = HEALTH_PROBE) -> str | None:
    """What keeps ``vm`` from being handed to a test, or None when it is ready."""
    if not vm.is_running():
        return "qemu is not running"
    try:
        mode, pppd = vm.status(timeout=timeout)
    except (VmNotAnswering, AssertionError) as exc:
        return f"/init does not answer: {exc}"
    if mode != vm.boot_mode:
        return f"/init is in {mode} mode, not {vm.boot_mode}"
    if pppd is not None:
        return f"pppd {pppd} is still running"
    if mode in AT_LINE_MODES:
        return at_problem(vm, timeout)
    return None


def at_problem(vm: PppdVm, timeout: float = HEALTH_PROBE) -> str | None:
    """Whether the modem line answers ``AT`` with ``OK``: None if it does, else what is
    wrong. First waits for /init's modem loop to be reading commands (after a call,
    ttyS1 is closed for a moment and what arrives then is lost), then sends one ``AT``;
    other lines before the ``OK`` (the last call's ``NO CARRIER``, noise) are dropped.
    One ``AT`` only, never resent: a second one would leave a stale ``OK`` behind for
    the test's first command."""
    if vm.pty is None:
        return "no pty"
    try:
        vm.wait_command_mode(timeout)
    except AssertionError as exc:
        return str(exc).splitlines()[0]
    try:
        port = open_port(vm.pty)
    except (OSError, serial.SerialException) as exc:
        return f"cannot open {vm.pty}: {exc}"
    seen: list[str] = []
    try:
        port.reset_input_buffer()
        deadline = time.monotonic() + timeout
        # A stale result (NO CARRIER after a call) may answer the first AT: ask again.
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                at_command(port, "AT", timeout=remaining)
                return None
            except AtFailure as failure:
                seen.append(str(failure))
        return f"no OK to AT within {timeout:.0f} s on {vm.pty} ({seen[-3:]})"
    finally:
        port.close()


def recover(vm: PppdVm, why: str, timeout: float = HEALTH_PROBE) -> Recovery:
    """Bring ``vm`` back to its boot-time state, rebooting it if need be (module doc).
    ``timeout`` bounds each check and control command of the first two steps."""
    started = time.monotonic()
    record = Recovery(why)
    try:
        problem = _recover_without_reboot(vm, record, timeout)
        if problem is not None:
            record.steps.append(f"reboot in a fresh run directory (after: {problem})")
            vm.restart()
            record.steps.append(f"booted {vm.run_dir.name}, pty {vm.pty}")
            problem = health_problem(vm)
            if problem is not None:
                record.steps.append(f"still: {problem}")
                raise AssertionError(f"pppd VM unhealthy even after a reboot: {problem}")
        record.healthy = True
        return record
    finally:
        record.seconds = time.monotonic() - started


def _recover_without_reboot(vm: PppdVm, record: Recovery, timeout: float) -> str | None:
    """Steps 1 and 2; the problem left (None: healthy), or why /init cannot help."""
    if not vm.is_running():
        return "qemu is not running"
    try:
        record.steps.append("reset (hang up, boot mode, default options and secret)")
        vm.reset(timeout=timeout)
        problem = health_problem(vm, timeout)
        if problem is None:
            return None
        record.steps.append(f"still: {problem}; restart the {vm.boot_mode} loop (ctl mode)")
        vm.restart_loop(timeout)
        return health_problem(vm, timeout)
    except (VmNotAnswering, AssertionError, subprocess.SubprocessError) as exc:
        return str(exc).splitlines()[0]
