"""``pppbridge run`` end to end against ``pppbridge simulate`` (a separate process) playing
each fault, by switch or on its control socket: the run's reaction is read from its phase
lines and its exit status (``bridge.run_exit.RunExit``), the modem's side from the
simulator's transcript, the host's from the test's network namespace.

- Fatal problems end the run at once with their status, and nothing left behind: a wrong
  PIN (tried once, never again), a PIN the SIM wants and nobody gave, registration
  denied; a PDP context refused ends it after ``--maxfail``.
- Everything else is recovered: NO CARRIER on dialling, a registration that takes time,
  the carrier dropped, LCP Terminate from the network, a silent link (LCP echo), LCP
  renegotiation (no redial at all), IPV6CP rejected (IPv4 alone), corrupted frames, the
  device unplugged and plugged back (``--link``); after each, traffic flows again.
- Stops: two SIGTERMs (hurried) restore all the same; SIGKILL leaves the state file, and
  the next start undoes what it lists, the DNS file first of all.

The scenarios run at once (``Concurrently``): they mostly wait on the modem, hang-ups,
backoffs and echo timers. Each owns its namespace, simulator, bridge and directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from run_process import Concurrently, RunProcess, TestNamespace, scenarios_fixture
from run_traffic import ECHO_IPV4, EVERYTHING, IPV4_WORKS, everything_works, ipv4_works, ping
from sim_process import SimProcess
from test_tun import needs_root

LINK_ARGS = (
    *("--dns", "none", "--no-default-route", "--holdoff", "0.2"),
    *("--route", "198.51.100.0/24", "--route", "2001:db8:1::/64"),
)
"""Routes to the simulated hosts only, and a short first wait before redialling."""
PIN = "2468"
SCENARIOS: dict[str, Callable[[Path], None]] = {}


def scenario(function: Callable[[Path], None]) -> Callable[[Path], None]:
    SCENARIOS[function.__name__] = function
    return function


@contextmanager
def bridged(
    workdir: Path,
    sim_args: tuple[str, ...] = (),
    run_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[tuple[TestNamespace, SimProcess, RunProcess]]:
    """A namespace, a simulator and a bridge on it, all ended and removed on the way out."""
    with TestNamespace.made() as namespace, SimProcess(workdir, *sim_args) as sim:
        args = ("--device", sim.device, *LINK_ARGS, *run_args)
        with RunProcess(namespace, workdir, *args, env=env) as run:
            yield namespace, sim, run


def assert_ended(run: RunProcess, namespace: TestNamespace, status: int, message: str) -> None:
    """The run ended by itself with ``status`` and one line naming ``message``, and left
    nothing behind."""
    assert run.wait_exit() == status, "\n".join(run.lines + run.errors)
    assert len(run.errors) == 1 and run.errors[0].startswith("pppbridge run: "), run.errors
    assert re.search(message, run.errors[0]), run.errors[0]
    assert "Traceback" not in run.stderr
    assert namespace.state().empty, namespace.state()
    assert list(run.state_dir.iterdir()) == []


def pin_attempts(sim: SimProcess) -> list[str]:
    return re.findall(r"> AT\+CPIN=.*", sim.transcript())


def assert_stopped_clean(run: RunProcess, namespace: TestNamespace) -> None:
    assert run.stop() == 0
    assert run.lines[-1] == "pppbridge: stopped; the host is as it was"
    assert namespace.state().empty, namespace.state()
    assert list(run.state_dir.iterdir()) == []


# --- fatal: the run ends with its status ---------------------------------------------------------


@scenario
def wrong_pin_is_tried_once(workdir: Path) -> None:
    """Exit 4 (SIM); one +CPIN= on the wire, never a second that would use up the tries."""
    with bridged(workdir, ("--pin", PIN), ("--pin", "1357")) as (namespace, sim, run):
        assert_ended(run, namespace, 4, "PIN")
        assert len(pin_attempts(sim)) == 1, sim.transcript()
        assert "1357" not in "\n".join(run.lines + run.errors)


@scenario
def pin_wanted_and_none_given(workdir: Path) -> None:
    """Exit 4 without a single +CPIN= attempt."""
    with bridged(workdir, ("--pin", PIN)) as (namespace, sim, run):
        assert_ended(run, namespace, 4, "PIN")
        assert pin_attempts(sim) == []


@scenario
def pin_from_the_environment_is_entered(workdir: Path) -> None:
    """The right PIN ($PPPBRIDGE_PIN) is entered once, never shown, and the link comes up."""
    env = {"PPPBRIDGE_PIN": PIN}
    with bridged(workdir, ("--pin", PIN), env=env) as (namespace, sim, run):
        run.wait_line("SIM ready, PIN accepted")
        run.wait_line("ready")
        assert namespace.run(ping, ECHO_IPV4) == 3
        assert len(pin_attempts(sim)) == 1
        assert PIN not in "\n".join(run.lines + run.errors)
        assert_stopped_clean(run, namespace)


@scenario
def registration_denied(workdir: Path) -> None:
    """Exit 5 at once: redialling cannot change the network's mind."""
    with bridged(workdir, ("--registration", "denied")) as (namespace, _, run):
        assert_ended(run, namespace, 5, "denied")


