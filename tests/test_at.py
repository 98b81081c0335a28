"""netstack.at: the AT channel, from vendor replies, properties and the pure simulator.

Fixtures are byte-exact replies named after the vendor and model that print them, as in
ModemManager's test-modem-helpers.c: the simulator profiles' identification strings and
the exchanges of shared/reference/at-commands.md. Everything runs on virtual time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.simulator.at_modem import Modem
from bridge.simulator.profiles import PROFILES
from bridge.simulator.settings import DialResult, SimSettings
from netstack.at import (
    AtChannel,
    AtError,
    AtEvent,
    AtStatistics,
    CommandDone,
    Connected,
    ErrorKind,
    FinalResult,
    Outcome,
    Prompt,
    Urc,
    parse_final,
)
from netstack.errors import UsageError
from netstack.events import WriteSerial
from netstack.hdlc import Deframer, Frame, Framer
from netstack.numbers import Code, Protocol

FAST = settings(max_examples=150, deadline=None)
TIMEOUT = 5.0
VENDOR_URCS = ("+CEREG", "+CREG", "RING", "SRING", "+SQNSRING", "+QIURC", "+UUSORF")
LCP_CONFIGURE_REQUEST = Framer().encode(Protocol.LCP, bytes([Code.CONFIGURE_REQUEST, 1, 0, 4]))


# --- helpers --------------------------------------------------------------------------


def done(command: str, *lines: str, error: AtError | None = None) -> CommandDone:
    outcome = Outcome.OK if error is None else Outcome.FAIL
    return CommandDone(command, outcome, lines, error)


def exchange(
    channel: AtChannel, command: str, reply: bytes, now: float = 0.0, **options: object
) -> list[AtEvent]:
    channel.send(command, now, TIMEOUT, **options)  # type: ignore[arg-type]
    return channel.receive(reply, now)


def read_all(channel: AtChannel, chunks: Iterable[bytes], now: float = 0.0) -> list[AtEvent]:
    """Feed ``chunks`` until the channel goes online (the rest would be PPP's)."""
    events: list[AtEvent] = []
    for chunk in chunks:
        if channel.online:
            break
        events += channel.receive(chunk, now)
    return events


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def frames_of(data: bytes) -> list[Frame]:
    return Deframer().feed(data)


# --- vendor fixtures ------------------------------------------------------------------

QUECTEL_BG96_BOOT = b"\r\nRDY\r\n"
QUECTEL_BG96_ATI_ECHOED = b"ATI\r\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n"
QUECTEL_BG96_DIAL = b"\r\nCONNECT 150000000\r\n"
SEQUANS_VZM20Q_BOOT = b"\r\n+SYSSTART\r\n"
SEQUANS_VZM20Q_ATI = b"\r\nSEQUANS Communications\r\nVZM20Q\r\nUE5.0.0.0d\r\n\r\nOK\r\n"
SEQUANS_VZM20Q_SQNSSENDEXT_PROMPT = b"> "
SEQUANS_VZM20Q_SQNSRECV_WITH_RING = b"\r\n+SQNSRECV: 1,5\r\n+SQNSRING: 2,7\r\nhello\r\n\r\nOK\r\n"
TELIT_ME910C1_CGMM = b"\r\nME910C1-WW\r\n\r\nOK\r\n"
TELIT_ME910C1_SSENDEXT_PROMPT = b"\r\n> "
TELIT_ME910C1_SI_WITH_SRING = b"\r\n#SI: 1,22,23,24,0\r\n\r\nSRING: 1\r\n\r\nOK\r\n"
UBLOX_SARA_R410M_ATI = (
    b"\r\nManufacturer: u-blox\r\nModel: SARA-R410M-02B\r\n"
    b"Revision: L0.0.00.00.05.06 [Feb 03 2018 13:00:41]\r\nSVN: 02\r\n"
    b"IMEI: 352753090123456\r\n\r\nOK\r\n"
)
UBLOX_SARA_R410M_CPIN_NO_SIM = b"\r\n+CME ERROR: SIM not inserted\r\n"
UBLOX_SARA_R410M_USOST_PROMPT = b"\r\n@"
UBLOX_SARA_R410M_USOST_DONE = b"\r\n+USOST: 0,4\r\n\r\nOK\r\n"
QUECTEL_BG96_QISEND_PROMPT = b"\r\n> "
QUECTEL_BG96_QISEND_OK = b"\r\nSEND OK\r\n"
QUECTEL_BG96_QISEND_FAIL = b"\r\nSEND FAIL\r\n"
QUECTEL_SEND_FINALS = {"SEND OK": True, "SEND FAIL": False}
GENERIC_CEREG_READ = b'\r\n+CEREG: 2,1,"00C3","0A2B3C4D",7\r\n\r\nOK\r\n'
GENERIC_CMS_ERROR = b"\r\n+CMS ERROR: 500\r\n"

FIXTURES = [
    (
        "quectel_bg96_ati_echoed",
        "ATI",
        {},
        QUECTEL_BG96_ATI_ECHOED,
        [done("ATI", "Quectel", "BG96", "Revision: BG96MAR02A07M1G")],
    ),
    (
        "quectel_bg96_dial",
        "ATD*99***1#",
        {},
        QUECTEL_BG96_DIAL,
        [Connected("ATD*99***1#", "150000000", b"")],
    ),
    (
        "sequans_vzm20q_ati",
        "ATI",
        {},
        SEQUANS_VZM20Q_ATI,
        [done("ATI", "SEQUANS Communications", "VZM20Q", "UE5.0.0.0d")],
    ),
    (
        "sequans_vzm20q_sqnsrecv_with_ring",
        "AT+SQNSRECV=1,1500",
        {"response_prefix": "+SQNSRECV:"},
        SEQUANS_VZM20Q_SQNSRECV_WITH_RING,
        [Urc("+SQNSRING: 2,7"), done("AT+SQNSRECV=1,1500", "+SQNSRECV: 1,5", "hello")],
    ),
    (
        "telit_me910c1_cgmm",
        "AT+CGMM",
        {},
        TELIT_ME910C1_CGMM,
        [done("AT+CGMM", "ME910C1-WW")],
    ),
    (
        "telit_me910c1_si_with_sring",
        "AT#SI=1",
        {"response_prefix": "#SI:"},
        TELIT_ME910C1_SI_WITH_SRING,
        [Urc("SRING: 1"), done("AT#SI=1", "#SI: 1,22,23,24,0")],
    ),
    (
        "ublox_sara_r410m_ati",
        "ATI",
        {},
        UBLOX_SARA_R410M_ATI,
        [done("ATI", *PROFILES["ublox"].identification["I"])],
    ),
    (
        "ublox_sara_r410m_cpin_no_sim",
        "AT+CPIN?",
        {"response_prefix": "+CPIN:"},
        UBLOX_SARA_R410M_CPIN_NO_SIM,
        [done("AT+CPIN?", error=AtError(ErrorKind.CME, 10, "SIM not inserted"))],
    ),
    (
        "generic_cereg_read",
        "AT+CEREG?",
        {"response_prefix": "+CEREG:"},
        GENERIC_CEREG_READ,
        [done("AT+CEREG?", '+CEREG: 2,1,"00C3","0A2B3C4D",7')],
    ),
    (
        "generic_cms_error",
        "AT+CMGS=5",
        {},
        GENERIC_CMS_ERROR,
        [done("AT+CMGS=5", error=AtError(ErrorKind.CMS, 500, ""))],
    ),
]


@pytest.mark.parametrize(
    ("command", "options", "reply", "expected"),
    [fixture[1:] for fixture in FIXTURES],
    ids=[fixture[0] for fixture in FIXTURES],
)
@pytest.mark.parametrize("cut", ["whole", "bytewise"])
def test_vendor_replies(
    command: str, options: dict[str, str], reply: bytes, expected: list[AtEvent], cut: str
) -> None:
    channel = AtChannel(VENDOR_URCS)
    channel.send(command, 0.0, TIMEOUT, **options)  # type: ignore[arg-type]
    events = read_all(channel, [reply] if cut == "whole" else bytewise(reply))
    assert events == expected
    assert channel.pending is None


@pytest.mark.parametrize("boot", [QUECTEL_BG96_BOOT, SEQUANS_VZM20Q_BOOT])
def test_boot_urcs_with_nothing_pending(boot: bytes) -> None:
    assert AtChannel().receive(boot, 0.0) == [Urc(boot.decode().strip())]


# --- classification -------------------------------------------------------------------

CME = ErrorKind.CME


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("OK", FinalResult()),
        ("CONNECT", FinalResult(connect="")),
        ("CONNECT 150000000", FinalResult(connect="150000000")),
        ("CONNECT 115200/V42", FinalResult(connect="115200/V42")),
        ("+CME ERROR: 10", FinalResult(AtError(CME, 10, "SIM not inserted"))),
        ("+CME ERROR:49", FinalResult(AtError(CME, 49, "EAP method not supported"))),
        ("+CME ERROR: SIM not inserted", FinalResult(AtError(CME, 10, "SIM not inserted"))),
        ("+CME ERROR:SIM PIN required", FinalResult(AtError(CME, 11, "SIM PIN required"))),
        ("+CME ERROR: 9999", FinalResult(AtError(CME, 9999, ""))),
        ("+CME ERROR: vendor words", FinalResult(AtError(CME, None, "vendor words"))),
        ("+CME ERROR", FinalResult(AtError(CME, None, ""))),
        ("+CMS ERROR: 500", FinalResult(AtError(ErrorKind.CMS, 500, ""))),
        ("+CMS ERROR: unknown error", FinalResult(AtError(ErrorKind.CMS, None, "unknown error"))),
        ("ERROR", FinalResult(AtError(ErrorKind.ERROR))),
        ("COMMAND NOT SUPPORT", FinalResult(AtError(ErrorKind.ERROR))),
        ("MODEM ERROR: 3", FinalResult(AtError(ErrorKind.ERROR, 3))),
        ("NO CARRIER", FinalResult(AtError(ErrorKind.NO_CARRIER))),
        ("BUSY", FinalResult(AtError(ErrorKind.BUSY))),
        ("NO ANSWER", FinalResult(AtError(ErrorKind.NO_ANSWER))),
        ("NO DIALTONE", FinalResult(AtError(ErrorKind.NO_DIALTONE))),
        ("NO DIAL TONE", FinalResult(AtError(ErrorKind.NO_DIALTONE))),
    ],
)
def test_each_final_result_kind(line: str, expected: FinalResult) -> None:
    assert parse_final(line) == expected
    assert parse_final(f"  {line.lower()}  ") is not None


