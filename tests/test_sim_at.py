"""The simulated modem's AT side, as a DTE sees it: identification per vendor, V.250
framing and editing, +CME ERROR, the SIM, radio and registration, PDP contexts and their
addresses, dialling, secrets kept out of the transcript, and ``--messy`` output.

Expected replies are written out as data (the strings the vendors' modems print), not
read back from ``profiles.py``; addresses are checked against ``ipaddress``. Everything
runs on virtual time through ``tests.sim_pair.SimPair``.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from bridge.simulator.at_modem import Mode
from bridge.simulator.at_parser import MAX_DIGITS, Command, Form, parse_line
from bridge.simulator.plan import DEFAULT_PLAN
from bridge.simulator.profiles import PROFILES
from bridge.simulator.settings import DialResult, NetworkAuth, Registration, SimSettings
from netstack.config import LinkConfig
from netstack.events import DownReason, LinkDown, LinkUp
from netstack.secret import Secret
from tests.sim_pair import SimPair

CLIENT6 = DEFAULT_PLAN.client_global_ipv6
LOCATED = '"00C3","0A2B3C4D"'


def make(settings: SimSettings | None = None, *, cmee: int = 1, **kwargs: object) -> SimPair:
    """A pair with echo off and +CME ERROR numbers on, boot URCs read and dropped."""
    pair = SimPair(settings or SimSettings(), **kwargs)  # type: ignore[arg-type]
    pair.lines()
    assert pair.at(f"ATE0+CMEE={cmee}") == ["ATE0+CMEE=" + str(cmee), "OK"]
    return pair


def outputs(pair: SimPair, produced: list[object]) -> None:
    """Hand what a direct ``Modem`` call produced (a fault, a registration) to the pair."""
    pair._apply(produced)


# ----------------------------------------------------------------- identification

IDENTIFICATION: dict[str, list[tuple[str, list[str]]]] = {
    "generic": [
        ("ATI", ["pppbridge simulated modem", "Revision: SIM-1.0"]),
        ("AT+CGMI", ["pppbridge"]),
        ("AT+CGMM", ["Simulated LTE modem"]),
        ("AT+CGMR", ["SIM-1.0"]),
        ("AT+CGSN", ["490154203237518"]),
        ("AT+CGSN=1", ['+CGSN: "490154203237518"']),
        ("AT+CIMI", ["001010123456789"]),
        ("AT+CCID", ["+CCID: 8900101234567890123"]),
    ],
    "sequans": [
        ("ATI", ["SEQUANS Communications", "VZM20Q", "UE5.0.0.0d"]),
        ("ATI1", ["UE5.0.0.0d", "LR5.1.1.0-39529"]),
        ("AT+CGMI", ["SEQUANS Communications"]),
        ("AT+CGMM", ["VZM20Q"]),
        ("AT+CGMR", ["UE5.0.0.0d"]),
        ("AT+CGSN", ["354347094405312"]),
        ("AT+CGSN=1", ['+CGSN: "354347094405312"']),
        ("AT+CIMI", ["001010000012345"]),
        ("AT+SQNCCID", ['+SQNCCID: "89882280666027595366",""']),
        ("AT+SQNCCID?", ['+SQNCCID: "89882280666027595366",""']),
    ],
    "telit": [
        ("ATI", ["Telit"]),
        ("ATI3", ["Telit"]),
        ("ATI4", ["ME910C1-WW"]),
        ("AT+CGMI", ["Telit"]),
        ("AT+CGMM", ["ME910C1-WW"]),
        ("AT+CGMR", ["M0B.660006"]),
        ("AT+GMI", ["Telit"]),
        ("AT+GMM", ["ME910C1-WW"]),
        ("AT+GMR", ["M0B.660006"]),
        ("AT#CGMR", ["#CGMR: M0B.660006"]),
        ("AT+CGSN", ["351234567890123"]),
        ("AT+CGSN=1", ['+CGSN: "351234567890123"']),
        ("AT+CIMI", ["001010000054321"]),
        ("AT#CCID", ["#CCID: 89390100001234567890"]),
    ],
    "quectel": [
        ("ATI", ["Quectel", "BG96", "Revision: BG96MAR02A07M1G"]),
        ("AT+CGMI", ["Quectel"]),
        ("AT+CGMM", ["BG96"]),
        ("AT+CGMR", ["BG96MAR02A07M1G"]),
        ("AT+GMR", ["BG96MAR02A07M1G"]),
        ("AT+CGSN", ["866425030012345"]),
        ("AT+CGSN=1", ['+CGSN: "866425030012345"']),
        ("AT+CIMI", ["001010000067890"]),
        ("AT+QCCID", ["+QCCID: 89860318760286123456"]),
    ],
    "ublox": [
        (
            "ATI",
            [
                "Manufacturer: u-blox",
                "Model: SARA-R410M-02B",
                "Revision: L0.0.00.00.05.06 [Feb 03 2018 13:00:41]",
                "SVN: 02",
                "IMEI: 352753090123456",
            ],
        ),
        ("ATI9", ["L0.0.00.00.05.06,A.02.01"]),
        ("AT+CGMI", ["u-blox"]),
        ("AT+CGMM", ["SARA-R410M-02B"]),
        ("AT+GMM", ["SARA-R410M-02B"]),
        ("AT+CGMR", ["L0.0.00.00.05.06 [Feb 03 2018 13:00:41]"]),
        ("AT+CGSN", ["352753090123456"]),
        ("AT+CGSN=1", ['+CGSN: "352753090123456"']),
        ("AT+CIMI", ["001010000013579"]),
        ("AT+CCID", ["+CCID: 89011703278100123456"]),
    ],
}

ICCID_COMMANDS = {"AT+CCID", "AT+SQNCCID", "AT#CCID", "AT+QCCID"}


def test_every_profile_has_a_row() -> None:
    assert set(IDENTIFICATION) == set(PROFILES)


@pytest.mark.parametrize(
    ("profile", "command", "expected"),
    [(name, command, lines) for name, rows in IDENTIFICATION.items() for command, lines in rows],
)
def test_identification_is_the_vendors(profile: str, command: str, expected: list[str]) -> None:
    pair = make(SimSettings(profile=profile))
    assert pair.at(command) == [*expected, "OK"]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_v250_gmx_answer_like_cgmx(profile: str) -> None:
    pair = make(SimSettings(profile=profile))
    for short, long in (("+GMI", "+CGMI"), ("+GMM", "+CGMM"), ("+GMR", "+CGMR")):
        assert pair.at("AT" + short) == pair.at("AT" + long)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_other_vendors_iccid_commands_are_unknown(profile: str) -> None:
    pair = make(SimSettings(profile=profile))
    own = {command for command, _ in IDENTIFICATION[profile]} & ICCID_COMMANDS
    assert len(own) == 1
    for command in sorted(ICCID_COMMANDS - own):
        assert pair.at(command) == ["ERROR"], command
    assert pair.at("ATI7") == ["ERROR"]


DETECTION = {
    ("pppbridge", "Simulated LTE modem"): "generic",
    ("SEQUANS Communications", "VZM20Q"): "sequans",
    ("Telit", "ME910C1-WW"): "telit",
    ("Quectel", "BG96"): "quectel",
    ("u-blox", "SARA-R410M-02B"): "ublox",
}
"""(+CGMI, +CGMM) -> profile, as a driver would key its vendor table."""


def test_manufacturer_and_model_pairs_are_distinct() -> None:
    assert len(set(DETECTION)) == len(set(DETECTION.values())) == len(PROFILES)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_the_bridge_can_detect_the_profile(profile: str) -> None:
    pair = make(SimSettings(profile=profile))
    [manufacturer, ok1] = pair.at("AT+CGMI")
    [model, ok2] = pair.at("AT+CGMM")
    assert ok1 == ok2 == "OK"
    assert DETECTION[(manufacturer, model)] == profile


# ------------------------------------------------------------------------ V.250


def test_echo_returns_the_command_before_the_reply() -> None:
    pair = SimPair()
    pair.send(b"AT")
    assert pair.writes == [b"AT"]  # echoed while typing, before the terminator
    pair.send(b"+CGMI\r")
    assert pair.writes == [b"AT", b"+CGMI\r", b"\r\npppbridge\r\n\r\nOK\r\n"]


def test_ate0_stops_the_echo_and_ate1_restores_it() -> None:
    pair = SimPair()
    pair.send(b"ATE0\r")
    assert pair.writes == [b"ATE0\r", b"\r\nOK\r\n"]  # E0 still echoes its own line
    pair.writes.clear()
    pair.send(b"AT+CGMI\r")
    assert pair.writes == [b"\r\npppbridge\r\n\r\nOK\r\n"]
    pair.writes.clear()
    pair.send(b"ATE1\r")
    pair.send(b"AT\r")
    assert pair.writes == [b"\r\nOK\r\n", b"AT\r", b"\r\nOK\r\n"]


def test_crlf_framing_of_information_lines_and_final_results() -> None:
    pair = make()
    pair.writes.clear()
    pair.send(b"ATI\r")
    pair.send(b"AT+BOGUS\r")
    assert pair.writes == [
        b"\r\npppbridge simulated modem\r\nRevision: SIM-1.0\r\n\r\nOK\r\n",
        b"\r\nERROR\r\n",
    ]


def test_atv0_numeric_results() -> None:
    pair = make()
    pair.writes.clear()
    for line in (b"ATV0\r", b"AT\r", b"AT+BOGUS\r", b"AT+CGMI\r", b"ATV1\r"):
        pair.send(line)
    assert pair.writes == [b"0\r", b"0\r", b"4\r", b"pppbridge\r\n0\r", b"\r\nOK\r\n"]


def test_atv0_call_results_are_numbers_too() -> None:
    pair = make(SimSettings(dial_result=DialResult.BUSY))
    pair.send(b"ATV0\r")
    pair.writes.clear()
    pair.send(b"ATD*99#\r")
    assert pair.writes == [b"7\r"]


def test_atq1_suppresses_results_but_not_information() -> None:
    pair = make()
    pair.writes.clear()
    for line in (b"ATQ1\r", b"AT\r", b"AT+BOGUS\r", b"AT+CGMI\r", b"ATQ0\r"):
        pair.send(line)
    assert pair.writes == [b"\r\npppbridge\r\n", b"\r\nOK\r\n"]


def test_s_registers_set_and_read() -> None:
    pair = make()
    assert pair.at("ATS12=20") == ["OK"]
    assert pair.at("ATS12?") == ["020", "OK"]
    assert pair.at("ATS3?") == ["013", "OK"]
    assert pair.at("ATS12=256") == ["ERROR"]
    assert pair.at("ATS12?") == ["020", "OK"]


def test_atz_resets_echo_results_s_registers_and_cmee() -> None:
    pair = make(cmee=2)
    assert pair.at("ATV0S12=20") == ["0"]
    assert pair.at("ATZ") == ["OK"]  # answered with the settings ATZ restored
    assert pair.at("AT+CMEE?") == ["AT+CMEE?", "+CMEE: 0", "OK"]  # echo is back on
    assert pair.at("ATS12?") == ["ATS12?", "050", "OK"]


def test_basic_and_extended_commands_chain_on_one_line() -> None:
    pair = SimPair()
    assert pair.at("ATE0V1+CMEE=2;+CGMI") == ["ATE0V1+CMEE=2;+CGMI", "pppbridge", "OK"]
    assert pair.at("AT+CMEE?;+CGMM") == ["+CMEE: 2", "Simulated LTE modem", "OK"]
    assert pair.at("at+cgmi") == ["pppbridge", "OK"]


def test_an_error_stops_the_rest_of_the_line() -> None:
    pair = make(cmee=0)
    assert pair.at("AT+CGMI;+BOGUS;+CGMM") == ["pppbridge", "ERROR"]
    assert pair.at("ATE1+BOGUS;+CMEE=2") == ["ERROR"]
    assert pair.at("AT+CMEE?") == ["AT+CMEE?", "+CMEE: 0", "OK"]  # E1 ran, +CMEE=2 did not


@pytest.mark.parametrize(
    "command", ["AT+BOGUS", "AT+BOGUS?", "AT+BOGUS=?", "ATY", "AT#NOPE=1", "AT+"]
)
def test_unknown_commands_answer_error(command: str) -> None:
    assert make().at(command) == ["ERROR"]


def test_a_slash_repeats_the_last_line_without_a_terminator() -> None:
    pair = make()
    assert pair.at("AT+CGMI;+CGMM") == ["pppbridge", "Simulated LTE modem", "OK"]
    pair.send(b"A/")  # V.250 5.2.4: no <CR> needed
    assert pair.lines() == ["pppbridge", "Simulated LTE modem", "OK"]
    pair.send(b"a/\r")  # a terminator after it is an empty line, ignored
    assert pair.lines() == ["pppbridge", "Simulated LTE modem", "OK"]


def test_garbage_before_at_is_ignored() -> None:
    pair = make()
    assert pair.at("\x00\x1bxyz~~AT+CGMI") == ["pppbridge", "OK"]
    assert pair.at("no command here") == []


def test_backspace_edits_the_line() -> None:
    pair = make()
    assert pair.at("AT+CGMX\x08I") == ["pppbridge", "OK"]
    assert pair.at("\x08\x08AT+CGMMMM\x08\x08\x08I") == ["pppbridge", "OK"]


def test_overlong_garbage_is_bounded_and_the_modem_recovers() -> None:
    pair = make()
    pair.writes.clear()
    for _ in range(100):
        pair.send(b"x" * 1000)  # 100 kB without a terminator
    pair.send(b"\r")
    assert pair.writes == []
    assert pair.at("AT") == ["OK"]
    # An overlong line keeps only its last 1024 bytes: its "AT" is gone, so it is noise.
    assert pair.at('AT+CGDCONT=1,"IP","' + "a" * 5000 + '"') == []
    # ... while a command after the noise, in the same line, still runs.
    assert pair.at("x" * 5000 + "AT") == ["OK"]
    assert pair.at("AT+CGDCONT?") == ['+CGDCONT: 1,"IPV4V6","","",0,0', "OK"]


@pytest.mark.parametrize(
    ("cmee", "expected"),
    [(0, "ERROR"), (1, "+CME ERROR: 11"), (2, "+CME ERROR: SIM PIN required")],
)
def test_cme_error_follows_cmee(cmee: int, expected: str) -> None:
    pair = make(SimSettings(pin="1234"), cmee=cmee)
    assert pair.at("AT+CMEE?") == [f"+CMEE: {cmee}", "OK"]
    assert pair.at("AT+CIMI") == [expected]


def test_cmee_out_of_range_is_refused() -> None:
    pair = make(cmee=2)
    assert pair.at("AT+CMEE=3") == ["+CME ERROR: incorrect parameters"]
    assert pair.at("AT+CMEE=?") == ["+CMEE: (0-2)", "OK"]


# -------------------------------------------------------------------------- SIM


def test_cpin_ready_without_a_pin_and_sim_pin_with_one() -> None:
    assert make().at("AT+CPIN?") == ["+CPIN: READY", "OK"]
    assert make().at('AT+CPIN="1234"') == ["+CME ERROR: 3"]  # nothing to unlock
    assert make(SimSettings(pin="1234")).at("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]


def test_right_pin_unlocks() -> None:
    pair = make(SimSettings(pin="1234"))
    assert pair.at('AT+CPIN="1234"') == ["OK"]
    assert pair.at("AT+CPIN?") == ["+CPIN: READY", "OK"]
    assert pair.at("AT+CIMI") == ["001010123456789", "OK"]


def test_three_wrong_pins_lock_the_sim_until_the_puk() -> None:
    pair = make(SimSettings(pin="1234", puk="87654321"))
    for left in (2, 1, 0):
        assert pair.at('AT+CPIN="0000"') == ["+CME ERROR: 16"]
        assert pair.at("AT+CPINR") == [
            f"+CPINR: SIM PIN,{left},3",
            "+CPINR: SIM PUK,10,10",
            "OK",
        ]
    assert pair.at("AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]
    assert pair.at('AT+CPIN="1234"') == ["+CME ERROR: 16"]  # the PIN no longer helps
    assert pair.at("AT+CIMI") == ["+CME ERROR: 12"]  # SIM PUK required
    assert pair.at('AT+CPIN="87654321","4321"') == ["OK"]
    assert pair.at("AT+CPIN?") == ["+CPIN: READY", "OK"]
    assert pair.at("AT+CPINR") == ["+CPINR: SIM PIN,3,3", "+CPINR: SIM PUK,9,10", "OK"]


def test_puk_without_a_valid_new_pin_is_refused() -> None:
    pair = make(SimSettings(pin="1234", puk="87654321"))
    for _ in range(3):
        pair.at('AT+CPIN="0000"')
    assert pair.at('AT+CPIN="87654321"') == ["+CME ERROR: 16"]
    assert pair.at('AT+CPIN="87654321","12"') == ["+CME ERROR: 16"]
    assert pair.at('AT+CPIN="abcd"') == ["+CME ERROR: 50"]
    assert pair.at("AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]


@pytest.mark.parametrize(
    "command", ["AT+CIMI", "AT+CGATT=1", "AT+CGACT=1,1", "ATD*99***1#", "AT+COPS=0"]
)
def test_commands_needing_the_sim_are_refused_while_locked(command: str) -> None:
    pair = make(SimSettings(pin="1234"))
    assert pair.at(command) == ["+CME ERROR: 11"]
    assert pair.client is None


def test_commands_needing_the_sim_work_after_the_pin() -> None:
    pair = make(SimSettings(pin="1234"))
    pair.at('AT+CPIN="1234"')
    assert pair.at("AT+CIMI") == ["001010123456789", "OK"]
    assert pair.at("AT+CGATT=1") == ["OK"]
    assert pair.at("AT+CGACT=1,1") == ["OK"]
    assert pair.dial("ATD*99***1#") == ["CONNECT"]


def test_registration_starts_only_after_the_pin() -> None:
    pair = make(SimSettings(pin="1234", registration_delay=2.0))
    assert pair.at("AT+CEREG=1") == ["OK"]
    pair.advance(10)
    assert pair.lines() == []
    assert pair.at("AT+CEREG?") == ["+CEREG: 1,0", "OK"]
    assert pair.at('AT+CPIN="1234"') == ["+CEREG: 2", "OK"]
    start = pair.now
    pair.run_until(lambda: b"+CEREG: 1\r" in pair.line, limit=5)
    assert pair.now == start + 2.0
    assert pair.lines() == ["+CEREG: 1"]


# ----------------------------------------------------------- radio, registration


def test_cfun_switches_the_radio() -> None:
    pair = make()
    assert pair.at("AT+CFUN?") == ["+CFUN: 1", "OK"]
    assert pair.at("AT+CFUN=?") == ["+CFUN: (0,1,4),(0-1)", "OK"]
    for fun in (4, 0):
        assert pair.at(f"AT+CFUN={fun}") == ["OK"]
        assert pair.at("AT+CFUN?") == [f"+CFUN: {fun}", "OK"]
        assert pair.at("AT+CEREG?") == ["+CEREG: 0,0", "OK"]
        assert pair.at("AT+CFUN=1") == ["OK"]
        assert pair.at("AT+CEREG?") == ["+CEREG: 0,1", "OK"]
    assert pair.at("AT+CFUN=5") == ["+CME ERROR: 50"]
    assert pair.at("AT+CFUN=1,2") == ["+CME ERROR: 50"]


def test_cops_read_test_deregister_and_automatic() -> None:
    pair = make()
    assert pair.at("AT+COPS?") == ['+COPS: 0,0,"Simulated Operator",7', "OK"]
    assert pair.at("AT+COPS=?") == [
        '+COPS: (2,"Simulated Operator","SimOp","00101",7),,(0-4),(0-2)',
        "OK",
    ]
    assert pair.at("AT+COPS=2") == ["OK"]
    assert pair.at("AT+COPS?") == ["+COPS: 2", "OK"]
    assert pair.at("AT+CREG?") == ["+CREG: 0,0", "OK"]
    assert pair.at("AT+COPS=3,2") == ["OK"]  # print format only: still deregistered
    assert pair.at("AT+COPS?") == ["+COPS: 2", "OK"]
    assert pair.at("AT+COPS=0") == ["OK"]
    assert pair.at("AT+COPS?") == ['+COPS: 0,0,"Simulated Operator",7', "OK"]
    assert pair.at("AT+COPS=9") == ["+CME ERROR: 50"]


@pytest.mark.parametrize("name", ["+CREG", "+CGREG", "+CEREG"])
def test_registration_read_forms_per_mode(name: str) -> None:
    pair = make(SimSettings(profile="quectel"))  # NB-IoT: AcT 9
    assert pair.at(f"AT{name}=?") == [f"{name}: (0-2)", "OK"]
    assert pair.at(f"AT{name}?") == [f"{name}: 0,1", "OK"]
    assert pair.at(f"AT{name}=1") == ["OK"]
    assert pair.at(f"AT{name}?") == [f"{name}: 1,1", "OK"]
    assert pair.at(f"AT{name}=2") == ["OK"]
    assert pair.at(f"AT{name}?") == [f"{name}: 2,1,{LOCATED},9", "OK"]
    assert pair.at(f"AT{name}=3") == ["+CME ERROR: 50"]


@pytest.mark.parametrize("name", ["+CREG", "+CGREG", "+CEREG"])
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (0, ["OK", "OK"]),
        (1, ["{name}: 0", "OK", "{name}: 1", "OK"]),
        (2, ["{name}: 0", "OK", "{name}: 1," + LOCATED + ",7", "OK"]),
    ],
)
def test_registration_urcs_per_mode(name: str, mode: int, expected: list[str]) -> None:
    pair = make()
    assert pair.at(f"AT{name}={mode}") == ["OK"]
    pair.send(b"AT+CFUN=4\r")
    pair.send(b"AT+CFUN=1\r")
    # The URC form has no leading <n>; each comes before the OK of the command that
    # caused it.
    assert pair.lines() == [line.format(name=name) for line in expected]


def test_registration_urcs_only_on_change() -> None:
    pair = make()
    assert pair.at("AT+CEREG=1") == ["OK"]
    assert pair.at("AT+CFUN=1") == ["OK"]  # already on: no change, no URC
    assert pair.at("AT+COPS=0") == ["OK"]
    pair.advance(100)
    assert pair.lines() == []
    assert pair.at("AT+CFUN=4") == ["+CEREG: 0", "OK"]
    assert pair.at("AT+CFUN=0") == ["OK"]  # still 0


def test_registration_delay_searches_then_registers_at_the_deadline() -> None:
    pair = make(SimSettings(registration_delay=5.0))
    assert pair.at("AT+CEREG=1;+CREG=2") == ["OK"]
    assert pair.at("AT+CEREG?") == ["+CEREG: 1,2", "OK"]
    assert pair.at("AT+CREG?") == ["+CREG: 2,2", "OK"]  # searching: no location yet
    assert pair.at("AT+CGATT?") == ["+CGATT: 0", "OK"]
    pair.run_until(lambda: bool(pair.line), limit=10)
    assert pair.now == 5.0
    assert pair.lines() == [f"+CREG: 1,{LOCATED},7", "+CEREG: 1"]
    assert pair.at("AT+CEREG?") == ["+CEREG: 1,1", "OK"]
    assert pair.at("AT+CGATT?") == ["+CGATT: 1", "OK"]


def test_roaming() -> None:
    pair = make(SimSettings(registration=Registration.ROAMING))
    assert pair.at("AT+CEREG?;+CGREG?") == ["+CEREG: 0,5", "+CGREG: 0,5", "OK"]
    assert pair.at("AT+COPS?") == ['+COPS: 0,0,"Simulated Operator",7', "OK"]
    assert pair.at("AT+CGATT?") == ["+CGATT: 1", "OK"]
    assert pair.dial() == ["CONNECT"]


def test_denied() -> None:
    pair = make(SimSettings(registration=Registration.DENIED))
    assert pair.at("AT+CEREG=2") == ["OK"]
    assert pair.at("AT+CEREG?") == ["+CEREG: 2,3", "OK"]  # no location when denied
    assert pair.at("AT+COPS?") == ["+COPS: 0", "OK"]
    assert pair.at("AT+CGATT=1") == ["+CME ERROR: 30"]
    assert pair.dial() == ["NO CARRIER"]


def test_searching_forever() -> None:
    pair = make(SimSettings(registration=Registration.SEARCHING, registration_delay=1.0))
    assert pair.at("AT+CEREG=1") == ["OK"]
    pair.advance(3600)
    assert pair.lines() == []
    assert pair.modem.next_deadline() is None
    assert pair.at("AT+CEREG?") == ["+CEREG: 1,2", "OK"]
    assert pair.at("AT+CGACT=1,1") == ["+CME ERROR: 30"]


def test_set_registration_mid_run_gives_urcs() -> None:
    pair = make()
    assert pair.at("AT+CREG=1;+CEREG=2") == ["OK"]
    outputs(pair, pair.modem.set_registration(Registration.ROAMING, 3.0, pair.now))
    assert pair.lines() == ["+CREG: 2", "+CEREG: 2"]
    pair.run_until(lambda: bool(pair.line), limit=10)
    assert pair.now == 3.0
    assert pair.lines() == ["+CREG: 5", f"+CEREG: 5,{LOCATED},7"]
    outputs(pair, pair.modem.set_registration(Registration.DENIED, 0.0, pair.now))
    assert pair.lines() == ["+CREG: 3", "+CEREG: 3"]
    assert any(note.text == "network registration -> denied in 0 s" for note in pair.notes)


def test_cgatt_read_and_set() -> None:
    pair = make()
    assert pair.at("AT+CGATT?") == ["+CGATT: 1", "OK"]
    assert pair.at("AT+CGATT=?") == ["+CGATT: (0,1)", "OK"]
    assert pair.at("AT+CGATT=0") == ["OK"]
    assert pair.at("AT+CGATT?") == ["+CGATT: 0", "OK"]
    assert pair.dial() == ["NO CARRIER"]  # detached: no packet data
    assert pair.at("AT+CGATT=1") == ["OK"]
    assert pair.at("AT+CGATT?") == ["+CGATT: 1", "OK"]
    assert pair.at("AT+CGATT=2") == ["+CME ERROR: 50"]
    assert pair.at("AT+CFUN=4") == ["OK"]
    assert pair.at("AT+CGATT=1") == ["+CME ERROR: 30"]  # needs registration
    assert pair.at("AT+CGATT?") == ["+CGATT: 0", "OK"]


def test_signal_quality_with_the_radio_on_and_off() -> None:
    pair = make()
    assert pair.at("AT+CSQ") == ["+CSQ: 20,99", "OK"]
    assert pair.at("AT+CESQ") == ["+CESQ: 99,99,255,255,20,45", "OK"]
    assert pair.at("AT+CSQ=?") == ["+CSQ: (0-31,99),(0-7,99)", "OK"]
    assert pair.at("AT+CFUN=4") == ["OK"]
    assert pair.at("AT+CSQ") == ["+CSQ: 99,99", "OK"]
    assert pair.at("AT+CESQ") == ["+CESQ: 99,99,255,255,255,255", "OK"]


# -------------------------------------------------------------------------- PDP


def test_cgdcont_set_read_and_test() -> None:
    pair = make()
    assert pair.at("AT+CGDCONT?") == ['+CGDCONT: 1,"IPV4V6","","",0,0', "OK"]
    assert pair.at('AT+CGDCONT=1,"IP","internet"') == ["OK"]
    assert pair.at('AT+CGDCONT=2,"ipv6","v6.apn"') == ["OK"]
    assert pair.at('AT+CGDCONT=3,"IPV4V6","dual"') == ["OK"]
    assert pair.at("AT+CGDCONT?") == [
        '+CGDCONT: 1,"IP","internet","",0,0',
        '+CGDCONT: 2,"IPV6","v6.apn","",0,0',
        '+CGDCONT: 3,"IPV4V6","dual","",0,0',
        "OK",
    ]
    assert pair.at("AT+CGDCONT=?") == [
        '+CGDCONT: (1-16),"IP",,,(0-2),(0-4)',
        '+CGDCONT: (1-16),"IPV6",,,(0-2),(0-4)',
        '+CGDCONT: (1-16),"IPV4V6",,,(0-2),(0-4)',
        "OK",
    ]


@pytest.mark.parametrize(
    "command",
    [
        'AT+CGDCONT=1,"PPP","x"',
        'AT+CGDCONT=1,"X25"',
        'AT+CGDCONT=0,"IP"',
        'AT+CGDCONT=17,"IP"',
        "AT+CGDCONT=one",
    ],
)
def test_cgdcont_bad_arguments_are_cme_50(command: str) -> None:
    pair = make()
    assert pair.at(command) == ["+CME ERROR: 50"]
    assert pair.at("AT+CGDCONT?") == ['+CGDCONT: 1,"IPV4V6","","",0,0', "OK"]


def test_cgdcont_with_only_the_cid_undefines_the_context() -> None:
    pair = make()
    assert pair.at('AT+CGDCONT=2,"IP","second"') == ["OK"]
    assert pair.at("AT+CGDCONT=1") == ["OK"]
    assert pair.at("AT+CGDCONT?") == ['+CGDCONT: 2,"IP","second","",0,0', "OK"]
    assert pair.at("ATD*99***1#") == ["+CME ERROR: 21"]


def test_cgauth_set_and_read_never_shows_the_password() -> None:
    pair = make()
    assert pair.at('AT+CGAUTH=1,1,"alice","s3cr3t-pw"') == ["OK"]
    assert pair.at("AT+CGAUTH?") == ['+CGAUTH: 1,1,"alice"', "OK"]
    assert pair.at('AT+CGAUTH=1,2,"bob","s3cr3t-pw"') == ["OK"]
    assert pair.at("AT+CGAUTH?") == ['+CGAUTH: 1,2,"bob"', "OK"]
    assert pair.at("AT+CGAUTH=?") == ["+CGAUTH: (1-16),(0-2),,", "OK"]
    assert pair.at('AT+CGAUTH=5,1,"x","y"') == ["+CME ERROR: 50"]  # no such context
    assert not any(b"s3cr3t" in write for write in pair.writes)


def test_cgdcont_keeps_the_contexts_authentication() -> None:
    pair = make()
    assert pair.at('AT+CGAUTH=1,1,"alice","pw"') == ["OK"]
    assert pair.at('AT+CGDCONT=1,"IP","internet"') == ["OK"]
    assert pair.at("AT+CGAUTH?") == ['+CGAUTH: 1,1,"alice"', "OK"]


AUTH_COMMANDS = [
    ("generic", 'AT+CGAUTH=1,1,"alice","pw1"', "PAP"),
    ("generic", 'AT+CGAUTH=1,2,"alice","pw1"', "CHAP-MD5"),
    ("telit", 'AT#PDPAUTH=1,1,"alice","pw1"', "PAP"),
    ("telit", 'AT#PDPAUTH=1,2,"alice","pw1"', "CHAP-MD5"),
    ("quectel", 'AT+QICSGP=1,1,"apn.q","alice","pw1",1', "PAP"),
    ("quectel", 'AT+QICSGP=1,3,"apn.q","alice","pw1",3', "CHAP-MD5"),  # auto: CHAP
    ("ublox", 'AT+UAUTHREQ=1,1,"pw1","alice"', "PAP"),  # SARA-R4: password first
    ("ublox", 'AT+UAUTHREQ=1,2,"pw1","alice"', "CHAP-MD5"),
]


def finish_call(pair: SimPair) -> None:
    assert pair.client is not None
    client = pair.client
    pair.run_until(
        lambda: client.ipv4_ready or any(isinstance(e, LinkDown) for e in pair.client_events),
        limit=30,
    )


@pytest.mark.parametrize(("profile", "command", "protocol"), AUTH_COMMANDS)
def test_auth_command_reaches_the_call(profile: str, command: str, protocol: str) -> None:
    pair = make(SimSettings(profile=profile))
    assert pair.at(command) == ["OK"]
    assert pair.dial(config=LinkConfig(username="alice", password=Secret("pw1")))[0].startswith(
        "CONNECT"
    )
    finish_call(pair)
    assert pair.client is not None and pair.client.ipv4_ready
    ups = [e for e in pair.client_events if isinstance(e, LinkUp)]
    assert ups and ups[0].info.auth == protocol


@pytest.mark.parametrize(("profile", "command", "protocol"), AUTH_COMMANDS)
def test_auth_command_wrong_password_ends_the_call(
    profile: str, command: str, protocol: str
) -> None:
    pair = make(SimSettings(profile=profile))
    assert pair.at(command) == ["OK"]
    pair.dial(config=LinkConfig(username="alice", password=Secret("wrong")))
    finish_call(pair)
    downs = [e for e in pair.client_events if isinstance(e, LinkDown)]
    assert [d.reason for d in downs] == [DownReason.AUTH_FAILED]
    assert protocol.split("-")[0] in downs[0].detail
    # (SimPair delivers depth first: a frame the modem wrote before NO CARRIER, like
    # Telit's Discard-Request, may be listed after it.)
    assert b"\r\nNO CARRIER\r\n" in pair.writes
    assert pair.modem.session is None and pair.modem.mode is Mode.COMMAND
    pair.detach_client()
    # The client's last frames reached the modem in command state as a line of garbage
    # (its "authentication failed" even holds an "AT"): end that line first, as a DTE does.
    pair.send(b"\r")
    pair.lines()
    assert pair.at("AT") == ["OK"]


def test_qicsgp_also_sets_the_apn_and_pdp_type() -> None:
    pair = make(SimSettings(profile="quectel"))
    assert pair.at('AT+QICSGP=1,1,"apn.q","alice","pw1",1') == ["OK"]
    assert pair.at("AT+CGDCONT?") == ['+CGDCONT: 1,"IP","apn.q","",0,0', "OK"]
    assert pair.at('AT+QICSGP=2,2,"v6.q","","",0') == ["OK"]
    assert pair.at("AT+CGDCONT?")[1] == '+CGDCONT: 2,"IPV6","v6.q","",0,0'
    assert pair.at('AT+QICSGP=3,9,"x","","",0') == ["+CME ERROR: 50"]


def test_uauthreq_in_the_manuals_order_fails() -> None:
    """SARA-R4 takes the password before the user name: the manual's order does not work."""
    pair = make(SimSettings(profile="ublox"))
    assert pair.at('AT+UAUTHREQ=1,1,"alice","pw1"') == ["OK"]
    pair.dial(config=LinkConfig(username="alice", password=Secret("pw1")))
    finish_call(pair)
    assert [e.reason for e in pair.client_events if isinstance(e, LinkDown)] == [
        DownReason.AUTH_FAILED
    ]


