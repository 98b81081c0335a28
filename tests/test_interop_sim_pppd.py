"""Real pppd 2.4.9 as the client of ``pppbridge simulate``: the independent check that our
answering side is right.

A second pppd VM runs in client mode with manual redial: for each test the simulator
starts on the VM's pty, the test sets pppd's options (and chat script), then tells pppd
to dial. pppd dials with chat (``AT``, ``ATE0``, ``AT+CGDCONT``, ``ATD*99***1#``) as a
Linux host does, and its log says what it negotiated and saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_pppd_vm, vm_after_test, vm_for_test
from interop_bounds import CLIENT_CALL, ECHO_WATCH, LOG_LINE, SIM_WAIT
from pppd_vm import PppdVm, VmStartError
from sim_process import SimProcess

pytestmark = pytest.mark.interop

CLIENT_OPTIONS = (
    "local nocrtscts noauth noipdefault usepeerdns +ipv6 debug user test password secret"
)
"""The VM's client-mode defaults (its README), which a ``ctl options`` replaces whole."""
CHAT_IPV4V6 = "\n".join(
    [
        "ABORT ERROR",
        'ABORT "NO CARRIER"',
        "ABORT BUSY",
        "TIMEOUT 3",
        '"" AT',
        "OK-AT-OK-AT-OK ATE0",
        'OK AT+CGDCONT=1,"IPV4V6","test.apn"',
        "TIMEOUT 20",
        "OK ATD*99***1#",
        'CONNECT ""',
    ]
)
IP_UP = (
    r"pppd-vm: ip-up ppp0 203\.0\.113\.10 -> 203\.0\.113\.1"
    r" dns 198\.51\.100\.53 198\.51\.100\.54"
)


@pytest.fixture(scope="module")
def dialler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PppdVm]:
    """A pppd VM in client mode that dials only when told to (``ctl dial``)."""
    require_pppd_vm()
    vm = PppdVm(tmp_path_factory.mktemp("pppd-client"))
    try:
        failure = None
        try:
            vm.start("client", redial="manual")
        except VmStartError as exc:
            failure = str(exc)
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        yield vm
    finally:
        vm.stop()


class Call:
    """One dial of pppd against one simulator process."""

    def __init__(self, vm: PppdVm, sim: SimProcess) -> None:
        self.vm = vm
        self.sim = sim
        self.mark = vm.log_offset()

    def wait(self, pattern: str, timeout: float = CLIENT_CALL) -> re.Match[str]:
        return self.vm.wait_log(pattern, timeout, since=self.mark)

    def log(self) -> str:
        return self.vm.console_log(since=self.mark)

    def sim_wait(self, command: str) -> dict:
        """A simulator control command that waits (``ping ADDR COUNT``, ``wait ipv6``...),
        given ``SIM_WAIT`` as its TIMEOUT; it answers as soon as what it waits for came."""
        return self.sim.control(f"{command} {SIM_WAIT:.0f}", timeout=SIM_WAIT + 30)


