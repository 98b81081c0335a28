"""``pppbridge run`` against a real pppd 2.4.9 (the pppd VM in server mode: a minimal
modem that answers AT with OK and ATD with CONNECT, then pppd), in a network namespace
the test makes: the TUN comes up with 192.0.2.2, the kernel's own ICMP, UDP and TCP reach
192.0.2.1 through it; with PAP and CHAP; pppd killed in the VM (``ctl.sh hangup``) and
pppd's own Terminate each lead to a redial and traffic again. The VM's modem speaks only
V.250, hence ``--profile v250``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interop_bounds import LINK_DOWN, LINK_UP
from pppd_vm import PppdVm
from run_process import RunProcess, TestNamespace
from run_traffic import ping, tcp_echo, udp_echo
from test_tun import needs_root

pytestmark = [pytest.mark.interop, needs_root]
PEER = "192.0.2.1"
SERVER_OPTIONS = "local passive 192.0.2.1:192.0.2.2 ms-dns 192.0.2.53 +ipv6 ipv6 ::1,::2 debug"


def bridge_args(pppd: PppdVm, *extra: str) -> list[str]:
    assert pppd.pty is not None
    return [
        "--device", pppd.pty, "--profile", "v250", "--apn", "test",
        "--dns", "none", "--no-default-route", "--route", "192.0.2.0/24",
        "--holdoff", "1", "--maxfail", "0", *extra,
    ]  # fmt: skip


def traffic(namespace: TestNamespace) -> dict[str, object]:
    def through_the_link() -> dict[str, object]:
        return {
            "ping": ping(PEER),
            "udp": udp_echo(PEER, b"to pppd's echo server") == b"to pppd's echo server",
            "tcp": tcp_echo(PEER, bytes(range(256)) * 8) == bytes(range(256)) * 8,
        }

    return namespace.run(through_the_link, timeout=LINK_UP)


EXPECTED = {"ping": 3, "udp": True, "tcp": True}


def up(run: RunProcess, since: int = 0) -> None:
    run.wait_line(r"IPv4 up: 192\.0\.2\.2 peer 192\.0\.2\.1, DNS 192\.0\.2\.53", LINK_UP, since)
    run.wait_line("ready", LINK_UP, since)


def test_run_brings_the_tun_up_and_redials_after_hangup_and_terminate(
    pppd: PppdVm, tmp_path: Path
) -> None:
    with TestNamespace.made() as namespace:
        with RunProcess(namespace, tmp_path, *bridge_args(pppd)) as run:
            up(run)
            run.wait_line(r"IPv6 up: link-local fe80::2", LINK_UP)
            assert traffic(namespace) == EXPECTED
            for how, end in (("hangup", "carrier lost"), ("terminate", "peer sent LCP Term")):
                mark = run.mark()
                assert pppd.hangup() if how == "hangup" else pppd.ctl("terminate") is not None
                run.wait_line(f"link down after .*{end}", LINK_DOWN, mark)
                run.wait_line("dialled", LINK_UP, mark)
                up(run, mark)
                assert traffic(namespace) == EXPECTED, how
            assert run.stop() == 0
        assert namespace.state().empty


@pytest.mark.parametrize("auth", ["pap", "chap"])
def test_run_authenticates_to_pppd(pppd: PppdVm, tmp_path: Path, auth: str) -> None:
    pppd.ctl("options", f"{SERVER_OPTIONS} auth require-{auth}")
    pppd.ctl("secret", "alice", "s3cret")
    args = bridge_args(pppd, "--user", "alice", "--password", "s3cret")
    with TestNamespace.made() as namespace, RunProcess(namespace, tmp_path, *args) as run:
        name = "PAP" if auth == "pap" else "CHAP-MD5"
        run.wait_line(rf"authenticated \({name}\)", LINK_UP)
        up(run)
        assert traffic(namespace) == EXPECTED
        assert "s3cret" not in "\n".join(run.lines + run.errors)
        assert run.stop() == 0


def test_run_with_a_wrong_password_ends_with_status_7(pppd: PppdVm, tmp_path: Path) -> None:
    pppd.ctl("options", f"{SERVER_OPTIONS} auth require-chap")
    pppd.ctl("secret", "alice", "s3cret")
    args = bridge_args(pppd, "--user", "alice", "--password", "wrong")
    with TestNamespace.made() as namespace, RunProcess(namespace, tmp_path, *args) as run:
        assert run.wait_exit(LINK_UP) == 7
        assert "PPP authentication failed" in run.stderr
        assert namespace.state().empty