@pytest.mark.parametrize(
    "line",
    ["OKAY", '+COPS: 0,0,"OK Mobile"', "CONNECTED", "ERRORS", "+CME ERRORS", "0", "4", "RING"],
)
def test_only_whole_lines_are_final_results(line: str) -> None:
    assert parse_final(line) is None


def test_error_text_for_a_person() -> None:
    assert str(AtError(CME, 10, "SIM not inserted")) == "+CME ERROR: 10 SIM not inserted"
    assert str(AtError(ErrorKind.NO_CARRIER)) == "NO CARRIER"


def test_information_lines_that_look_like_results_inside_a_response() -> None:
    channel = AtChannel()
    reply = b'\r\n+COPS: 0,0,"OK Mobile",7\r\nOKAY\r\n\r\nOK\r\n'
    assert exchange(channel, "AT+COPS?", reply) == [
        done("AT+COPS?", '+COPS: 0,0,"OK Mobile",7', "OKAY")
    ]


# --- V0 numeric results ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("digit", "error"),
    [
        ("0", None),
        ("3", AtError(ErrorKind.NO_CARRIER)),
        ("4", AtError(ErrorKind.ERROR)),
        ("6", AtError(ErrorKind.NO_DIALTONE)),
        ("7", AtError(ErrorKind.BUSY)),
        ("8", AtError(ErrorKind.NO_ANSWER)),
    ],
)
def test_v0_numeric_results(digit: str, error: AtError | None) -> None:
    # V.250 5.7.1: in V0 information text ends in CR LF, a result code in CR alone.
    channel = AtChannel(numeric=True)
    events = exchange(channel, "AT+CSQ", f"+CSQ: 20,99\r\n{digit}\r".encode())
    assert events == [done("AT+CSQ", "+CSQ: 20,99", error=error)]