def test_network_default_auth_when_the_context_has_none() -> None:
    pair = make(SimSettings(auth=NetworkAuth.CHAP, user="net", password=Secret("netpw")))
    pair.dial(config=LinkConfig(username="net", password=Secret("netpw")))
    finish_call(pair)
    ups = [e for e in pair.client_events if isinstance(e, LinkUp)]
    assert ups and ups[0].info.auth == "CHAP-MD5"


def test_cgact_activate_deactivate_read() -> None:
    pair = make()
    assert pair.at('AT+CGDCONT=2,"IP","b"') == ["OK"]
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,0", "+CGACT: 2,0", "OK"]
    assert pair.at("AT+CGACT=1,2") == ["OK"]
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,0", "+CGACT: 2,1", "OK"]
    assert pair.at("AT+CGACT=1") == ["OK"]  # no cid: all of them
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,1", "+CGACT: 2,1", "OK"]
    assert pair.at("AT+CGACT=0,1") == ["OK"]
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,0", "+CGACT: 2,1", "OK"]
    assert pair.at("AT+CGACT=1,9") == ["+CME ERROR: 50"]
    assert pair.at("AT+CGACT=2,1") == ["+CME ERROR: 50"]


@pytest.mark.parametrize(("settings", "code"), [({}, 133), ({"refuse_code": 148}, 148)])
def test_cgact_refused_by_the_network(settings: dict[str, int], code: int) -> None:
    pair = make(SimSettings(pdp_refuse=True, **settings))  # type: ignore[arg-type]
    assert pair.at("AT+CGACT=1,1") == [f"+CME ERROR: {code}"]
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,0", "OK"]
    assert pair.at("AT+CGACT=0,1") == ["OK"]  # deactivation is never refused


