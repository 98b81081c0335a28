"""Fixtures shared by the test suite.

The pppd VM (``../shared/pppd-vm``) is booted once per session, on first use, by the
``pppd_vm`` fixture; ``pppd`` hands it to one test in its boot-time state (no pppd
running, default options, the modem line answering AT), and ``modem_port`` opens its
pty. Without the VM's scripts the interop tests are skipped; without qemu or socat they
are skipped too, except under CI (CI=true), where .ci/run installs them and a missing
tool is a bug.

One failure must not cascade into the next tests through the shared VM: before a test
the VM is checked (and reset, or rebooted, if it is not healthy), and after a test that
failed it is recovered at once (``vm_recovery``). ``pytest_runtest_makereport`` keeps
each phase's report on the test item so that fixtures can tell a failure in teardown.
What recovery did is logged and listed in a "pppd VM recovery" section at the end of
the run.

A simulator killed before it could clean up (a test's SIGKILL after a stop that took too
long) leaves its ``pppsim-<pid>-<n>`` namespace, and every later ``pppbridge simulate``
reports it on stderr: a test that checks stderr line by line would fail for another
test's leftover. After each test, such namespaces that appeared during it are removed
(our own test's processes made them) and listed in a "namespaces left behind" section.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator

import pytest
import serial
from hypothesis import settings
from pyroute2 import netns

from bridge.simulator.operator import stale_namespaces
from pppd_vm import SHARED_ENV, PppdVm, VmStartError, missing_packages, vm_scripts_dir
from serial_pty import open_port
from vm_recovery import RECOVERIES, Recovery, health_problem, recover

log = logging.getLogger("pppd_vm.recovery")
LEFT_BEHIND: list[str] = []
"""Namespaces of killed simulators removed after a test: "<test>: <names>"."""
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
"""On each test item: its setup/call/teardown reports, as far as they exist yet."""

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def has_failed(node: pytest.Item) -> bool:
    """Whether the setup or the call of this test failed (so far)."""
    return any(report.failed for report in node.stash.get(PHASE_REPORTS, {}).values())


def vm_for_test(vm: PppdVm, nodeid: str) -> None:
    """Before a test: reset ``vm`` to its boot-time state and check it; recover it (up to
    a reboot) when the reset fails or leaves it unhealthy."""
    try:
        vm.reset()
        problem = health_problem(vm)
    except AssertionError as exc:  # VmNotAnswering included
        problem = str(exc).splitlines()[0]
    if problem is not None:
        _recover(vm, f"before {nodeid}: {problem}")


def vm_after_test(vm: PppdVm, node: pytest.Item) -> None:
    """After a test: recover ``vm`` at once when the test failed, so that the VM is in a
    known state even for a test that does not check it first."""
    if has_failed(node):
        _recover(vm, f"after {node.nodeid} failed")


def _recover(vm: PppdVm, why: str) -> Recovery:
    try:
        record = recover(vm, why)
    except (AssertionError, VmStartError) as exc:
        RECOVERIES.append(f"{why}: FAILED: {str(exc).splitlines()[0]}")
        log.error("pppd VM recovery %s", RECOVERIES[-1])
        pytest.fail(f"pppd VM recovery failed ({why}):\n{exc}", pytrace=False)
    RECOVERIES.append(record.describe())
    log.warning("pppd VM recovery %s", record.describe())
    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RECOVERIES:
        terminalreporter.section("pppd VM recovery")
        for line in RECOVERIES:
            terminalreporter.write_line(line)
    if LEFT_BEHIND:
        terminalreporter.section("namespaces left behind by killed simulators (removed)")
        for line in LEFT_BEHIND:
            terminalreporter.write_line(line)


def _namespaces() -> set[str]:
    try:
        return set(netns.listnetns())
    except OSError:
        return set()


@pytest.fixture(autouse=True)
def no_namespace_left_by_a_killed_simulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remove the ``pppsim-*`` namespaces a killed simulator left during this test."""
    before = _namespaces()
    yield
    left = [name for name in stale_namespaces() if name not in before]
    for name in left:
        try:
            netns.remove(name)
        except OSError:
            pass
    if left:
        LEFT_BEHIND.append(f"{request.node.nodeid}: {', '.join(left)}")


@pytest.fixture
def pppd(pppd_vm: PppdVm, request: pytest.FixtureRequest) -> Iterator[PppdVm]:
    """The session's VM for one test: no pppd running, boot mode, options and secret,
    the modem line answering AT; recovered after the test if it failed."""
    vm_for_test(pppd_vm, request.node.nodeid)
    yield pppd_vm
    vm_after_test(pppd_vm, request.node)


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