def test_v0_connect_and_ring() -> None:
    channel = AtChannel(numeric=True)
    assert channel.receive(b"2\r", 0.0) == [Urc("RING")]
    events = exchange(channel, "ATD*99#", b"2\r1\r" + LCP_CONFIGURE_REQUEST)
    assert events == [Urc("RING"), Connected("ATD*99#", "", LCP_CONFIGURE_REQUEST)]


def test_a_lone_digit_is_information_unless_numeric() -> None:
    channel = AtChannel()
    assert exchange(channel, "AT+CGATT?", b"\r\n0\r\n\r\nOK\r\n") == [done("AT+CGATT?", "0")]


def test_atv0_switches_to_numeric_for_its_own_result_and_atv1_back() -> None:
    channel = AtChannel()
    assert exchange(channel, "ATE1V0", b"ATE1V0\r0\r") == [done("ATE1V0")]
    assert channel.numeric
    reply = b"AT+CGATT?\r+CGATT: 1\r\n0\r"
    assert exchange(channel, "AT+CGATT?", reply) == [done("AT+CGATT?", "+CGATT: 1")]
    assert exchange(channel, "ATV1", b"ATV1\r\r\nOK\r\n") == [done("ATV1")]
    assert not channel.numeric
    exchange(channel, "ATV0", b"0\r")
    assert exchange(channel, "ATZ", b"\r\nOK\r\n") == [done("ATZ")]
    assert not channel.numeric


def test_in_numeric_mode_a_lone_digit_is_a_result() -> None:
    """Documented limit: V0 frames information text in CR LF and results in CR alone
    (V.250 5.7.1), but the LF may come in a later read: a lone digit is a result."""
    channel = AtChannel(numeric=True)
    assert exchange(channel, "ATS0?", b"000\r\n0\r") == [done("ATS0?", "000")]
    error = AtError(ErrorKind.ERROR)
    assert exchange(channel, "AT+X", b"4\r\n0\r") == [done("AT+X", error=error), Urc("0")]


@pytest.mark.parametrize(
    ("command", "numeric"),
    [
        ("ATV0", True),
        ("atq0 e0 v0", True),
        ("ATS0=0S7?V0", True),
        ("AT&FV0", True),
        ("ATV0Z", False),
        ("ATV0&F", False),
        ("ATD*99#V0", False),
        ("AT+CMEE=1;V0", False),  # documented: E and V go before extended commands
        ("AT!V0", False),
        ("A/", False),
    ],
)
def test_which_command_lines_switch_to_v0(command: str, numeric: bool) -> None:
    channel = AtChannel()
    channel.send(command, 0.0, TIMEOUT)
    assert channel.numeric is numeric


def test_a_refused_atv0_keeps_verbose() -> None:
    channel = AtChannel()
    assert exchange(channel, "ATV0", b"\r\nERROR\r\n")[0].outcome is Outcome.FAIL  # type: ignore[union-attr]
    assert not channel.numeric


# --- echo, URCs, routing --------------------------------------------------------------


