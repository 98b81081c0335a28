"""``pppbridge run`` leaves the host as it was, however it is stopped, end to end against
``pppbridge simulate`` as a separate process: no interface, address, route or DNS entry
stays behind in the test's network namespace, and the state directory ends empty.

- SIGINT and SIGHUP stop it politely (LCP Terminate, the modem hung up), as SIGTERM does
  (tests/test_run_traffic.py); a second signal hurries: no hang-up at all.
- A stop during the bring-up or while the device is gone removes the TUN made at start.
- SIGKILL leaves the state file, listing what was done; the next start undoes it (the
  DNS file restored byte for byte), gets the modem out of the call the killed one left,
  and dials.
- ``--dns resolvconf`` rewrites the namespace's own resolv.conf (``ip netns exec`` binds
  /etc/netns/NAME/resolv.conf over /etc/resolv.conf; the host's is never touched, and a
  guard refuses to start the bridge where that binding is missing): the system resolver
  (getaddrinfo) then finds the simulated network's names through the link.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import pytest

from run_process import LINE_TIMEOUT, Concurrently, RunProcess, TestNamespace, scenarios_fixture
from run_traffic import ECHO_IPV4, ECHO_IPV6, EVERYTHING, everything_works, ping
from sim_process import SimProcess
from test_tun import needs_root

ORIGINAL_DNS = b"# the test's own resolv.conf\nnameserver 192.0.2.53\n"
ROUTES = ("--route", "198.51.100.0/24", "--route", "2001:db8:1::/64")
STOPPED = "pppbridge: stopped; the host is as it was"
SCENARIOS: dict[str, Callable[[Path], None]] = {}


def scenario(function: Callable[[Path], None], name: str = "") -> Callable[[Path], None]:
    SCENARIOS[name or function.__name__] = function
    return function


def dns_file(workdir: Path) -> Path:
    path = workdir / "resolv.conf"
    path.write_bytes(ORIGINAL_DNS)
    return path


def link_args(dns: Path, *more: str) -> tuple[str, ...]:
    return ("--dns", f"file:{dns}", "--no-default-route", *ROUTES, "--holdoff", "0.2", *more)


def assert_as_it_was(namespace: TestNamespace, run: RunProcess, dns: Path) -> None:
    assert namespace.state().empty, namespace.state()
    assert list(run.state_dir.iterdir()) == []
    assert dns.read_bytes() == ORIGINAL_DNS


def polite_stop(signum: signal.Signals, workdir: Path) -> None:
    """The call ends with LCP Terminate and ATH, then the host is put back."""
    dns = dns_file(workdir)
    with TestNamespace.made() as namespace, SimProcess(workdir) as sim:
        with RunProcess(namespace, workdir, "--device", sim.device, *link_args(dns)) as run:
            run.wait_line("ready")
            run.signal(signum)
            assert run.wait_exit() == 0
        assert run.lines[-2:] == [
            f"pppbridge: {signum.name}: hanging up and restoring (again: at once)",
            STOPPED,
        ]
        transcript = sim.transcript()
        assert "peer sent LCP Terminate-Request: pppbridge is stopping" in transcript
        assert "> ATH" in transcript
        assert_as_it_was(namespace, run, dns)


for _signum in (signal.SIGINT, signal.SIGHUP):
    scenario(partial(polite_stop, _signum), f"polite_stop_by_{_signum.name}")


@scenario
def second_signal_hurries(workdir: Path) -> None:
    """The second SIGTERM comes as the first one's line does: the hang-up (about 2.6 s of
    DTR and +++ guard times) is skipped, and the host is put back all the same."""
    dns = dns_file(workdir)
    with TestNamespace.made() as namespace, SimProcess(workdir) as sim:
        with RunProcess(namespace, workdir, "--device", sim.device, *link_args(dns)) as run:
            run.wait_line("ready")
            run.signal(signal.SIGTERM)
            run.wait_line("SIGTERM: hanging up and restoring")
            run.signal(signal.SIGTERM)
            assert run.wait_exit() == 0
        assert run.lines[-1] == STOPPED
        assert "> ATH" not in sim.transcript()
        assert_as_it_was(namespace, run, dns)


@scenario
def stop_during_the_bring_up(workdir: Path) -> None:
    """Stopped while the modem searches for a network: the TUN made at start goes too."""
    dns = dns_file(workdir)
    with (
        TestNamespace.made() as namespace,
        SimProcess(workdir, "--registration", "searching") as sim,
    ):
        args = ("--device", sim.device, *link_args(dns, "-v"))
        with RunProcess(namespace, workdir, *args) as run:
            run.wait_line(r"> AT\+CEREG\?", stderr=True)
            assert namespace.state().links == ("pppbridge0",)
            run.signal(signal.SIGTERM)
            assert run.wait_exit() == 0
        assert run.lines[-1] == STOPPED
        assert_as_it_was(namespace, run, dns)


@scenario
def stop_while_the_device_is_gone(workdir: Path) -> None:
    """Stopped while waiting for an unplugged modem to come back."""
    dns = dns_file(workdir)
    device = str(workdir / "ttyACM0")
    with TestNamespace.made() as namespace:
        run = RunProcess(namespace, workdir, "--device", device, *link_args(dns))
        try:
            with SimProcess(workdir, "--link", device):
                run.start()
                run.wait_line("ready")
                mark = run.mark()
            run.wait_line(f"waiting for {re.escape(device)} to come back", since=mark)
            run.signal(signal.SIGTERM)
            assert run.wait_exit() == 0
        finally:
            run.stop()
        assert run.lines[-1] == STOPPED
        assert_as_it_was(namespace, run, dns)


@scenario
def sigkill_then_the_next_start_cleans_up(workdir: Path) -> None:
    dns = dns_file(workdir)
    with TestNamespace.made() as namespace, SimProcess(workdir) as sim:
        args = ("--device", sim.device, *link_args(dns))
        with RunProcess(namespace, workdir, *args) as killed:
            killed.wait_line("ready")
            killed.signal(signal.SIGKILL)
            assert killed.wait_exit() == -signal.SIGKILL
        state = json.loads((killed.state_dir / "pppbridge0.json").read_text())
        listed = {change["kind"] for change in state["changes"]}
        assert listed == {"link", "address", "route", "file"}
        assert dns.read_bytes().startswith(b"nameserver 198.51.100.53\n")
        # The TUN went with the killed process's descriptor, its addresses and routes too.
        assert namespace.state().empty
        with RunProcess(namespace, workdir, *args) as run:
            run.wait_line(f"cleaned up after an earlier run: {re.escape(str(dns))}: restored")
            assert dns.read_bytes() == ORIGINAL_DNS
            run.wait_line("ready", timeout=90)  # after ~20 s of AT tries to a modem in a call
            assert namespace.run(everything_works) == EVERYTHING
            assert run.stop() == 0
        assert run.lines[-1] == STOPPED
        assert_as_it_was(namespace, run, dns)


# The bridge runs only where /etc/resolv.conf is the namespace's own (its first line is
# the marker): without the binding it would be the host's.
GUARD = 'head -n1 /etc/resolv.conf | grep -qxF "$0" || { echo "guard: not bound" >&2; exit 99; }'
RESOLVE = """
import socket, sys
for family in (socket.AF_INET, socket.AF_INET6):
    print(socket.getaddrinfo(sys.argv[1], 7, family, socket.SOCK_STREAM)[0][4][0])
