"""``pppbridge run`` for containers and least privilege, end to end: the bridge in one
network namespace (the "host", with the modem) puts its TUN in another (``--netns``: the
"container"), whose kernel then reaches the simulated network through the link while the
host's namespace holds nothing of it; and the bridge run as a plain user with
CAP_NET_ADMIN only, over a persistent TUN that user owns (``pppbridge tun-setup``).
"""

from __future__ import annotations

import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run_process import LINE_TIMEOUT, ROOT, RunProcess, TestNamespace
from run_traffic import ECHO_IPV4, ping
from sim_process import SimProcess
from test_tun import NOBODY, needs_root

pytestmark = needs_root
LINK_ARGS = ("--dns", "none", "--no-default-route", "--route", "198.51.100.0/24")


def test_netns_puts_the_link_in_the_container_namespace(tmp_path: Path) -> None:
    with TestNamespace.made() as host, TestNamespace.made() as container:
        with SimProcess(tmp_path) as sim:
            args = ("--device", sim.device, "--netns", container.name, *LINK_ARGS)
            with RunProcess(host, tmp_path, *args) as run:
                run.wait_line("ready")
                assert container.run(ping, ECHO_IPV4) == 3
                assert "pppbridge0" in container.state().links
                assert host.state().empty  # the host's namespace holds nothing of it
                assert run.stop() == 0
            assert container.state().empty
            assert host.state().empty


# The bridge as uid 65534 with CAP_NET_ADMIN alone. This Python may live where that user
# cannot read (root's home), so the child starts as root, imports everything, then drops
# to the user keeping CAP_NET_ADMIN only (prctl PR_SET_KEEPCAPS, setuid, capset: for this
# process what systemd's User= with AmbientCapabilities= gives), and runs the bridge.
AS_PLAIN_USER = """
import ctypes, os, sys
import bridge.cli, bridge.run, bridge.run_settings, bridge.supervisor, bridge.netconfig
import bridge.capabilities as caps
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(8, 1, 0, 0, 0) == 0  # PR_SET_KEEPCAPS: keep the permitted set
os.setgroups([])
os.setgid(int(sys.argv[1]))
os.setuid(int(sys.argv[1]))
caps.keep_only([caps.CAP_NET_ADMIN])  # permitted kept across setuid, made effective again
sys.exit(bridge.cli.main(sys.argv[2:]))
"""


def test_run_as_a_plain_user_with_cap_net_admin_over_a_persistent_tun(tmp_path: Path) -> None:
    # A state directory the user can reach (pytest's tmp_path is in a root-only 0700 tree).
    state = Path(tempfile.mkdtemp(prefix="pppbridge-user-state-"))
    os.chmod(state, 0o755)
    os.chown(state, NOBODY, NOBODY)
    try:
        run_as_plain_user(tmp_path, state)
    finally:
        shutil.rmtree(state)


def run_as_plain_user(tmp_path: Path, state: Path) -> None:
    with TestNamespace.made() as namespace, SimProcess(tmp_path) as sim:
        os.chmod(os.path.realpath(sim.device), 0o666)  # the test's own pty
        setup = namespace.command(
            sys.executable, "-m", "bridge", "tun-setup", "--user", str(NOBODY)
        )
        subprocess.run(setup, cwd=ROOT, check=True, capture_output=True, timeout=LINE_TIMEOUT)
        # /dev/net/tun is 0600 on this machine (0666 on most): the user gets a node of the
        # test's own, 0666, bound over it in a mount namespace of the child's alone.
        node = tmp_path / "tun"
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(10, 200))
        os.chmod(node, 0o666)
        code = ["-c", AS_PLAIN_USER, str(NOBODY), "run"]
        args = ("--device", sim.device, "--state-dir", str(state), *LINK_ARGS)
        bind = f'mount --bind {node} /dev/net/tun && exec "$@"'
        inner = ["unshare", "--mount", "sh", "-c", bind, "sh", sys.executable, *code, *args]
        command = namespace.command(*inner)
        with subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as bridge:
            try:
                seen = wait_for_line(bridge, "pppbridge: ready", LINE_TIMEOUT * 2)
                assert namespace.run(ping, ECHO_IPV4) == 3
                status = Path(f"/proc/{bridge.pid}/status").read_text()
                assert f"Uid:\t{NOBODY}" in status
                assert "CapEff:\t0000000000001000" in status, status
            finally:
                bridge.terminate()
                out, err = bridge.communicate(timeout=LINE_TIMEOUT)
        assert bridge.returncode == 0, seen + out + err
        assert "Traceback" not in err
        subprocess.run(
            namespace.command(sys.executable, "-m", "bridge", "tun-setup", "--remove"),
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=LINE_TIMEOUT,
        )


def wait_for_line(process: subprocess.Popen[str], start: str, timeout: float) -> str:
    """Standard output read until a line starts with ``start`` (bounded); all of it.
    Read from the descriptor itself: select and a buffered readline do not mix."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = ""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], remaining)
        chunk = os.read(fd, 4096).decode() if ready else ""
        if not chunk:
            break
        seen += chunk
        if any(line.startswith(start) for line in seen.splitlines()):
            return seen
    raise AssertionError(f"no {start!r} within {timeout} s: {seen}")


def test_route_from_and_masquerade_take_a_containers_traffic_over_the_link(
    tmp_path: Path,
) -> None:
    """A "container" namespace behind a veth (test_policy_routing's topology) reaches the
    simulated hosts through the bridge's cellular link, by policy routing for its prefix
    and source NAT; the bridge's own default route (over its uplink) stays as it was, and
    the rules and the NAT table are gone after the bridge stops."""
    from test_policy_routing import (
        CONTAINER_NET,
        IFNAME,
        main_table,
        make_topology,
        nothing_left,
    )

    with SimProcess(tmp_path) as sim:
        for topology in make_topology():
            before = topology.bridge.run(main_table)
            args = ("--device", sim.device, "--interface", IFNAME)
            args += ("--route-from", str(CONTAINER_NET), "--masquerade", *LINK_ARGS)
            with RunProcess(topology.bridge, tmp_path, *args) as run:
                run.wait_line("ready")
                assert topology.container.run(ping, ECHO_IPV4) == 3
                during = topology.bridge.run(main_table)
                assert before <= during  # the uplink's default route is still there
                assert run.stop() == 0
            assert topology.bridge.run(main_table) == before
            nothing_left(topology)