@pytest.mark.parametrize(
    "echo", [b"", b"AT+CSQ\r", b"at+csq  \r", b"AT+CSQ\r\n", b"\r\n+CEREG: 5\r\nAT+CSQ\r"]
)
def test_echo_on_or_off_gives_the_same_result(echo: bytes) -> None:
    channel = AtChannel()
    events = exchange(channel, "AT+CSQ", echo + b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert events[-1] == done("AT+CSQ", "+CSQ: 20,99")
    assert channel.statistics().echoes == (1 if echo else 0)


def test_only_one_echo_is_dropped() -> None:
    channel = AtChannel()
    events = exchange(channel, "ATI", b"ATI\r\r\nATI\r\n\r\nOK\r\n")
    assert events == [done("ATI", "ATI")]


def test_urcs_inside_a_response_do_not_complete_it() -> None:
    channel = AtChannel(VENDOR_URCS)
    reply = b"\r\nQuectel\r\n+CEREG: 1\r\nBG96\r\n\r\nRING\r\n\r\nOK\r\n"
    assert exchange(channel, "ATI", reply) == [
        Urc("+CEREG: 1"),
        Urc("RING"),
        done("ATI", "Quectel", "BG96"),
    ]
    assert channel.statistics().urcs == 2


def test_the_response_prefix_wins_over_the_urc_table() -> None:
    channel = AtChannel()
    reply = b'\r\n+CEREG: 2,1,"00C3","0A2B3C4D",7\r\n+CEREG: 5\r\n\r\nOK\r\n'
    events = exchange(channel, "AT+CEREG?", reply, response_prefix="+CEREG:")
    assert events == [done("AT+CEREG?", '+CEREG: 2,1,"00C3","0A2B3C4D",7', "+CEREG: 5")]
    # Without the prefix the table claims the read response: pass response_prefix.
    events = exchange(channel, "AT+CEREG?", reply)
    assert events == [
        Urc('+CEREG: 2,1,"00C3","0A2B3C4D",7'),
        Urc("+CEREG: 5"),
        done("AT+CEREG?"),
    ]


def test_prefixes_match_whole_words() -> None:
    channel = AtChannel(["RING", "+CEREG:"])
    reply = b"\r\nRINGBACK\r\n+CEREG:1\r\nRING\r\n\r\nOK\r\n"
    assert exchange(channel, "AT+X", reply) == [
        Urc("+CEREG:1"),
        Urc("RING"),
        done("AT+X", "RINGBACK"),
    ]


def test_with_nothing_pending_every_line_is_a_urc() -> None:
    channel = AtChannel(())
    data = b'\r\n+QIURC: "recv",2\r\nsomething odd\r\nOK\r\nNO CARRIER\r\n'
    assert channel.receive(data, 0.0) == [
        Urc('+QIURC: "recv",2'),
        Urc("something odd"),
        Urc("OK"),
        Urc("NO CARRIER"),
    ]


def test_blank_lines_spaces_and_nuls_are_ignored() -> None:
    channel = AtChannel()
    reply = b"\x00\x00\r\n\r\n\r\n  Quectel \t\r\r\n\n\n\x00OK\r\n\r\n"
    assert exchange(channel, "AT+CGMI", reply) == [done("AT+CGMI", "Quectel")]


# --- timeouts -------------------------------------------------------------------------


def test_a_command_times_out_at_its_deadline() -> None:
    channel = AtChannel()
    channel.send("AT+COPS=?", 10.0, 180.0)
    assert channel.next_deadline() == 190.0
    assert channel.receive(b'\r\n+COPS: (2,"Op","Op","00101",7)\r\n', 20.0) == []
    assert channel.handle_timer(189.9) == []  # early: harmless
    events = channel.handle_timer(190.0)
    assert events == [
        CommandDone("AT+COPS=?", Outcome.TIMEOUT, ('+COPS: (2,"Op","Op","00101",7)',))
    ]
    assert channel.pending is None and channel.next_deadline() is None
    assert channel.handle_timer(500.0) == []


def test_late_result_before_the_next_send_is_dropped() -> None:
    channel = AtChannel()
    channel.send("AT+COPS=?", 0.0, 1.0)
    channel.handle_timer(1.0)
    assert channel.receive(b"\r\nOK\r\n", 2.0) == []
    assert exchange(channel, "AT", b"\r\nOK\r\n", 3.0) == [done("AT")]
    assert channel.statistics().late_results == 1
    assert channel.receive(b"\r\nOK\r\n", 4.0) == [Urc("OK")]  # owed only once


def test_late_result_after_the_next_send_is_dropped_when_the_modem_echoes() -> None:
    channel = AtChannel()
    exchange(channel, "AT", b"AT\r\r\nOK\r\n")  # the modem echoes
    channel.send("AT+COPS=?", 0.0, 1.0)
    assert channel.receive(b"AT+COPS=?\r", 0.5) == []
    channel.handle_timer(1.0)
    late = b'\r\n+COPS: (1,"Op")\r\n\r\nOK\r\n'
    events = exchange(channel, "AT+CSQ", late + b"AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n", 2.0)
    assert events == [Urc('+COPS: (1,"Op")'), done("AT+CSQ", "+CSQ: 20,99")]
    assert channel.statistics().late_results == 1


def test_late_result_after_the_next_send_with_echo_off_is_ambiguous() -> None:
    """Documented limit: without echo nothing tells the two results apart."""
    channel = AtChannel()
    exchange(channel, "ATE0", b"ATE0\r\r\nOK\r\n")
    channel.send("AT+COPS=?", 0.0, 1.0)
    channel.handle_timer(1.0)
    events = exchange(channel, "AT+CSQ", b"\r\nOK\r\n", 2.0)
    assert events == [done("AT+CSQ")]
    assert channel.receive(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n", 2.1) == [
        Urc("+CSQ: 20,99"),
        Urc("OK"),
    ]


def test_no_endless_wait_for_an_echo_that_stopped() -> None:
    """The modem echoed once, then a command timed out without echo: the next command
    must not drop its own result waiting for an echo."""
    channel = AtChannel()
    exchange(channel, "AT", b"AT\r\r\nOK\r\n")
    channel.send("AT+CSQ", 0.0, 1.0)
    channel.handle_timer(1.0)
    assert exchange(channel, "AT", b"\r\nOK\r\n", 2.0) == [done("AT")]


def test_a_late_result_waits_for_the_echo_then_the_next_command_is_clean() -> None:
    channel = AtChannel()
    exchange(channel, "AT", b"AT\r\r\nOK\r\n")
    channel.send("AT+CGATT=1", 0.0, 1.0)
    channel.receive(b"AT+CGATT=1\r", 0.1)
    channel.handle_timer(1.0)
    channel.send("AT", 2.0, 1.0)
    assert channel.receive(b"AT\r\r\nOK\r\n", 2.1) == [done("AT")]
    assert channel.statistics().late_results == 0
    assert exchange(channel, "AT", b"AT\r\r\nOK\r\n", 3.0) == [done("AT")]


# --- CONNECT and data mode ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "trailing"),
    [
        (b"\r\nCONNECT\r\n", b""),
        (b"\r\nCONNECT\r\n" + LCP_CONFIGURE_REQUEST, LCP_CONFIGURE_REQUEST),
        (b"\r\nCONNECT 150000000\r\n" + LCP_CONFIGURE_REQUEST * 2, LCP_CONFIGURE_REQUEST * 2),
        (b"\r\nCONNECT" + LCP_CONFIGURE_REQUEST, LCP_CONFIGURE_REQUEST),
        (b"\r\nCONNECT\r" + LCP_CONFIGURE_REQUEST, LCP_CONFIGURE_REQUEST),
        (b"\r\nCONNECT\r\n\r\nOK\r\n", b"\r\nOK\r\n"),
    ],
)
def test_bytes_after_connect_in_the_same_read_are_trailing(reply: bytes, trailing: bytes) -> None:
    channel = AtChannel()
    events = exchange(channel, "ATD*99***1#", reply)
    assert len(events) == 1 and isinstance(events[0], Connected)
    assert events[0].trailing == trailing
    assert channel.online and channel.pending is None and channel.next_deadline() is None


