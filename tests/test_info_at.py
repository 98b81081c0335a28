"""``pppbridge info`` and ``pppbridge at`` against the simulator.

The pure query (``ModemQuery``) runs against the pure simulated ``Modem`` on virtual time
for every profile, tidy, messy and cut into random pieces, and for the Sequans LR5
(LTE-M) and LR6 (NB-IoT) firmware editions; it only reads. ``OneCommand`` is checked
bytes in, reply out. Then both commands run as processes against ``pppbridge
simulate`` on real ptys: every ending one line and a documented exit status.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import deque
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.at_command import AtOutcome, AtReply, OneCommand, check_command
from bridge.client_exit import ClientExit
from bridge.modem import BringUpFailed, FailureKind, ModemSettings, WriteModem
from bridge.modem.profiles import identify
from bridge.modem.query import ModemQuery, Queried, parse_cops, parse_imsi
from bridge.modem_info import modem_info
from bridge.serial_port import SerialPort, SerialSettings
from bridge.simulator.at_modem import Modem
from bridge.simulator.profiles import PROFILES as SIM_PROFILES
from bridge.simulator.profiles import Profile
from bridge.simulator.settings import Registration, SimSettings
from bridge.status import ModemInfo, from_json
from netstack.errors import UsageError
from netstack.events import WriteSerial
from sim_process import SimProcess

ROOT = Path(__file__).resolve().parent.parent
PROCESS_TIMEOUT = 60.0
READ_ONLY = {
    "AT", "ATE0", "AT+CMEE=1", "AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CGSN", "ATI", "ATI1",
    "AT+CPIN?", "AT+CCID", "AT+SQNCCID?", "AT#CCID", "AT+QCCID", "AT+CIMI", "AT+CEREG?",
    "AT+CGREG?", "AT+COPS?", "AT+CSQ", "AT+CESQ",
}  # fmt: skip
"""What the query may send: reads, and the echo and error format every bring-up sets."""
LR6 = replace(
    SIM_PROFILES["sequans"],
    identification={
        **SIM_PROFILES["sequans"].identification,
        "I1": ("UE6.0.0.0", "LR6.0.0.0-41019"),
    },
    access_technology=9,  # E-UTRAN NB-S1
)
"""A Sequans Monarch with the NB-IoT firmware (Pycom's notes: LR6.x is NB-IoT)."""


def query(
    sim: SimSettings,
    *,
    profile: Profile | None = None,
    dead: bool = False,
    split: bool = False,
    settings: ModemSettings | None = None,
) -> tuple[Queried | BringUpFailed, list[str]]:
    """The query against the simulated modem on virtual time; its end and the command
    lines it wrote."""
    rng = random.Random(7)
    modem = Modem(sim, rng=random.Random(1), now=0.0)
    if profile is not None:
        modem.profile = profile
    machine = ModemQuery(settings or ModemSettings())
    to_dte: deque[bytes] = deque()
    written: list[str] = []
    end: list[Queried | BringUpFailed] = []
    now = 0.0

    def from_modem(outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                data = output.data
                cuts = (
                    sorted(rng.sample(range(1, len(data)), min(3, len(data) - 1))) if split else []
                )
                to_dte.extend(
                    data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)
                )

    def from_machine(outputs: list[object]) -> None:
        for output in outputs:
            if isinstance(output, WriteModem):
                written.append(output.shown)
                if not dead:
                    from_modem(modem.receive(output.data, now))
            elif isinstance(output, Queried | BringUpFailed):
                end.append(output)

    from_modem(modem.start(now))
    from_machine(machine.start(now))
    for _ in range(100_000):
        while to_dte and not end:
            from_machine(machine.receive(to_dte.popleft(), now))
        if end:
            break
        deadlines = [machine.next_deadline(), None if dead else modem.next_deadline()]
        now = max(now, min(d for d in deadlines if d is not None))
        assert now < 1000, "virtual time ran away"
        if not dead:
            from_modem(modem.handle_timer(now))
        from_machine(machine.handle_timer(now))
    assert len(end) == 1
    return end[0], written


# ----------------------------------------------------------- the pure query
@pytest.mark.parametrize("split", [False, True], ids=["whole", "cut"])
@pytest.mark.parametrize("messy", [False, True], ids=["tidy", "messy"])
@pytest.mark.parametrize("name", sorted(SIM_PROFILES))
def test_every_profile_tells_its_identity_sim_registration_and_signal(
    name: str, messy: bool, split: bool
) -> None:
    sim = SIM_PROFILES[name]
    found, written = query(SimSettings(profile=name, messy=messy), split=split)
    assert isinstance(found, Queried), found
    maker, model = sim.identification["+CGMI"][0], sim.identification["+CGMM"][0]
    expected = identify(maker, model)
    assert (found.profile, found.maker, found.model) == (expected.name, maker, model)
    assert found.firmware == sim.identification["+CGMR"][0]
    assert (found.imei, found.iccid, found.imsi) == (sim.imei, sim.iccid, sim.imsi)
    assert found.sim == "READY"
    assert found.registration is not None and found.registration.stat == 1
    act = 9 if messy else sim.access_technology
    assert found.technology == expected.access_technologies[act]
    assert found.operator == "Simulated Operator"
    assert (found.signal.rssi_dbm, found.signal.rsrp_dbm, found.signal.rsrq_db) == (-73, -96, -10)
    if messy:  # its registration lines carry the location whatever <n> is
        assert (found.registration.area, found.registration.cell) == ("00C3", "0A2B3C4D")
    assert set(written) <= READ_ONLY, set(written) - READ_ONLY


def test_sequans_lr5_is_lte_m() -> None:
    found, _ = query(SimSettings(profile="sequans"))
    assert isinstance(found, Queried)
    assert (found.edition, found.edition_firmware) == ("LTE-M", "LR5.1.1.0-39529")
    info = modem_info(found, "/dev/ttyUSB0")
    assert info.modem.edition == "LTE-M" and info.registration is not None
    assert info.registration.technology == "LTE-M"


def test_sequans_lr6_is_nb_iot() -> None:
    found, written = query(SimSettings(profile="sequans"), profile=LR6)
    assert isinstance(found, Queried)
    assert (found.edition, found.edition_firmware) == ("NB-IoT", "LR6.0.0.0-41019")
    assert found.technology == "NB-IoT"
    assert "ATI1" in written


def test_other_profiles_have_no_edition() -> None:
    for name in ("generic", "quectel", "telit", "ublox"):
        found, written = query(SimSettings(profile=name))
        assert isinstance(found, Queried) and found.edition is None
        assert "ATI1" not in written


def test_a_sim_that_wants_its_pin_is_shown_so_and_no_pin_is_sent() -> None:
    found, written = query(SimSettings(pin="1234"))
    assert isinstance(found, Queried)
    assert found.sim == "SIM PIN"
    assert found.imsi is None and "AT+CIMI" not in written  # the IMSI needs the PIN
    assert found.iccid == SIM_PROFILES["generic"].iccid  # the ICCID does not
    assert not [w for w in written if w.startswith("AT+CPIN=")]
    info = modem_info(found)
    assert info.registration is not None and info.registration.registered is False


@pytest.mark.parametrize(
    ("registration", "state"),
    [
        (Registration.DENIED, "denied"),
        (Registration.SEARCHING, "searching"),
        (Registration.ROAMING, "roaming"),
    ],
)
def test_the_registration_state_is_read_as_it_is(registration: Registration, state: str) -> None:
    found, _ = query(SimSettings(registration=registration))
    assert isinstance(found, Queried)
    info = modem_info(found)
    assert info.registration is not None and info.registration.state == state


def test_a_modem_that_never_answers_ends_not_answering() -> None:
    end, written = query(SimSettings(), dead=True)
    assert isinstance(end, BringUpFailed) and end.kind is FailureKind.NOT_ANSWERING
    assert set(written) == {"AT"}


def test_a_v250_line_has_only_an_identity() -> None:
    found, written = query(SimSettings(), settings=ModemSettings(profile="v250"))
    assert isinstance(found, Queried) and found.profile == "v250"
    assert found.sim is None and found.registration is None
    info = modem_info(found)
    assert info.registration is None
    assert not [w for w in written if "CPIN" in w or "REG" in w or "COPS" in w]


def test_info_json_goes_through_json_and_back() -> None:
    found, _ = query(SimSettings(profile="sequans"))
    assert isinstance(found, Queried)
    from bridge.status import to_json

    info = modem_info(found, "/dev/ttyUSB0")
    assert from_json(ModemInfo, json.loads(json.dumps(to_json(info)))) == info


# ------------------------------------------------------------------- parsers
@pytest.mark.parametrize(
    ("lines", "imsi"),
    [
        (["001010123456789"], "001010123456789"),
        (["+CIMI: 310260123456789"], "310260123456789"),  # some vendors prefix it
        (['"234150999999999"'], "234150999999999"),
        (["ERROR"], None),
        (["12345"], None),  # too short
        (["0010101234567890"], None),  # 16 digits: not an IMSI
    ],
)
def test_parse_imsi(lines: list[str], imsi: str | None) -> None:
    assert parse_imsi(lines) == imsi


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ('+COPS: 0,0,"Simulated Operator",7', ("Simulated Operator", 7)),
        ('+COPS: 0,2,"00101",9', ("00101", 9)),
        ("+COPS: 0", (None, None)),  # not registered: no operator
        ('+COPS:1,0,"Op"', ("Op", None)),
        ("+COPS: x,0", None),
        ("+CSQ: 20,99", None),
    ],
)
def test_parse_cops(line: str, parsed: tuple[str | None, int | None] | None) -> None:
    assert parse_cops(line) == parsed