def test_cgact_verbose_refusal() -> None:
    pair = make(SimSettings(pdp_refuse=True), cmee=2)
    assert pair.at("AT+CGACT=1,1") == ["+CME ERROR: requested service option not subscribed"]


def test_cgact_refused_when_not_registered() -> None:
    pair = make(SimSettings(registration=Registration.SEARCHING))
    assert pair.at("AT+CGACT=1,1") == ["+CME ERROR: 30"]


def three_contexts(pair: SimPair) -> None:
    assert pair.at(
        'AT+CGDCONT=1,"IP","four";+CGDCONT=2,"IPV6","six";+CGDCONT=3,"IPV4V6","dual"'
    ) == ["OK"]


def dotted_ipv6(text: str) -> ipaddress.IPv6Address:
    """27.007's default notation: 16 dot-separated decimal bytes."""
    parts = [int(part) for part in text.split(".")]
    assert len(parts) == 16 and all(0 <= part <= 255 for part in parts)
    return ipaddress.IPv6Address(bytes(parts))


def test_cgpaddr_per_pdp_type() -> None:
    pair = make()
    three_contexts(pair)
    assert pair.at("AT+CGPADDR") == ["+CGPADDR: 1", "+CGPADDR: 2", "+CGPADDR: 3", "OK"]
    assert pair.at("AT+CGPADDR=?") == ["+CGPADDR: (1,2,3)", "OK"]
    assert pair.at("AT+CGACT=1") == ["OK"]
    lines = pair.at("AT+CGPADDR")
    assert lines[0] == '+CGPADDR: 1,"203.0.113.10"'
    [six] = lines[1].removeprefix('+CGPADDR: 2,"').removesuffix('"').split('","')
    assert dotted_ipv6(six) == CLIENT6
    v4, v6 = lines[2].removeprefix('+CGPADDR: 3,"').removesuffix('"').split('","')
    assert ipaddress.IPv4Address(v4) == DEFAULT_PLAN.client_ipv4
    assert dotted_ipv6(v6) == CLIENT6
    assert pair.at("AT+CGPADDR=2,1") == [lines[1], lines[0], "OK"]
    assert pair.at("AT+CGPADDR=7") == ["+CME ERROR: 50"]