def test_a_glued_frame_deframes_once() -> None:
    channel = AtChannel()
    later = Framer().encode(Protocol.LCP, bytes([Code.CONFIGURE_REQUEST, 2, 0, 4]))
    events = exchange(channel, "ATD*99#", QUECTEL_BG96_DIAL + LCP_CONFIGURE_REQUEST)
    assert isinstance(events[0], Connected)
    deframer = Deframer()
    frames = deframer.feed(events[0].trailing) + deframer.feed(later)
    assert [frame.info[1] for frame in frames] == [1, 2]
    assert all(frame.protocol == Protocol.LCP for frame in frames)


def test_lf_of_connect_in_the_next_read_is_fill_for_the_deframer() -> None:
    channel = AtChannel()
    events = exchange(channel, "ATD*99#", b"\r\nCONNECT\r")
    assert events == [Connected("ATD*99#", "", b"")]
    assert frames_of(b"\n" + LCP_CONFIGURE_REQUEST) == frames_of(LCP_CONFIGURE_REQUEST)


def test_data_mode_closes_the_channel_until_resumed() -> None:
    channel = AtChannel()
    exchange(channel, "ATD*99#", b"\r\nCONNECT\r\n")
    with pytest.raises(UsageError):
        channel.receive(b"~", 1.0)
    with pytest.raises(UsageError):
        channel.send("AT", 1.0, TIMEOUT)
    channel.resume_command_mode(2.0)
    assert not channel.online
    assert channel.receive(b"\r\nNO CARRIER\r\n", 2.0) == [Urc("NO CARRIER")]
    assert exchange(channel, "ATO", b"\r\nCONNECT\r\n", 3.0) == [Connected("ATO", "", b"")]


def test_information_lines_before_connect_are_kept() -> None:
    channel = AtChannel()
    events = exchange(channel, 'AT+CGDATA="PPP",1', b"\r\n+CGDATA: 1\r\nCONNECT\r\n")
    assert events == [Connected('AT+CGDATA="PPP",1', "", b"", ("+CGDATA: 1",))]


def test_late_connect_with_nothing_pending_still_goes_online() -> None:
    channel = AtChannel()
    channel.send("ATD*99#", 0.0, 1.0)
    channel.handle_timer(1.0)
    events = channel.receive(b"\r\nCONNECT\r\n~", 2.0)
    assert events == [Connected(None, "", b"~")]
    assert channel.online


def test_resume_without_connect_is_misuse() -> None:
    with pytest.raises(UsageError):
        AtChannel().resume_command_mode(0.0)


# --- prompts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "prompt", "done_reply", "lines"),
    [
        ("AT+SQNSSENDEXT=1,4", SEQUANS_VZM20Q_SQNSSENDEXT_PROMPT, b"\r\nOK\r\n", ()),
        ("AT+SQNSSENDEXT=1,4", b"AT+SQNSSENDEXT=1,4\r\r\n> ", b"\r\nOK\r\n", ()),
        ("AT#SSENDEXT=1,4", TELIT_ME910C1_SSENDEXT_PROMPT, b"\r\nOK\r\n", ()),
        ("AT#SSENDEXT=1,4", b"\r\n>", b" \r\nOK\r\n", ()),
        (
            'AT+USOST=0,"2001:db8::1",5683,4',
            UBLOX_SARA_R410M_USOST_PROMPT,
            UBLOX_SARA_R410M_USOST_DONE,
            ("+USOST: 0,4",),
        ),
    ],
)
@pytest.mark.parametrize("cut", ["whole", "bytewise"])
def test_prompt_then_payload_then_final_result(
    command: str, prompt: bytes, done_reply: bytes, lines: tuple[str, ...], cut: str
) -> None:
    channel = AtChannel()
    channel.send(command, 0.0, TIMEOUT, expect_prompt=True)
    events = read_all(channel, [prompt] if cut == "whole" else bytewise(prompt), 0.1)
    assert events == [Prompt(command)]
    assert channel.send_payload(b"\xde\xad\xbe\xef", 0.2, 2.0) == b"\xde\xad\xbe\xef"
    assert channel.next_deadline() == 2.2
    assert channel.receive(done_reply, 0.3) == [done(command, *lines)]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (QUECTEL_BG96_QISEND_OK, None),
        (QUECTEL_BG96_QISEND_FAIL, AtError(ErrorKind.ERROR, None, "SEND FAIL")),
        (b"\r\nERROR\r\n", AtError(ErrorKind.ERROR)),
        (b"\r\nsend  ok\r\n", None),
    ],
)
def test_vendor_final_results_end_the_command_that_names_them(
    reply: bytes, error: AtError | None
) -> None:
    """Quectel BG96 +QISEND ends with SEND OK / SEND FAIL / ERROR, never OK."""
    channel = AtChannel()
    command = "AT+QISEND=0,4"
    channel.send(command, 0.0, TIMEOUT, expect_prompt=True, extra_finals=QUECTEL_SEND_FINALS)
    assert channel.receive(QUECTEL_BG96_QISEND_PROMPT, 0.1) == [Prompt(command)]
    channel.send_payload(b"test", 0.2, 2.0)
    assert channel.receive(reply, 0.3) == [done(command, error=error)]


def test_vendor_final_results_are_text_for_other_commands() -> None:
    channel = AtChannel()
    channel.send("AT+QISEND=0,0", 0.0, TIMEOUT, extra_finals=QUECTEL_SEND_FINALS)
    assert channel.receive(b"\r\n+QISEND: 9,9,0\r\n\r\nOK\r\n", 0.1) == [
        done("AT+QISEND=0,0", "+QISEND: 9,9,0")
    ]
    assert exchange(channel, "AT+X", b"\r\nSEND OK\r\n\r\nOK\r\n") == [done("AT+X", "SEND OK")]