@scenario
def pdp_refused_until_maxfail(workdir: Path) -> None:
    """Exit 6 after --maxfail 2 refusals in a row, the first one redialled."""
    with bridged(workdir, ("--pdp-refuse",), ("--maxfail", "2")) as (namespace, _, run):
        assert_ended(run, namespace, 6, r"2 failures in a row: --maxfail")
        assert run.count(".*; dialling again") == 1


# --- recovered: the link comes back ------------------------------------------------------------


@scenario
def registration_delayed(workdir: Path) -> None:
    """The network is found only 2 s after the bridge asked: the bring-up waits for it."""
    sim_args = ("--registration", "searching")
    with bridged(workdir, sim_args, ("-v",)) as (namespace, sim, run):
        run.wait_line(r"> AT\+CEREG\?", stderr=True)
        assert sim.control("registration home 2")["ok"]
        after = float(run.wait_line(r"registered: home network.*after ([0-9.]+) s").group(1))
        assert after >= 2
        run.wait_line("ready")
        assert namespace.run(ipv4_works) == IPV4_WORKS
        assert_stopped_clean(run, namespace)


@scenario
def no_carrier_is_redialled(workdir: Path) -> None:
    """ATD answered NO CARRIER: dialled again after the holdoff until it connects."""
    with bridged(workdir, ("--dial-result", "no-carrier")) as (namespace, sim, run):
        run.wait_line(r".*NO CARRIER.*; dialling again")
        assert sim.control("dial-result connect")["ok"]
        run.wait_line("ready")
        assert namespace.run(everything_works) == EVERYTHING
        assert_stopped_clean(run, namespace)


def redialled_after(fault: str, down: str, workdir: Path, *run_args: str) -> None:
    """Up, ``fault`` on the control socket, "link down" saying ``down``, up again, and
    everything works on the new call."""
    with bridged(workdir, run_args=run_args) as (namespace, sim, run):
        run.wait_line("ready")
        mark = run.mark()
        assert sim.control(fault)["ok"]
        run.wait_line(f"link down after [0-9]+ s: {down}", since=mark)
        if fault == "silent on":
            assert sim.control("silent off")["ok"]
        run.wait_line(r".*; dialling again", since=mark)
        run.wait_line("dialled", since=mark)
        run.wait_line("ready", since=mark)
        assert namespace.run(everything_works) == EVERYTHING
        assert_stopped_clean(run, namespace)


@scenario
def carrier_drop_is_redialled(workdir: Path) -> None:
    redialled_after("drop", r"carrier lost", workdir)


@scenario
def lcp_terminate_is_redialled(workdir: Path) -> None:
    redialled_after("terminate", "peer sent LCP Terminate-Request", workdir)


@scenario
def silent_link_is_found_by_echo_and_redialled(workdir: Path) -> None:
    args = ("--echo-interval", "1", "--echo-failures", "2")
    redialled_after("silent on", "peer stopped answering LCP Echo-Request", workdir, *args)


@scenario
def renegotiation_keeps_the_call(workdir: Path) -> None:
    """LCP renegotiated by the modem: the layers come up again on the same call, nothing
    is redialled, traffic flows."""
    with bridged(workdir) as (namespace, sim, run):
        run.wait_line("ready")
        mark = run.mark()
        assert sim.control("renegotiate")["ok"]
        run.wait_line("the modem renegotiates LCP; traffic waits", since=mark)
        run.wait_line(r"IPv4 up: 203\.0\.113\.10", since=mark)
        run.wait_line(r"IPv6 up: link-local fe80::2", since=mark)
        assert namespace.run(everything_works) == EVERYTHING
        assert run.count("link down") == 0 and run.count("dialled") == 1
        assert_stopped_clean(run, namespace)


