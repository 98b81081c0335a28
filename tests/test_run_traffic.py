"""``pppbridge run`` end to end against ``pppbridge simulate`` as a separate process, for
every vendor profile the simulator plays, plain and ``--messy``: the kernel's own sockets,
inside a network namespace the test makes, reach the simulated operator network through
the bridge's TUN (ICMP, UDP and TCP over IPv4 and IPv6, DNS); the host is configured as
the link says (addresses, the global IPv6 address from the Router Advertisement, default
routes, DNS servers in the test's own file), and a SIGTERM puts it all back.

The ten scenarios run at once (``Concurrently``): each mostly waits, on the modem, the
hang-up or the kernel.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from bridge.simulator.profiles import PROFILES
from run_process import Concurrently, RunProcess, TestNamespace, scenarios_fixture
from run_traffic import EVERYTHING, everything_works
from sim_process import SimProcess
from test_tun import needs_root

ORIGINAL_DNS = b"# the test's own resolv.conf\nnameserver 192.0.2.53\noptions edns0\n"
"""What the ``--dns file:PATH`` file holds before: put back byte for byte."""


def traffic_then_the_host_as_it_was(profile: str, messy: bool, workdir: Path) -> None:
    dns = workdir / "resolv.conf"
    dns.write_bytes(ORIGINAL_DNS)
    sim_args = ["--profile", profile, *(["--messy"] if messy else [])]
    with TestNamespace.made() as namespace, SimProcess(workdir, *sim_args) as sim:
        with RunProcess(namespace, workdir, "--device", sim.device, "--dns", f"file:{dns}") as run:
            run.wait_line("ready")
            # u-blox SARA-R412M announces no IPv4 address of its own: no peer then
            run.wait_line(r"IPv4 up: 203\.0\.113\.10( peer 203\.0\.113\.1)?, DNS 198\.51\.100\.53 ")
            run.wait_line(r"IPv6 global address 2001:db8:2::2 \(from the network's Router Adv")
            configured = namespace.state()
            written = dns.read_bytes()
            assert namespace.run(everything_works) == EVERYTHING
            status = run.stop()
        assert (status, run.lines[-1]) == (0, "pppbridge: stopped; the host is as it was")
        assert run.errors == []
        assert {"pppbridge0"} == set(configured.links)
        assert {
            "203.0.113.10/32 on pppbridge0",
            "fe80::2/128 on pppbridge0",
            "2001:db8:2::2/64 on pppbridge0",
        } <= set(configured.addresses)
        assert {"0.0.0.0/0 dev pppbridge0", "::/0 dev pppbridge0"} <= set(configured.routes)
        assert written.startswith(b"nameserver 198.51.100.53\nnameserver 198.51.100.54\n")
        assert namespace.state().empty, namespace.state()
    assert dns.read_bytes() == ORIGINAL_DNS
    assert list(run.state_dir.iterdir()) == []


SCENARIOS = {
    f"{profile}-{'messy' if messy else 'plain'}": partial(
        traffic_then_the_host_as_it_was, profile, messy
    )
    for profile in sorted(PROFILES)
    for messy in (False, True)
}


running = scenarios_fixture(SCENARIOS)


@needs_root
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_traffic_through_the_tun_then_the_host_as_it_was(
    scenario: str, running: Concurrently
) -> None:
    running.outcome(scenario)