@pytest.mark.parametrize("finals", ["SEND OK", {"SEND OK": 1}, {"": True}, {3: True}])
def test_bad_extra_finals_are_misuse(finals: object) -> None:
    with pytest.raises(UsageError):
        AtChannel().send("AT+QISEND=0,4", 0.0, 1.0, extra_finals=finals)  # type: ignore[arg-type]


def test_prompt_refused_with_an_error() -> None:
    channel = AtChannel()
    events = exchange(channel, "AT#SSENDEXT=9,4", b"\r\nERROR\r\n", expect_prompt=True)
    assert events == [done("AT#SSENDEXT=9,4", error=AtError(ErrorKind.ERROR))]


def test_prompt_characters_are_text_unless_a_prompt_is_awaited() -> None:
    channel = AtChannel()
    assert exchange(channel, "AT+X", b"\r\n> 1\r\n\r\nOK\r\n") == [done("AT+X", "> 1")]


def test_payload_without_a_prompt_is_misuse() -> None:
    channel = AtChannel()
    with pytest.raises(UsageError):
        channel.send_payload(b"x", 0.0, 1.0)
    channel.send("AT#SSENDEXT=1,1", 0.0, TIMEOUT, expect_prompt=True)
    with pytest.raises(UsageError):
        channel.send_payload(b"x", 0.0, 1.0)


# --- misuse and limits ----------------------------------------------------------------


def test_send_returns_the_command_line() -> None:
    assert AtChannel().send('AT+CGDCONT=1,"IP","test"', 0.0, 1.0) == b'AT+CGDCONT=1,"IP","test"\r'


@pytest.mark.parametrize("command", ["", "  ", "AT\r", "AT\nAT", "AT\x1a", "ATD\u00e9"])
def test_bad_commands_are_misuse(command: str) -> None:
    with pytest.raises(UsageError):
        AtChannel().send(command, 0.0, 1.0)


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_timeouts_are_misuse(timeout: float) -> None:
    with pytest.raises(UsageError):
        AtChannel().send("AT", 0.0, timeout)


def test_one_command_at_a_time() -> None:
    channel = AtChannel()
    channel.send("AT", 0.0, 1.0)
    with pytest.raises(UsageError, match="still pending"):
        channel.send("AT", 0.0, 1.0)