@given(st.text())
def test_the_parsers_never_raise(text: str) -> None:
    parse_cops(text)
    parse_cops("+COPS:" + text)
    parse_imsi([text])


# -------------------------------------------------------------- one command
def one(command: str, *replies: bytes, timeout: float = 5.0) -> AtReply | None:
    machine = OneCommand(command, timeout)
    written = machine.start(0.0)
    assert isinstance(written[0], WriteModem) and written[0].data == command.encode() + b"\r"
    outputs: list[object] = []
    for reply in replies:
        outputs += machine.receive(reply, 1.0)
    deadline = machine.next_deadline()
    if deadline is not None and not [o for o in outputs if isinstance(o, AtReply)]:
        outputs += machine.handle_timer(deadline)
    ends = [o for o in outputs if isinstance(o, AtReply)]
    assert len(ends) <= 1
    return ends[0] if ends else None


def test_one_command_ok_with_lines_echo_and_urc_apart() -> None:
    reply = one("AT+CSQ", b"AT+CSQ\r\r\n+CSQ: 20,99\r\n", b"\r\n+CEREG: 1\r\n\r\nOK\r\n")
    assert reply == AtReply("AT+CSQ", AtOutcome.OK, ("+CSQ: 20,99",), "OK")
    assert reply.exit_status is ClientExit.OK