def test_cgcontrdp_ipv4() -> None:
    pair = make()
    three_contexts(pair)
    assert pair.at("AT+CGCONTRDP") == ["OK"]  # nothing active
    assert pair.at("AT+CGCONTRDP=1") == ["+CME ERROR: 50"]
    assert pair.at("AT+CGACT=1,1") == ["OK"]
    assert pair.at("AT+CGCONTRDP=?") == ["+CGCONTRDP: (1)", "OK"]
    [line, ok] = pair.at("AT+CGCONTRDP=1")
    assert ok == "OK"
    fields = line.removeprefix("+CGCONTRDP: ").split(",")
    cid, bearer, apn, address_mask, gateway, dns1, dns2 = fields
    assert (cid, bearer, apn) == ("1", "5", '"four"')
    octets = address_mask.strip('"').split(".")
    address = ipaddress.IPv4Address(".".join(octets[:4]))
    mask = ipaddress.IPv4Address(".".join(octets[4:]))
    assert ipaddress.IPv4Interface(f"{address}/{mask}") == ipaddress.IPv4Interface(
        "203.0.113.10/32"
    )
    assert ipaddress.IPv4Address(gateway.strip('"')) == DEFAULT_PLAN.gateway_ipv4
    assert (dns1, dns2) == ('"198.51.100.53"', '"198.51.100.54"')