"""


@scenario
def resolvconf_serves_the_system_resolver(workdir: Path) -> None:
    real = Path("/etc/resolv.conf").read_bytes()
    with TestNamespace.made() as namespace, namespace_resolv_conf(namespace) as resolv_conf:
        original = resolv_conf.read_bytes()
        with SimProcess(workdir) as sim:
            args = ("--device", sim.device, "--dns", "resolvconf", "--no-default-route", *ROUTES)
            prefix = ("sh", "-c", f'{GUARD}; exec "$@"', original.decode().splitlines()[0])
            with RunProcess(namespace, workdir, *args, prefix=prefix) as run:
                run.wait_line("ready")
                written = resolv_conf.read_bytes()
                command = namespace.command(sys.executable, "-c", RESOLVE, "echo.pppbridge.test")
                found = subprocess.run(
                    command, capture_output=True, text=True, timeout=LINE_TIMEOUT, check=False
                )
                assert namespace.run(ping, ECHO_IPV4) == 3
                assert run.stop() == 0
        assert found.stdout.split() == [ECHO_IPV4, ECHO_IPV6], found.stderr
        assert written.startswith(b"# Written by pppbridge for pppbridge0")
        assert b"\nnameserver 198.51.100.53\n" in written
        assert resolv_conf.read_bytes() == original
        assert namespace.state().empty and list(run.state_dir.iterdir()) == []
    assert Path("/etc/resolv.conf").read_bytes() == real


@contextmanager
def namespace_resolv_conf(namespace: TestNamespace) -> Iterator[Path]:
    """/etc/netns/NAME/resolv.conf, which ``ip netns exec NAME`` binds over
    /etc/resolv.conf; removed after, with /etc/netns if this made it."""
    top = Path("/etc/netns")
    made_top = not top.exists()
    directory = top / namespace.name
    directory.mkdir(parents=True)
    path = directory / "resolv.conf"
    path.write_text(f"# {namespace.name}: its own resolv.conf\nnameserver 192.0.2.53\n")
    try:
        yield path
    finally:
        shutil.rmtree(directory)
        if made_top:
            with suppress(OSError):  # not empty: someone else's namespace uses it now
                top.rmdir()


running = scenarios_fixture(SCENARIOS)


@needs_root
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_host_as_it_was(scenario: str, running: Concurrently) -> None:
    running.outcome(scenario)