@pytest.mark.parametrize(
    "arguments", [{"urcs": "RING"}, {"urcs": [""]}, {"max_line": 3}, {"max_info_lines": 0}]
)
def test_bad_construction_is_misuse(arguments: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        AtChannel(**arguments)  # type: ignore[arg-type]


def test_garbage_without_line_ends_stays_bounded() -> None:
    channel = AtChannel(max_line=64)
    channel.send("AT", 0.0, TIMEOUT)
    for _ in range(1000):
        assert channel.receive(b"\xff" * 100, 0.0) == []
    assert channel.receive(b"tail\r\n\r\nOK\r\n", 0.0) == [done("AT")]
    stats = channel.statistics()
    assert stats.overlong_lines == 1 and stats.dropped_bytes == 100_004


def test_ppp_leftovers_and_control_characters_are_dropped_and_counted() -> None:
    channel = AtChannel()
    data = LCP_CONFIGURE_REQUEST + b"\r\nNO CARRIER\r\n\x1b[0m\r\n"
    assert channel.receive(data, 0.0) == [Urc("NO CARRIER")]
    assert channel.statistics().garbage_lines == 2


def test_information_lines_are_bounded_per_command() -> None:
    channel = AtChannel(max_info_lines=2)
    events = exchange(channel, "AT+CLAC", b"\r\nA\r\nB\r\nC\r\nD\r\n\r\nOK\r\n")
    assert events == [done("AT+CLAC", "A", "B")]
    assert channel.statistics().excess_lines == 2


# --- properties -----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One move of a scenario: send a command, read bytes, send a payload after a
    prompt, or let the pending command's deadline pass."""

    kind: str
    data: bytes = b""
    command: str = ""
    prefix: str | None = None
    prompt: bool = False


def send(command: str, prefix: str | None = None, prompt: bool = False) -> Step:
    return Step("send", command=command, prefix=prefix, prompt=prompt)


def read(data: bytes) -> Step:
    return Step("read", data)


TIMER = Step("timer")


SCENARIOS: list[list[Step]] = [
    [read(QUECTEL_BG96_BOOT), send("ATI"), read(QUECTEL_BG96_ATI_ECHOED)],
    [
        send("AT+CPIN?", "+CPIN:"),
        read(UBLOX_SARA_R410M_CPIN_NO_SIM + b"\r\n+CEREG: 2\r\n"),
        send("AT#SI=1", "#SI:"),
        read(TELIT_ME910C1_SI_WITH_SRING),
    ],
    [
        send("ATE1V0"),
        read(b"ATE1V0\r0\r2\r"),
        send("AT+CSQ"),
        read(b"AT+CSQ\r+CSQ: 20,99\r\n0\r"),
        send("ATD*99#"),
        read(b"ATD*99#\r1\r" + LCP_CONFIGURE_REQUEST),
    ],
    [
        send("AT#SSENDEXT=1,4", prompt=True),
        read(TELIT_ME910C1_SSENDEXT_PROMPT),
        Step("payload", b"abcd"),
        read(b"\r\nOK\r\n"),
        send("AT+SQNSSENDEXT=1,4", prompt=True),
        read(b"\r\n+SQNSRING: 1,5\r\n> "),
        Step("payload", b"abcd"),
        read(b"\r\n+CME ERROR:49\r\n"),
    ],
    [
        send("AT+COPS=?"),
        TIMER,
        read(b'\r\n+COPS: (1,"Op")\r\n\r\nOK\r\n'),
        send("AT+CSQ"),
        read(b"\r\n" + b"x" * 5000 + b"\r\n\x01\x02\r\n+CSQ: 1,2\r\n\r\nOK\r\n"),
        send("ATD*99***1#"),
        read(b"ATD*99***1#\r\r\nCONNECT 150000000\r\n" + LCP_CONFIGURE_REQUEST * 3),
    ],
    [
        send("ATD*99#"),
        read(b"\r\n\r\nCONNECT" + LCP_CONFIGURE_REQUEST + b"\r\n" + LCP_CONFIGURE_REQUEST),
    ],
]
"""Exchanges that exercise every path: boot URCs, echo, V0, prompts, errors, a timeout
with its late result, overlong and garbage lines, CONNECT with and without a line end."""

Chunker = Callable[[bytes], Sequence[bytes]]


def play(steps: list[Step], cut: Chunker) -> tuple[list[AtEvent], bytes, AtStatistics]:
    """Events (with ``Connected.trailing`` emptied), the data after CONNECT, counters."""
    channel = AtChannel(VENDOR_URCS, max_line=1024)
    events: list[AtEvent] = []
    data = bytearray()
    for step in steps:
        if step.kind == "send":
            channel.send(
                step.command, 0.0, TIMEOUT, response_prefix=step.prefix, expect_prompt=step.prompt
            )
        elif step.kind == "payload":
            channel.send_payload(step.data, 0.0, TIMEOUT)
        elif step.kind == "timer":
            events += channel.handle_timer(TIMEOUT)
        else:
            for chunk in cut(step.data):
                if channel.online:
                    data += chunk
                    continue
                for event in channel.receive(chunk, 0.0):
                    if isinstance(event, Connected):
                        data += event.trailing
                        event = replace(event, trailing=b"")
                    events.append(event)
    return events, bytes(data), channel.statistics()


@FAST
@given(st.sampled_from(range(len(SCENARIOS))), st.lists(st.integers(0, 10_000), max_size=30))
def test_any_chunking_gives_the_same_events(index: int, cuts: list[int]) -> None:
    steps = SCENARIOS[index]
    events, data, stats = play(steps, lambda reply: [reply])
    for cut in (bytewise, lambda reply: split_at(reply, cuts)):
        other_events, other_data, other_stats = play(steps, cut)
        assert other_events == events
        assert other_stats == stats
        # Only the LF of "CONNECT<CR><LF>" may move to the data: RFC 1662 fill.
        assert other_data in (data, b"\n" + data)
        assert frames_of(other_data) == frames_of(data)


def test_scenarios_cover_every_event_kind() -> None:
    kinds = {type(event) for steps in SCENARIOS for event in play(steps, lambda r: [r])[0]}
    assert kinds == {CommandDone, Urc, Prompt, Connected}
    stats = [play(steps, lambda r: [r])[2] for steps in SCENARIOS]
    assert sum(s.overlong_lines for s in stats) and sum(s.garbage_lines for s in stats)
    assert sum(s.late_results for s in stats)


@FAST
@given(
    st.lists(st.binary(max_size=80), max_size=12),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_receive_never_raises(chunks: list[bytes], pending: bool, prompt: bool, v0: bool) -> None:
    channel = AtChannel(max_line=32, numeric=v0)
    if pending:
        channel.send("ATE0V1", 0.0, TIMEOUT, response_prefix="+X:", expect_prompt=prompt)
    for chunk in chunks:
        if channel.online:
            channel.resume_command_mode(0.0)
        channel.receive(chunk, 0.0)
    channel.handle_timer(TIMEOUT)
    assert channel.pending is None or channel.online


# --- against the simulator ------------------------------------------------------------


class SimLine:
    """The pure simulator ``Modem`` on virtual time; what it writes waits in ``out``."""

    def __init__(self, profile: str, messy: bool, **faults: object) -> None:
        sim = SimSettings(profile=profile, messy=messy, seed=7, **faults)  # type: ignore[arg-type]
        self.modem = Modem(sim, rng=random.Random(7))
        self.now = 0.0
        self.out = bytearray()
        self._collect(self.modem.start(0.0))

    def _collect(self, outputs: list[object]) -> None:
        self.out += b"".join(o.data for o in outputs if isinstance(o, WriteSerial))

    def write(self, data: bytes) -> None:
        self._collect(self.modem.receive(data, self.now))

    def run_until(self, end: float) -> None:
        while (deadline := self.modem.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self._collect(self.modem.handle_timer(self.now))

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data


class Dte:
    """Our side: an AtChannel reading the simulator's bytes in chunks cut by ``cut``."""

    def __init__(self, line: SimLine, cut: Chunker, urcs: Iterable[str] = VENDOR_URCS) -> None:
        self.line = line
        self.cut = cut
        self.channel = AtChannel(urcs)
        self.urcs: list[str] = []
        self.data = bytearray()
        """Bytes for PPP: Connected.trailing, then every chunk after it."""
        self.raw = bytearray()
        """Everything the modem wrote, uncut."""

    def read(self) -> list[AtEvent]:
        reply = self.line.take()
        self.raw += reply
        results: list[AtEvent] = []
        for chunk in self.cut(reply):
            if self.channel.online:
                self.data += chunk
                continue
            for event in self.channel.receive(chunk, self.line.now):
                if isinstance(event, Urc):
                    self.urcs.append(event.line)
                else:
                    results.append(event)
                if isinstance(event, Connected):
                    self.data += event.trailing
        return results

    def command(self, command: str, prefix: str | None = None) -> AtEvent:
        self.line.write(self.channel.send(command, self.line.now, TIMEOUT, response_prefix=prefix))
        results = self.read()
        assert len(results) == 1, results
        return results[0]


BRING_UP = (
    ("AT", None),
    ("ATE0", None),
    ("AT+CMEE=1", None),
    ("AT+CEREG=2", None),
    ("ATI", None),
    ("AT+CPIN?", "+CPIN:"),
    ('AT+CGDCONT=1,"IP","test"', None),
    ("AT+CEREG?", "+CEREG:"),
    ("AT+CSQ", "+CSQ:"),
)


def cutters(seed: int) -> dict[str, Chunker]:
    rng = random.Random(seed)

    def at_random(data: bytes) -> list[bytes]:
        return split_at(data, [rng.randrange(len(data) + 1) for _ in range(rng.randrange(6))])

    return {"whole": lambda data: [data], "bytewise": bytewise, "random": at_random}


def check_bring_up(dte: Dte, profile: str) -> None:
    for command, prefix in BRING_UP:
        result = dte.command(command, prefix)
        assert isinstance(result, CommandDone) and result.outcome is Outcome.OK, result
        if command == "ATI":
            assert result.lines == PROFILES[profile].identification["I"]
        elif command == "AT+CPIN?":
            assert result.lines == ("+CPIN: READY",)
        elif command == "AT+CEREG?":
            # The read response (with <n>) first; a URC of the same prefix may follow.
            assert result.lines[0].startswith("+CEREG: 2,1,")
            assert all(line.startswith("+CEREG: ") for line in result.lines)
        elif command == "AT+CSQ":
            assert result.lines == ("+CSQ: 20,99",)


def check_dial(dte: Dte, connect: str, result_code: bytes = b"CONNECT") -> None:
    """ATD answers CONNECT (``result_code``: b"1" in V0); the bytes after its line, then
    those the modem sends later, deframe to its LCP Configure-Requests."""
    start = len(dte.raw)
    result = dte.command("ATD*99***1#")
    assert result == Connected("ATD*99***1#", connect, result.trailing)  # type: ignore[union-attr]
    dte.line.run_until(dte.line.now + 10.0)  # the first frame (tidy mode) and resends
    later = dte.line.take()
    reply = bytes(dte.raw[start:])
    end = reply.index(b"\r", reply.index(result_code)) + 1
    expected = reply[end + reply[end : end + 1].count(b"\n") :] + later
    data = bytes(dte.data) + later
    assert data in (expected, b"\n" + expected)  # nothing lost, nothing read twice
    frames = frames_of(data)
    assert frames and frames == frames_of(expected)
    assert all(frame.protocol == Protocol.LCP for frame in frames)
    assert frames[0].info[0] == Code.CONFIGURE_REQUEST


@pytest.mark.parametrize("cut", ["whole", "bytewise", "random"])
@pytest.mark.parametrize("messy", [False, True], ids=["plain", "messy"])
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_bring_up_against_the_simulator(profile: str, messy: bool, cut: str) -> None:
    for seed in range(5 if cut == "random" else 1):
        dte = Dte(SimLine(profile, messy), cutters(seed)[cut])
        dte.read()
        assert dte.urcs == list(PROFILES[profile].boot_urcs)
        check_bring_up(dte, profile)
        # --messy prints the registration URC inside every response with lines.
        urcs = dte.urcs[len(PROFILES[profile].boot_urcs) :]
        assert all(urc.startswith("+CEREG: 1,") for urc in urcs)
        assert bool(urcs) == messy
        check_dial(dte, PROFILES[profile].connect_text)
        stats = dte.channel.statistics()
        assert stats.garbage_lines == stats.overlong_lines == stats.late_results == 0


@pytest.mark.parametrize("messy", [False, True], ids=["plain", "messy"])
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_v0_bring_up_against_the_simulator(profile: str, messy: bool) -> None:
    dte = Dte(SimLine(profile, messy), cutters(1)["random"])
    dte.read()
    for command, prefix in (("AT", None), ("ATE0V0", None), ("AT+CMEE=1", None)):
        assert dte.command(command, prefix) == done(command)
    assert dte.channel.numeric
    assert dte.command("AT+CSQ", "+CSQ:") == done("AT+CSQ", "+CSQ: 20,99")
    assert dte.command("AT+CGATT=7").error.code == 50  # type: ignore[union-attr]
    check_dial(dte, "", b"1")  # V0: CONNECT is "1<CR>", no text, no LF


@pytest.mark.parametrize("cmee", [1, 2])
@pytest.mark.parametrize("messy", [False, True], ids=["plain", "messy"])
def test_sim_pin_errors_against_the_simulator(messy: bool, cmee: int) -> None:
    dte = Dte(SimLine("ublox", messy, pin="1234"), cutters(3)["random"])
    dte.read()
    assert dte.command(f"AT+CMEE={cmee}") == done(f"AT+CMEE={cmee}")
    assert dte.command("AT+CPIN?", "+CPIN:") == done("AT+CPIN?", "+CPIN: SIM PIN")
    result = dte.command("AT+CGATT=1")
    assert isinstance(result, CommandDone) and result.outcome is Outcome.FAIL
    assert result.error == AtError(ErrorKind.CME, 11, "SIM PIN required")
    assert dte.command('AT+CPIN="1234"') == done('AT+CPIN="1234"')


@pytest.mark.parametrize(
    ("dial_result", "kind"),
    [
        (DialResult.BUSY, ErrorKind.BUSY),
        (DialResult.NO_CARRIER, ErrorKind.NO_CARRIER),
        (DialResult.NO_ANSWER, ErrorKind.NO_ANSWER),
        (DialResult.NO_DIALTONE, ErrorKind.NO_DIALTONE),
    ],
)
def test_dial_failures_against_the_simulator(dial_result: DialResult, kind: ErrorKind) -> None:
    dte = Dte(SimLine("telit", True, dial_result=dial_result), bytewise)
    dte.read()
    assert dte.command("ATD*99***1#") == done("ATD*99***1#", error=AtError(kind))
    assert not dte.channel.online