def test_cgcontrdp_ipv6_and_dual_stack() -> None:
    pair = make()
    three_contexts(pair)
    assert pair.at("AT+CGACT=1,2,3") == ["OK"]
    assert pair.at("AT+CGPIAF=1,1,0,1") == ["OK"]
    assert pair.at("AT+CGCONTRDP=2") == [
        '+CGCONTRDP: 2,5,"six","2001:db8:2::2/64","fe80::1","2001:db8:1::53"',
        "OK",
    ]
    lines = pair.at("AT+CGCONTRDP=3")
    assert lines == [
        '+CGCONTRDP: 3,5,"dual","203.0.113.10.255.255.255.255","203.0.113.1",'
        '"198.51.100.53","198.51.100.54"',
        '+CGCONTRDP: 3,5,"dual","2001:db8:2::2/64","fe80::1","2001:db8:1::53"',
        "OK",
    ]
    interface = ipaddress.IPv6Interface(lines[1].split(",")[3].strip('"'))
    assert interface.ip == CLIENT6 and interface.network == DEFAULT_PLAN.client_prefix


def test_cgpiaf_set_read_and_test() -> None:
    pair = make()
    assert pair.at("AT+CGPIAF?") == ["+CGPIAF: 0,0,0,0", "OK"]
    assert pair.at("AT+CGPIAF=?") == ["+CGPIAF: (0-1),(0-1),(0-1),(0-1)", "OK"]
    assert pair.at("AT+CGPIAF=1,0,0,1") == ["OK"]
    assert pair.at("AT+CGPIAF?") == ["+CGPIAF: 1,0,0,1", "OK"]
    assert pair.at("AT+CGPIAF=2") == ["+CME ERROR: 50"]
    assert pair.at("AT+CGPIAF=1,0,0,0,1") == ["+CME ERROR: 50"]
    assert pair.at("AT+CGPIAF?") == ["+CGPIAF: 1,0,0,1", "OK"]