@pytest.mark.parametrize(
    ("raw", "final"),
    [
        (b"\r\nERROR\r\n", "ERROR"),
        (b"\r\n+CME ERROR: 10\r\n", "+CME ERROR: 10 SIM not inserted"),
        (b"\r\n+CMS ERROR: 500\r\n", "+CMS ERROR: 500"),
        (b"\r\nNO CARRIER\r\n", "NO CARRIER"),
        (b"\r\nBUSY\r\n", "BUSY"),
    ],
)
def test_one_command_error_results_exit_1(raw: bytes, final: str) -> None:
    reply = one("AT+X", raw)
    assert reply is not None and reply.outcome is AtOutcome.ERROR and reply.final == final
    assert reply.exit_status is ClientExit.FAILED


def test_one_command_timeout_exits_3_and_connect_exits_0() -> None:
    silent = one("AT", timeout=2.0)
    assert silent == AtReply("AT", AtOutcome.TIMEOUT, (), None)
    assert silent.exit_status is ClientExit.NO_ANSWER
    online = one("ATD*99#", b"\r\nCONNECT 150000000\r\n~\x7e")
    assert online is not None and online.outcome is AtOutcome.CONNECT
    assert online.final == "CONNECT 150000000" and online.exit_status is ClientExit.OK


@pytest.mark.parametrize("bad", ["CSQ", "", "  ", "AT+CSQ\rATH", 'AT+CPIN="é"'])
def test_what_is_not_one_at_command_is_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        check_command(bad)


