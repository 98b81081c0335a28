"""bridge.modem.parsers and profile identification, from vendor replies.

Fixtures are named after the vendor and model that print them, as in ModemManager's
test-modem-helpers.c: the identification strings the simulator's profiles copy from the
devices, the exchanges of shared/reference/at-commands.md, and lines from public driver
tests (Quectel BG77 NB-IoT, Telit ME310 Cat-M1). Lines are given as AtChannel hands them
over: framing gone.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.modem.parsers import (
    Identity,
    PdpContext,
    Registration,
    Signal,
    parse_ati,
    parse_cesq,
    parse_cgdcont,
    parse_cpin,
    parse_csq,
    parse_edition,
    parse_iccid,
    parse_identity,
    parse_imei,
    parse_registration,
    split_fields,
)
from bridge.modem.profiles import GENERIC, PROFILES, SEQUANS, identify

REG = ("+CEREG", "+CGREG", "+CREG")

# --- identification ---------------------------------------------------------------------

QUECTEL_BG96_ATI = ["Quectel", "BG96", "Revision: BG96MAR02A07M1G"]
SEQUANS_VZM20Q_ATI = ["SEQUANS Communications", "VZM20Q", "UE5.0.0.0d"]
SEQUANS_VZM20Q_ATI1_LR5 = ["UE5.0.0.0d", "LR5.1.1.0-39529"]
SEQUANS_GM01Q_ATI1_LR6 = ["UE6.0.0.0", "LR6.0.0.0-37781"]
UBLOX_SARA_R410M_ATI = [
    "Manufacturer: u-blox",
    "Model: SARA-R410M-02B",
    "Revision: L0.0.00.00.05.06 [Feb 03 2018 13:00:41]",
    "SVN: 02",
    "IMEI: 352753090123456",
]
TELIT_ME910C1_CGMR_HASH = ["#CGMR: M0B.660006"]


def test_ati_one_value_a_line_quectel_bg96() -> None:
    assert parse_ati(QUECTEL_BG96_ATI) == Identity("Quectel", "BG96", "BG96MAR02A07M1G")


def test_ati_keys_and_values_ublox_sara_r410m() -> None:
    said = parse_ati(UBLOX_SARA_R410M_ATI)
    assert said == Identity("u-blox", "SARA-R410M-02B", "L0.0.00.00.05.06 [Feb 03 2018 13:00:41]")
    assert parse_imei(UBLOX_SARA_R410M_ATI) == "352753090123456"


@pytest.mark.parametrize(
    ("name", "lines", "prefix", "expected"),
    [
        ("quectel_bg96_cgmi", ["Quectel"], "+CGMI", "Quectel"),
        ("telit_me910c1_cgmm", ["ME910C1-WW"], "+CGMM", "ME910C1-WW"),
        ("telit_me910c1_hash_cgmr", TELIT_ME910C1_CGMR_HASH, "+CGMR", "M0B.660006"),
        (
            "nordic_nrf9160_prefixed_quoted",
            ['+CGMI: "Nordic Semiconductor ASA"'],
            "+CGMI",
            "Nordic Semiconductor ASA",
        ),
        ("empty", [], "+CGMI", None),
    ],
)
def test_identity_lines(name: str, lines: list[str], prefix: str, expected: str | None) -> None:
    assert parse_identity(lines, prefix) == expected


@pytest.mark.parametrize(
    ("lines", "imei"),
    [
        (["354347094405312"], "354347094405312"),  # Sequans VZM20Q +CGSN
        (['+CGSN: "866425030012345"'], "866425030012345"),  # 27.007 5.4 AT+CGSN=1 form
        (["35434709440531"], None),  # 14 digits: no IMEI
        (["3543470944053120"], None),  # 16 digits: an IMEISV, not an IMEI
    ],
)
def test_imei(lines: list[str], imei: str | None) -> None:
    assert parse_imei(lines) == imei


@pytest.mark.parametrize(
    ("maker", "model", "profile"),
    [
        ("SEQUANS Communications", "VZM20Q", "sequans"),
        ("Sequans", "GM01Q", "sequans"),
        ("Telit", "ME910C1-WW", "telit"),
        ("Telit", "LE910C4-EU", "telit"),
        (None, "ME310G1-W1", "telit"),
        ("Quectel", "BG96", "quectel"),
        ("Quectel_Ltd", "EC25", "quectel"),
        (None, "BG95-M3", "quectel"),
        ("u-blox", "SARA-R410M-02B", "ublox"),
        ("u-blox", "SARA-R510S", "ublox-r5"),
        ("u-blox", "LARA-R6001", "ublox"),
        ("pppbridge", "Simulated LTE modem", "generic"),
        (None, None, "generic"),
    ],
)
def test_identification_picks_the_profile(
    maker: str | None, model: str | None, profile: str
) -> None:
    assert identify(maker, model).name == profile


def test_sequans_firmware_edition_from_ati1() -> None:
    assert parse_edition(SEQUANS_VZM20Q_ATI1_LR5, SEQUANS.editions) == "LTE-M"
    assert parse_edition(SEQUANS_GM01Q_ATI1_LR6, SEQUANS.editions) == "NB-IoT"
    assert parse_edition(SEQUANS_VZM20Q_ATI, SEQUANS.editions) is None


# --- registration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        (
            "generic_cereg_read_level2",
            '+CEREG: 2,1,"00C3","0A2B3C4D",7',
            Registration("+CEREG", 1, 2, "00C3", "0A2B3C4D", 7),
        ),
        (
            "nordic_cereg_urc_level2",  # shared/reference/at-commands.md 7.3
            '+CEREG: 1,"002F","0012BEEF",7',
            Registration("+CEREG", 1, None, "002F", "0012BEEF", 7),
        ),
        (
            "quectel_bg77_cereg_read_nbiot",
            '+CEREG: 2,1,"2008","2B2078",9',
            Registration("+CEREG", 1, 2, "2008", "2B2078", 9),
        ),
        (
            "telit_me310_cereg_read_catm1",
            '+CEREG: 2,1,"00FF","01234ABC",8',
            Registration("+CEREG", 1, 2, "00FF", "01234ABC", 8),
        ),
        (
            "messy_cereg_urc_with_cause_fields",
            '+CEREG: 1,"00C3","0A2B3C4D",9,0,0',
            Registration("+CEREG", 1, None, "00C3", "0A2B3C4D", 9),
        ),
        (
            "messy_cereg_read_with_cause_fields",
            '+CEREG: 2,5,"00C3","0A2B3C4D",9,0,0',
            Registration("+CEREG", 5, 2, "00C3", "0A2B3C4D", 9),
        ),
        ("ublox_sara_r4_cgreg_read_idle", "+CGREG: 0,0", Registration("+CGREG", 0, 0)),
        ("cereg_urc_searching", "+CEREG: 2", Registration("+CEREG", 2, None)),
        ("cereg_read_denied", "+CEREG: 2,3", Registration("+CEREG", 3, 2)),
        ("missing_space_lower_case", "+cereg:1,5", Registration("+CEREG", 5, 1)),
        (
            "creg_urc_unquoted_hex_lac",
            "+CREG: 1,00C3,0A2B3C4D",
            Registration("+CREG", 1, None, "00C3", "0A2B3C4D"),
        ),
        (
            "cereg_urc_mode3_empty_location",
            "+CEREG: 3,,,,0,15",
            Registration("+CEREG", 3, None),
        ),
    ],
)
def test_registration_lines(name: str, line: str, expected: Registration) -> None:
    parsed = parse_registration(line, REG)
    assert parsed is not None
    assert parsed == replace(expected, line=line)


@pytest.mark.parametrize(
    "line", ["+CEREG:", "+CEREG: x,1", "+CEREGX: 1", "+COPS: 0", "CEREG: 1", "+CEREG: ,"]
)
def test_not_registration_lines(line: str) -> None:
    assert parse_registration(line, REG) is None


def test_registration_meaning() -> None:
    home = parse_registration("+CEREG: 1", REG)
    roaming = parse_registration("+CEREG: 0,5", REG)
    denied = parse_registration("+CGREG: 2,3", REG)
    sms_only = parse_registration("+CEREG: 6", REG)
    assert home and home.registered and not home.roaming
    assert roaming and roaming.registered and roaming.roaming
    assert denied and denied.denied and not denied.registered
    assert sms_only and not sms_only.registered  # 27.007 7.2: SMS only carries no data
    assert denied.meaning == "registration denied"


# --- signal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "rssi"),
    [
        ("+CSQ: 20,99", -73),  # Quectel BG96 in good coverage
        ("+CSQ: 0,0", -113),
        ("+CSQ: 1,99", -111),
        ("+CSQ: 31,99", -51),
        ("+CSQ:15,99", -83),  # no space
        ("+CSQ: 99,99", None),  # not known
    ],
)
def test_csq_rssi(line: str, rssi: int | None) -> None:
    assert parse_csq(line) == Signal(rssi_dbm=rssi)


def test_cesq_lte_sequans_vzm20q() -> None:
    signal = parse_cesq("+CESQ: 99,99,255,255,20,45")
    assert signal == Signal(rssi_dbm=None, rsrp_dbm=-96, rsrq_db=-10.0)


@pytest.mark.parametrize(
    ("rsrq", "rsrp", "rsrq_db", "rsrp_dbm"),
    [(0, 0, -20.0, -141), (1, 1, -19.5, -140), (34, 97, -3.0, -44), (255, 255, None, None)],
)
def test_cesq_edges(rsrq: int, rsrp: int, rsrq_db: float | None, rsrp_dbm: int | None) -> None:
    """27.007 8.69: each value is the bottom of its step; 0 is "below the first edge"."""
    signal = parse_cesq(f"+CESQ: 99,99,255,255,{rsrq},{rsrp}")
    assert signal is not None
    assert (signal.rsrq_db, signal.rsrp_dbm) == (rsrq_db, rsrp_dbm)


def test_cesq_gsm_and_umts_fields() -> None:
    signal = parse_cesq("+CESQ: 63,0,96,49,255,255")
    assert signal == Signal(rssi_dbm=-48, rscp_dbm=-25, ecno_db=0.0)


@pytest.mark.parametrize("line", ["+CESQ: 1,2,3", "+CSQ:", "+CSQ: x,99", "CSQ: 20,99"])
def test_not_signal_lines(line: str) -> None:
    assert parse_csq(line) is None and parse_cesq(line) is None


# --- SIM, ICCID, contexts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("+CPIN: READY", "READY"),
        ("+CPIN: SIM PIN", "SIM PIN"),
        ("+CPIN:SIM PUK", "SIM PUK"),
        ('+CPIN: "SIM PIN"', "SIM PIN"),
        ("+cpin: ready", "READY"),
        ("+CPIN: SIM  BLOCKED", "SIM BLOCKED"),
        ("+CPIN:", None),
        ("+CPINR: SIM PIN,3,3", None),
    ],
)
def test_cpin(line: str, state: str | None) -> None:
    assert parse_cpin(line) == state


@pytest.mark.parametrize(
    ("name", "lines", "iccid"),
    [
        ("sequans_vzm20q_sqnccid", ['+SQNCCID: "89882280666027595366",""'], "89882280666027595366"),
        ("quectel_bg96_qccid", ["+QCCID: 89860318760286123456"], "89860318760286123456"),
        ("telit_me910c1_hash_ccid", ["#CCID: 89390100001234567890"], "89390100001234567890"),
        ("ublox_sara_r410m_ccid_f_padded", ["+CCID: 8901170327810012345F"], "8901170327810012345"),
        ("no_iccid", ["+CCID: 1234"], None),
    ],
)
def test_iccid(name: str, lines: list[str], iccid: str | None) -> None:
    assert parse_iccid(lines) == iccid


def test_cgdcont_read() -> None:
    lines = [
        '+CGDCONT: 1,"IPV4V6","","",0,0',  # the simulator, any profile
        '+CGDCONT: 3,"IP","vzwinternet","0.0.0.0",0,0,0,0',  # Sequans VZM20Q on Verizon
        '+CGDCONT:2,"ipv6","iot.example"',
        "+CGDCONT: x",
    ]
    assert parse_cgdcont(lines) == (
        PdpContext(1, "IPV4V6", ""),
        PdpContext(3, "IP", "vzwinternet"),
        PdpContext(2, "IPV6", "iot.example"),
    )


def test_fields_keep_commas_inside_quotes() -> None:
    assert split_fields('1,"a,b", 3 ,') == ["1", '"a,b"', "3", ""]


# --- never raises -----------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["+CEREG: ", "+CSQ: ", "+CESQ: ", "+CPIN: ", "+CGDCONT: ", ""]), TEXT)
def test_parsers_never_raise(prefix: str, text: str) -> None:
    line = prefix + text
    parse_registration(line, REG)
    parse_csq(line)
    parse_cesq(line)
    parse_cpin(line)
    parse_cgdcont([line])
    parse_identity([line], "+CGMI")
    parse_ati([line])
    parse_iccid([line])
    parse_imei([line])
    for profile in PROFILES.values():
        parse_edition([line], profile.editions)
    identify(text, line)


def test_generic_is_never_identified_by_pattern() -> None:
    assert GENERIC.identify is None