def ipv6_reply(pair: SimPair, command: str, field: int) -> str:
    [line, ok] = pair.at(command)
    assert ok == "OK"
    return line.split(",")[field].strip('"')


@pytest.mark.parametrize(
    ("piaf", "address_text", "contrdp_text"),
    [
        (
            "0,0,0,0",
            ".".join(str(b) for b in CLIENT6.packed),
            ".".join(str(b) for b in CLIENT6.packed + (b"\xff" * 8 + bytes(8))),
        ),
        ("1,0,0,1", str(CLIENT6), f"{CLIENT6} ffff:ffff:ffff:ffff::"),
        ("1,1,1,0", CLIENT6.exploded, f"{CLIENT6.exploded}/64"),
        ("1,0,0,0", "2001:db8:2:0:0:0:0:2", "2001:db8:2:0:0:0:0:2 ffff:ffff:ffff:ffff:0:0:0:0"),
        ("1,1,0,1", "2001:db8:2::2", "2001:db8:2::2/64"),
    ],
)
def test_cgpiaf_changes_the_ipv6_notation(piaf: str, address_text: str, contrdp_text: str) -> None:
    pair = make()
    assert pair.at('AT+CGDCONT=1,"IPV6","six";+CGACT=1,1') == ["OK"]
    assert pair.at(f"AT+CGPIAF={piaf}") == ["OK"]
    address = ipv6_reply(pair, "AT+CGPADDR=1", 1)
    assert address == address_text
    contrdp = ipv6_reply(pair, "AT+CGCONTRDP=1", 3)
    assert contrdp == contrdp_text
    # The oracle: whatever the notation, it names the plan's address and its /64.
    parsed = dotted_ipv6(address) if piaf.startswith("0") else ipaddress.IPv6Address(address)
    assert parsed == CLIENT6
    interface = contrdp_interface(contrdp)
    assert interface.ip == CLIENT6 and interface.network == DEFAULT_PLAN.client_prefix