@scenario
def ipv6cp_rejected_leaves_ipv4(workdir: Path) -> None:
    """The modem Protocol-Rejects IPV6CP: "no IPv6" said, ready on IPv4 alone, which works."""
    with bridged(workdir, ("--reject-ipv6cp",)) as (namespace, _, run):
        run.wait_line("no IPv6 on this link")
        run.wait_line("ready")
        assert namespace.run(ipv4_works) == IPV4_WORKS
        addresses = namespace.state().addresses
        assert addresses == ("203.0.113.10/32 on pppbridge0",), addresses
        assert run.count("IPv6") == 0
        assert_stopped_clean(run, namespace)


@scenario
def corrupted_frames_are_survived(workdir: Path) -> None:
    """One frame in ten from the modem has a bad FCS: dropped, and retried by LCP, ICMP,
    UDP (tries again) and TCP (retransmits); everything still gets through. The losses
    show: some of 80 single pings go unanswered."""
    with bridged(workdir, ("--corrupt", "0.1", "--seed", "7")) as (namespace, _, run):
        run.wait_line("ready")
        assert namespace.run(everything_works, timeout=120) == EVERYTHING
        answered = namespace.run(ping, ECHO_IPV4, 80, 1, 0.5, timeout=120)
        assert 0 < answered < 80
        assert_stopped_clean(run, namespace)


@scenario
def device_unplugged_and_back(workdir: Path) -> None:
    """The modem's device goes away (the simulator ends and takes its --link symlink) and
    comes back (a new one at the same path): the bridge waits for it and dials again."""
    device = str(workdir / "ttyUSB2")
    first, second = workdir / "first", workdir / "second"
    first.mkdir()
    second.mkdir()
    with TestNamespace.made() as namespace:
        run = RunProcess(namespace, workdir, "--device", device, *LINK_ARGS)
        try:
            with SimProcess(first, "--link", device):
                run.start()
                run.wait_line("ready")
                mark = run.mark()
            run.wait_line("link down after [0-9]+ s: carrier lost", since=mark)
            run.wait_line(f"waiting for {re.escape(device)} to come back", since=mark)
            with SimProcess(second, "--link", device):
                run.wait_line("dialled", since=mark)
                run.wait_line("ready", since=mark)
                assert namespace.run(everything_works) == EVERYTHING
                assert_stopped_clean(run, namespace)
        finally:
            run.stop()


@scenario
def hooks_as_pppds(workdir: Path) -> None:
    """--up-script when ready, --down-script when the call ended, both with pppd's
    variables; the down script is told what the up script was (as pppd's ip-down)."""
    log = workdir / "hooks.log"
    script = workdir / "hook.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $IFNAME $IPLOCAL $IPREMOTE $DNS1 $LLLOCAL" >> {log}\n')
    script.chmod(0o755)
    down = workdir / "down.sh"
    down.symlink_to(script)
    args = ("--up-script", str(script), "--down-script", str(down))
    with bridged(workdir, run_args=args) as (namespace, sim, run):
        run.wait_line("ready")
        mark = run.mark()
        assert sim.control("drop")["ok"]
        run.wait_line("link down after", since=mark)
        run.wait_line("ready", since=mark)
        assert_stopped_clean(run, namespace)
    lines = log.read_text().splitlines()
    values = "pppbridge0 203.0.113.10 203.0.113.1 198.51.100.53 fe80::2"
    assert lines == [
        f"{script} {values}",  # up
        f"{down} {values}",  # down, after the drop: the up script's values
        f"{script} {values}",  # up again
        f"{down} {values}",  # down, at the stop
    ], lines


@scenario
def ppp_auth_refused_is_status_7(workdir: Path) -> None:
    """The network asks CHAP (the simulator's --auth chap) and refuses the empty name and
    secret we answer with, having none configured."""
    with bridged(workdir, ("--auth", "chap")) as (namespace, sim, run):
        assert_ended(run, namespace, 7, "PPP authentication failed")


running = scenarios_fixture(SCENARIOS)


@needs_root
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_fault(scenario: str, running: Concurrently) -> None:
    running.outcome(scenario)