def test_an_at_reply_goes_through_json_and_back() -> None:
    reply = AtReply("ATI", AtOutcome.OK, ("Quectel", "BG96"), "OK")
    assert AtReply.from_json(json.loads(json.dumps(reply.to_json()))) == reply
    for bad in ([], {"outcome": "ok", "lines": "x"}, {"outcome": "maybe", "lines": []}):
        with pytest.raises(ValueError):
            AtReply.from_json(bad)


# ------------------------------------------------------------- as processes
def pppbridge(*args: str) -> tuple[int, str, str]:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bridge.observe_cli", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=PROCESS_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"pppbridge {' '.join(args)}: still running") from None
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("name", sorted(SIM_PROFILES))
def test_info_against_the_simulator_process(name: str, tmp_path: Path) -> None:
    sim = SIM_PROFILES[name]
    with SimProcess(tmp_path, "--no-namespace", "--profile", name) as process:
        status, out, err = pppbridge("info", "--device", process.device, "--json")
        assert (status, err) == (0, "")
        info = from_json(ModemInfo, json.loads(out))
        status, text, err = pppbridge("info", "--device", process.device)
        assert (status, err) == (0, "")
        assert "AT+CPIN=" not in process.transcript()
    modem = info.modem
    assert modem.device == process.device
    assert (modem.imei, modem.iccid, modem.imsi, modem.sim) == (
        sim.imei, sim.iccid, sim.imsi, "READY"
    )  # fmt: skip
    assert modem.model == sim.identification["+CGMM"][0]
    assert info.registration is not None and info.registration.state == "home"
    assert info.signal is not None and info.signal.rsrp_dbm == -96
    assert f"IMEI: {sim.imei}" in text and "state: home" in text
    if name == "sequans":
        assert "edition: LTE-M (LR5.1.1.0-39529)" in text
        assert "access tech: LTE-M" in text


def test_info_mistakes_are_one_line(tmp_path: Path) -> None:
    status, out, err = pppbridge("info", "--device", str(tmp_path / "ttyUSB9"))
    assert (status, out) == (ClientExit.USAGE, "")
    assert err.startswith(f"pppbridge info: error: {tmp_path}/ttyUSB9: no such device")
    status, _, err = pppbridge("info")
    assert status == ClientExit.USAGE and "--device" in err
    with SimProcess(tmp_path, "--no-namespace") as process:
        held = SerialPort.open(SerialSettings(process.device))
        try:
            status, _, err = pppbridge(
                "info", "--device", process.device, "--state-dir", str(tmp_path)
            )
        finally:
            held.close()
    assert status == ClientExit.USAGE and len(err.splitlines()) == 1 and "busy" in err


def test_at_against_the_simulator_process(tmp_path: Path) -> None:
    with SimProcess(tmp_path, "--no-namespace", "--profile", "telit") as process:
        device = ("--device", process.device)
        assert pppbridge("at", *device, "AT+CGMM") == (0, "ME910C1-WW\nOK\n", "")
        assert pppbridge("at", *device, "AT+NOPE") == (ClientExit.FAILED, "ERROR\n", "")
        status, out, _ = pppbridge("at", *device, "ATD*99***1#")
        assert (status, out) == (0, "CONNECT\n")
        assert pppbridge("at", *device, "AT") == (0, "OK\n", "")  # hung up: AT again


def test_at_on_a_line_nobody_answers_ends_with_status_3() -> None:
    master, slave = os.openpty()  # a terminal with nothing behind it
    try:
        status, out, err = pppbridge("at", "--device", os.ttyname(slave), "--timeout", "0.5", "AT")
    finally:
        os.close(slave)
        os.close(master)
    assert (status, out, err) == (ClientExit.NO_ANSWER, "no final result within 0.5 s\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "/dev/null", "AT"], "/dev/null: not a terminal"),
        (["--device", "/nonexistent/tty", "AT"], "/nonexistent/tty: no such device"),
        (["--timeout", "0", "--device", "/dev/null", "AT"], "the timeout must be more than 0"),
        (["--device", "/dev/null", "ATI\u00e9"], "an AT command is printable ASCII"),
    ],
)
def test_at_mistakes_are_one_line_and_status_2(args: list[str], message: str) -> None:
    status, out, err = pppbridge("at", *args)
    assert (status, out) == (ClientExit.USAGE, "")
    assert len(err.splitlines()) == 1 and err.startswith("pppbridge at: error: ")
    assert message in err