def contrdp_interface(text: str) -> ipaddress.IPv6Interface:
    """+CGCONTRDP's "<address and subnet mask>" in any of its three notations."""
    if "/" in text:
        return ipaddress.IPv6Interface(text)
    if " " in text:
        address, mask = (ipaddress.IPv6Address(part) for part in text.split(" "))
    else:
        octets = bytes(int(part) for part in text.split("."))
        assert len(octets) == 32
        address, mask = ipaddress.IPv6Address(octets[:16]), ipaddress.IPv6Address(octets[16:])
    prefixlen = bin(int(mask)).count("1")
    assert ipaddress.IPv6Network(f"::/{prefixlen}").netmask == mask  # contiguous
    return ipaddress.IPv6Interface(f"{address}/{prefixlen}")


# ------------------------------------------------------------------------- dial


@pytest.mark.parametrize("command", ["ATD*99***1#", "ATD*99#", 'AT+CGDATA="PPP",1', "ATDT*99#"])
def test_dial_answers_connect(command: str) -> None:
    pair = make()
    assert pair.dial(command) == ["CONNECT"]
    assert pair.client is not None
    pair.run_until(lambda: pair.client is not None and pair.client.ipv4_ready, limit=10)
    assert pair.modem.mode is Mode.ONLINE and pair.modem.contexts[1].active


@pytest.mark.parametrize("command", ["ATD*99***1#", 'AT+CGDATA="PPP",1'])
def test_quectel_connect_carries_a_rate(command: str) -> None:
    assert make(SimSettings(profile="quectel")).dial(command) == ["CONNECT 150000000"]


@pytest.mark.parametrize("command", ["ATD*99***7#", 'AT+CGDATA="PPP",7'])
def test_dial_an_undefined_cid(command: str) -> None:
    assert make().dial(command) == ["+CME ERROR: 21"]


def test_cgdata_other_layer_two_is_refused() -> None:
    assert make().at('AT+CGDATA="X25",1') == ["+CME ERROR: 50"]
    assert make().at("AT+CGDATA=?") == ['+CGDATA: ("PPP")', "OK"]


def test_dial_while_not_registered_is_no_carrier() -> None:
    pair = make(SimSettings(registration=Registration.SEARCHING))
    assert pair.dial() == ["NO CARRIER"]
    assert pair.at("AT") == ["OK"]


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (DialResult.BUSY, "BUSY"),
        (DialResult.NO_DIALTONE, "NO DIALTONE"),
        (DialResult.NO_CARRIER, "NO CARRIER"),
        (DialResult.NO_ANSWER, "NO ANSWER"),
    ],
)
def test_dial_results(result: DialResult, text: str) -> None:
    pair = make(SimSettings(dial_result=result))
    assert pair.dial() == [text]
    assert pair.client is None
    assert pair.at("AT") == ["OK"]


@pytest.mark.parametrize("number", ["ATD+4930123456;", "ATD0123456789", "ATDT555"])
def test_a_voice_number_is_no_carrier(number: str) -> None:
    assert make().dial(number) == ["NO CARRIER"]


def test_ato_without_a_call_is_no_carrier() -> None:
    assert make().at("ATO") == ["NO CARRIER"]


# ---------------------------------------------------------------------- secrets

SECRETS = ("8642", "9753", "87654321", "cgauth-pw-1", "telit-pw-2", "quectel-pw-3", "ublox-pw-4")


@pytest.mark.parametrize(
    ("profile", "vendor_command"),
    [
        ("generic", 'at+cgauth=1,1,"u","cgauth-pw-1"'),
        ("telit", 'AT#PDPAUTH=1,1,"u","telit-pw-2"'),
        ("quectel", 'AT+QICSGP=1,1,"apn","u","quectel-pw-3",1'),
        ("ublox", 'AT+UAUTHREQ=1,1,"ublox-pw-4","u"'),
    ],
)
def test_secrets_stay_out_of_the_transcript_and_reprs(profile: str, vendor_command: str) -> None:
    pair = make(SimSettings(profile=profile, pin="8642", puk="87654321"))
    for _ in range(3):
        assert pair.at('AT+CPIN="9753"') == ["+CME ERROR: 16"]
    assert pair.at('AT+CPIN="87654321","8642"') == ["OK"]
    assert pair.at('AT+CGAUTH=1,2,"u","cgauth-pw-1"') == ["OK"]
    assert pair.at(vendor_command) == ["OK"]
    pair.send(b"A/")  # repeating the line must not reveal it either
    assert pair.lines() == ["OK"]
    assert pair.at('AT+CGMI;+CGAUTH=1,1,"u","cgauth-pw-1"')[-1] == "OK"
    assert pair.dial()[0].startswith("CONNECT")
    pair.advance(5)
    transcript = "\n".join(f"{note.topic} {note.text}" for note in pair.notes)
    assert "<hidden>" in transcript
    for secret in SECRETS:
        assert secret not in transcript, secret
        assert secret not in repr(pair.modem) and secret not in repr(pair.modem.sim)
        assert secret not in repr(pair.modem.contexts)


# ------------------------------------------------------------------------ messy


def messy(profile: str = "generic", **settings: object) -> SimPair:
    return make(SimSettings(profile=profile, messy=True, **settings))  # type: ignore[arg-type]


def test_messy_blank_lines_between_information_lines() -> None:
    pair = messy("quectel")
    pair.writes.clear()
    pair.send(b"ATI\r")
    assert pair.writes == [
        b"\r\nQuectel\r\n\r\nBG96\r\n\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n"
    ]


@pytest.mark.parametrize("cmee", [0, 1, 2])
def test_messy_cme_error_has_no_space_and_verbose_text(cmee: int) -> None:
    pair = make(SimSettings(messy=True, pin="1234"), cmee=cmee)
    assert pair.at("AT+CIMI") == ["+CME ERROR:SIM PIN required"]
    assert pair.at("AT+BOGUS") == ["ERROR"]


def test_messy_urc_in_the_middle_of_a_response() -> None:
    pair = messy("sequans")
    assert pair.at("ATI") == ["SEQUANS Communications", "VZM20Q", "UE5.0.0.0d", "OK"]
    assert pair.at("AT+CEREG=1") == ["OK"]
    assert pair.at("ATI") == [
        "SEQUANS Communications",
        f"+CEREG: 1,{LOCATED},9,0,0",
        "VZM20Q",
        "UE5.0.0.0d",
        "OK",
    ]


def test_tidy_mode_never_puts_a_urc_inside_a_response() -> None:
    pair = make(SimSettings(profile="sequans"))
    assert pair.at("AT+CEREG=1;+CREG=2") == ["OK"]
    assert pair.at("ATI") == ["SEQUANS Communications", "VZM20Q", "UE5.0.0.0d", "OK"]


def test_messy_cereg_has_act_9_and_extra_fields() -> None:
    pair = messy("telit")
    assert pair.at("AT+CEREG?") == [f"+CEREG: 0,1,{LOCATED},9,0,0", "OK"]
    assert pair.at("AT+COPS?") == ['+COPS: 0,0,"Simulated Operator",9', "OK"]


