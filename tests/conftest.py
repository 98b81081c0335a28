"""Fixtures shared by the test suite.

The pppd VM (``../shared/pppd-vm``) is booted once per session, on first use, by the
``pppd_vm`` fixture; ``pppd`` hands it to one test in its boot-time state (no pppd
running, default options), and ``modem_port`` opens its pty. Without the VM's scripts the
interop tests are skipped; without qemu or socat they are skipped too, except under CI
(CI=true), where .ci/run installs them and a missing tool is a bug.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import serial
from hypothesis import settings

from pppd_vm import SHARED_ENV, PppdVm, VmStartError, missing_packages, vm_scripts_dir
from serial_pty import open_port

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Shared CI machines are slow and noisy: Hypothesis's per-example deadline only flakes there.
settings.register_profile("ci", deadline=None, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


def require_pppd_vm() -> None:
    """Skip (or, under CI, fail) unless the pppd VM can run on this machine."""
    scripts = vm_scripts_dir()
    if not (scripts / "start.sh").is_file():
        shown = scripts if os.environ.get(SHARED_ENV) else "../shared/pppd-vm"
        pytest.skip(f"pppd VM not available: {shown} missing")
    packages = missing_packages()
    if packages:
        reason = (
            f"pppd VM needs the Debian packages {' '.join(packages)}: "
            f"apt-get install {' '.join(packages)}"
        )
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: .ci/run should have installed them)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pppd_vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PppdVm]:
    """The pppd VM in server mode, booted once for the session and stopped after it."""
    require_pppd_vm()
    vm = PppdVm(tmp_path_factory.mktemp("pppd-vm"))
    try:
        failure = None
        try:
            vm.start("server")
        except VmStartError as exc:
            failure = str(exc)
        if failure is not None:  # outside the except: one message, no exception chain
            pytest.fail(failure, pytrace=False)
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def pppd(pppd_vm: PppdVm) -> PppdVm:
    """The session's VM for one test: no pppd running, boot mode, options and secret."""
    pppd_vm.reset()
    return pppd_vm


@pytest.fixture
def modem_port(pppd: PppdVm) -> Iterator[serial.Serial]:
    """The VM's modem line, opened raw, with nothing stale in its input."""
    assert pppd.pty is not None
    port = open_port(pppd.pty)
    port.reset_input_buffer()
    try:
        yield port
    finally:
        port.close()