@pytest.fixture
def call(dialler: PppdVm, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    """``call(sim_args, options=..., chat=...)``: start the simulator, then pppd dials.
    The VM is checked (reset, recovered if need be) before the test, and put back in
    its boot-time state after it: hung up, chat gone, default options (recovered, up to
    a reboot, if the test failed or that does not work)."""
    vm_for_test(dialler, request.node.nodeid)
    started: list[SimProcess] = []

    def dial(*sim_args: str, options: str = CLIENT_OPTIONS, chat: str | None = None) -> Call:
        assert dialler.pty is not None
        sim = SimProcess(tmp_path, "--link", dialler.pty, *sim_args)
        sim.start()
        started.append(sim)
        dialler.ctl("options", options)
        if chat is not None:
            dialler.ctl("chat", chat)
        placed = Call(dialler, sim)
        dialler.ctl("dial")
        return placed

    try:
        yield dial
    finally:
        try:
            vm_after_test(dialler, request.node)  # recovers it if the test failed
            vm_for_test(dialler, f"after {request.node.nodeid}")  # else resets it
        finally:
            for sim in started:
                sim.stop()


@pytest.mark.parametrize("auth", ["none", "pap", "chap"])
def test_pppd_reaches_the_network_phase(call, auth: str) -> None:
    placed = call("--auth", auth)
    placed.wait(IP_UP)
    log = placed.log()
    assert "local  IP address 203.0.113.10" in log
    assert "remote IP address 203.0.113.1" in log
    assert "primary   DNS address 198.51.100.53" in log
    if auth == "pap":
        assert "PAP authentication succeeded" in log
    elif auth == "chap":
        assert "CHAP authentication succeeded" in log
    # pppd's kernel answers the pings the simulated network sends it.
    pings = placed.sim_wait("ping 203.0.113.10 3")
    assert pings["ok"] and pings["received"] == 3, pings
    transcript = placed.sim.transcript()
    assert '> AT+CGDCONT=1,"IP","test.apn"' in transcript and "< CONNECT" in transcript


def test_pppd_with_a_wrong_chap_secret_is_refused(call) -> None:
    placed = call("--auth", "chap", "--password", "not-the-secret")
    placed.wait(r"CHAP authentication failed")
    placed.wait(r"pppd-vm: client: pppd exited")
    assert "ip-up" not in placed.log()


def test_pppd_gets_ipv6_and_a_global_address_from_the_advertisement(call) -> None:
    placed = call("--profile", "telit", chat=CHAT_IPV4V6)
    placed.wait(IP_UP)
    placed.wait(r"local  LL address fe80::0000:0000:0000:0002")
    placed.wait(r"remote LL address fe80::0000:0000:0000:0001")
    assert placed.sim_wait("wait ipv6")["ipv6"]
    # The kernel formed 2001:db8:2::2 from the Router Advertisement (SLAAC, RFC 4862).
    mark = placed.vm.log_offset()
    placed.vm.ctl("status")
    placed.vm.wait_log(r"inet6 2001:db8:2::2/64", LOG_LINE, since=mark)
    pings = placed.sim_wait("ping 2001:db8:2::2 2")
    assert pings["received"] == 2, pings
    # Telit's quirk: a Discard-Request right after LCP opens, which pppd takes quietly.
    assert re.search(r"rcvd \[LCP DiscReq", placed.log())


def test_pppd_survives_lcp_echo_for_a_minute(call) -> None:
    placed = call(options=CLIENT_OPTIONS + " lcp-echo-interval 1 lcp-echo-failure 3 debug")
    placed.wait(IP_UP)
    start = placed.vm.log_offset()
    with pytest.raises(AssertionError):
        # Nothing like this may appear for a minute: a watched property, not a wait.
        placed.vm.wait_log(
            r"No response to|Serial link appears|pppd exited", ECHO_WATCH, since=start
        )
    echoes = placed.vm.console_log(since=start).count("rcvd [LCP EchoRep")
    assert echoes >= 50, f"only {echoes} echo replies in a minute"
    assert placed.sim.control("status")["phase"] == "network"


def test_pppd_sees_the_network_terminate(call) -> None:
    placed = call()
    placed.wait(IP_UP)
    assert placed.sim.control("terminate")["ok"]
    placed.wait(r"rcvd \[LCP TermReq")
    placed.wait(r"LCP terminated by peer")
    placed.wait(r"pppd-vm: client: pppd exited")
    assert placed.sim_wait("wait no-call")["call"] is False


def test_pppd_sees_the_carrier_drop(call) -> None:
    """No LCP Terminate: pppd (``local``, no DCD on this line) finds out from its echoes."""
    placed = call(options=CLIENT_OPTIONS + " lcp-echo-interval 1 lcp-echo-failure 3")
    placed.wait(IP_UP)
    assert placed.sim.control("drop")["ok"]
    placed.wait(r"No response to 3 echo-requests", LOG_LINE)
    placed.wait(r"Serial link appears to be disconnected")
    assert "rcvd [LCP TermReq" not in placed.log()


def test_pppd_sees_ipv6cp_rejected(call) -> None:
    placed = call("--reject-ipv6cp", chat=CHAT_IPV4V6)
    placed.wait(r"Protocol-Reject for 'IPv6 Control Protocol' \(0x8057\) received")
    placed.wait(IP_UP)
    pings = placed.sim_wait("ping 203.0.113.10 1")
    assert pings["received"] == 1, pings