MESSY_CGPADDR = {
    "generic": '+CGPADDR: 1,"203.0.113.10","2001:db8:2::2"',
    "sequans": '+CGPADDR: 1,"203.0.113.10","32.1.13.184.0.2.0.0.0.0.0.0.0.0.0.2"',
    "telit": '+CGPADDR: 1,"203.0.113.10","2001:0DB8:0002:0000:0000:0000:0000:0002"',
    "quectel": '+CGPADDR: 1,"203.0.113.10 2001:db8:2::2"',
    "ublox": '+CGPADDR: 1,"203.0.113.10 32.1.13.184.0.2.0.0.0.0.0.0.0.0.0.2"',
}


@pytest.mark.parametrize("profile", list(MESSY_CGPADDR))
@pytest.mark.parametrize("piaf", ["0,0,0,0", "1,0,0,1"])
def test_messy_ipv6_notation_per_profile(profile: str, piaf: str) -> None:
    pair = messy(profile)
    assert pair.at(f"AT+CGPIAF={piaf};+CGACT=1,1") == ["OK"]
    [line, ok] = pair.at("AT+CGPADDR=1")
    assert (line, ok) == (MESSY_CGPADDR[profile], "OK")  # whatever +CGPIAF says
    texts = line.removeprefix("+CGPADDR: 1,").replace('"', "").replace(",", " ").split()
    v4, v6 = texts
    assert ipaddress.IPv4Address(v4) == DEFAULT_PLAN.client_ipv4
    parsed = dotted_ipv6(v6) if v6.count(".") == 15 else ipaddress.IPv6Address(v6)
    assert parsed == CLIENT6


def test_messy_connect_and_the_first_frame_share_a_write() -> None:
    pair = messy()
    pair.writes.clear()
    pair.send(b"ATD*99***1#\r")
    [write] = pair.writes
    assert write.startswith(b"\r\nCONNECT\r\n~\xff")
    assert write.endswith(b"~")


def test_tidy_connect_and_the_first_frame_are_separate_writes() -> None:
    pair = make()
    pair.writes.clear()
    pair.send(b"ATD*99***1#\r")
    assert pair.writes == [b"\r\nCONNECT\r\n"]
    pair.run_until(lambda: len(pair.writes) > 1, limit=1)
    assert pair.now == pytest.approx(0.05)
    assert pair.writes[1].startswith(b"~\xff")


# --- regressions from review ---------------------------------------------------------------


@pytest.mark.parametrize("line", ["ATS", "ATS0", "AT+CGDCONT=\u00b2", 'AT+CGAUTH=1,x,"u","p"'])
def test_odd_lines_answer_an_error_and_never_raise(line: str) -> None:
    pair = make()
    reply = pair.at(line)
    assert reply[-1] in ("ERROR", "+CME ERROR: 50")
    assert pair.at("AT") == ["OK"]


def test_an_unquoted_pin_keeps_its_leading_zeros() -> None:
    pair = make(SimSettings(pin="0012"))
    assert pair.at("AT+CPIN=0012") == ["OK"]
    assert pair.at("AT+CPIN?") == ["+CPIN: READY", "OK"]


@pytest.mark.parametrize(
    "line",
    [
        'AT+CLCK="SC",0,"9876"',
        'AT+CPWD="SC","9876","5555"',
        'at+cpin="9876"',
        'AT+CGAUTH=1,1,"u","9876;5555"',
    ],
)
def test_every_pin_and_password_command_is_masked(line: str) -> None:
    pair = make()
    pair.at(line)
    text = " ".join(note.text for note in pair.notes)
    assert "9876" not in text and "5555" not in text and "<hidden>" in text


def test_dialling_again_while_a_call_is_up_is_refused() -> None:
    pair = make()
    pair.dial()
    pair.run_until(lambda: pair.client is not None and pair.client.ipv4_ready)
    pair.detach_client()
    pair.advance(1.1)
    pair.send(b"+++")
    pair.advance(1.1)
    assert pair.lines() == ["OK"]
    assert pair.at("ATD*99#") == ["+CME ERROR: 3"]
    assert pair.at("AT+CGACT=0,1") == ["OK"]  # deactivating the call's context ends it
    assert pair.modem.session is None and pair.modem.mode is Mode.COMMAND


# --- the transcript matches the wire; line endings; the parser never raises ----------------


def wire_lines(writes: list[bytes]) -> list[str]:
    text = b"".join(writes).decode("latin-1")
    return [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line]


def test_the_transcript_has_every_line_the_modem_wrote() -> None:
    """Messy mode puts URCs inside replies; unsolicited URCs come on their own: the
    transcript shows them all, where the DTE saw them."""
    pair = messy("sequans")
    pair.notes.clear()
    pair.writes.clear()
    for command in ("AT+CEREG=2", "ATI", "AT+CEREG?", "AT+CGDCONT?", "AT+CPIN=1234"):
        pair.at(command)
    outputs(pair, pair.modem.set_registration(Registration.ROAMING, 0.0, pair.now))
    wire = wire_lines(pair.writes)
    assert any(line.startswith("+CEREG: 2,") for line in wire[1:-1])  # inside ATI's reply
    noted = [note.text[2:] for note in pair.notes if note.text.startswith("< ")]
    assert noted == wire


def test_a_pin_for_a_ready_sim_is_noted_as_not_allowed_not_as_a_wrong_code() -> None:
    pair = make()
    assert pair.at("AT+CPIN=1234") == ["+CME ERROR: 3"]
    text = " ".join(note.text for note in pair.notes)
    assert "wrong code" not in text
    assert "SIM: no code needed, the SIM is ready" in text


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\n\r", b"\r\n\n", b"\r\r\n"])
def test_a_line_feed_never_breaks_the_next_command(ending: bytes) -> None:
    pair = make()
    pair.send(b"AT+CMEE=2" + ending)
    assert pair.lines() == ["OK"]
    assert pair.at("AT+CMEE?") == ["+CMEE: 2", "OK"]


def test_a_line_feed_ended_line_is_echoed_and_run_once() -> None:
    pair = SimPair()
    pair.lines()
    pair.send(b"AT\n")
    assert pair.lines() == ["AT", "OK"]
    assert [n.text for n in pair.notes if n.text.startswith("> ")] == ["> AT"]


@pytest.mark.parametrize(
    "line", ["S0=" + "9" * 5000, "S" + "9" * 5000 + "?", "E" + "1" * 5000, "+CPIN=" + "1" * 5000]
)
def test_a_digit_run_beyond_pythons_int_limit_is_malformed_not_a_crash(line: str) -> None:
    assert parse_line(line) is None


def test_numbers_up_to_the_cap_still_parse() -> None:
    digits = "1" * MAX_DIGITS
    assert parse_line(f"+CPIN={digits}") == [
        Command("+CPIN", Form.SET, (int(digits),), f"+CPIN={digits}")
    ]
    assert parse_line(f"+CPIN={digits}1") is None


AT_ALPHABET = 'ATDSEVQZ&+#%$^=?;, "0123456789\u00b2\u0663/'


@examples(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=AT_ALPHABET, max_size=200)))
def test_parse_line_never_raises(text: str) -> None:
    parse_line(text)


@examples(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=30).flatmap(lambda n: st.just("9" * 1000 * n)))
def test_parse_line_never_raises_on_long_digit_runs(digits: str) -> None:
    for line in (f"S0={digits}", f"+CGDCONT={digits}", f"I{digits}", f"S{digits}?"):
        parse_line(line)
