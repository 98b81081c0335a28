"""bridge.modem.BringUp against scripted replies: each error the modem can give at each
step, the SIM's moods, the machine's contract (deadlines, misuse, chunking).

``Scripted`` answers every command line from a table at once (``OK`` by default), on
virtual time. Replies are byte-exact, as the modems named print them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.modem import (
    AuthMode,
    BringUp,
    BringUpFailed,
    BringUpOutput,
    Dialled,
    FailureKind,
    ModemFound,
    ModemSettings,
    Registered,
    SimReady,
    Step,
    Transcript,
    WriteModem,
)
from bridge.modem.script import SIM_BUSY_WAIT, SYNC_SETTLE
from netstack.errors import UsageError
from netstack.secret import Secret

T = TypeVar("T")
Reply = bytes | list[bytes] | None
"""Bytes; a list answered in turn (the last one again and again); None: no answer."""
OK = b"\r\nOK\r\n"
REPLIES: dict[str, Reply] = {
    "AT+CGMI": b"\r\nQuectel\r\n\r\nOK\r\n",
    "AT+CGMM": b"\r\nBG96\r\n\r\nOK\r\n",
    "AT+CGMR": b"\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n",
    "AT+CGSN": b"\r\n866425030012345\r\n\r\nOK\r\n",
    "AT+CPIN?": b"\r\n+CPIN: READY\r\n\r\nOK\r\n",
    "AT+QCCID": b"\r\n+QCCID: 89860318760286123456\r\n\r\nOK\r\n",
    "AT+CGDCONT?": b'\r\n+CGDCONT: 1,"IPV4V6","","",0,0\r\n\r\nOK\r\n',
    "AT+CEREG?": b'\r\n+CEREG: 2,1,"2008","2B2078",8\r\n\r\nOK\r\n',
    "AT+CSQ": b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
    "AT+CESQ": b"\r\n+CESQ: 99,99,255,255,20,45\r\n\r\nOK\r\n",
    "ATD*99***1#": b"\r\nCONNECT 150000000\r\n~\xff}#\xc0!}!",
}
"""A Quectel BG96 on LTE-M (AcT 8) that says yes to everything."""
SETTINGS = ModemSettings(apn="internet")
SIM_PIN = b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"


class Scripted:
    def __init__(
        self,
        replies: dict[str, Reply] | None = None,
        settings: ModemSettings = SETTINGS,
        cut: Callable[[bytes], list[bytes]] = lambda data: [data],
    ) -> None:
        self.replies = {**REPLIES, **(replies or {})}
        self.bring_up = BringUp(settings)
        self.cut = cut
        self.now = 0.0
        self.outputs: list[BringUpOutput] = []
        self.commands: list[str] = []
        """What was written, as written (secrets included)."""

    def run(self) -> Dialled | BringUpFailed:
        self._take(self.bring_up.start(0.0))
        while self.bring_up.result is None:
            deadline = self.bring_up.next_deadline()
            assert deadline is not None and deadline < 1000, "stuck"
            self.now = deadline
            self._take(self.bring_up.handle_timer(self.now))
        return self.bring_up.result

    def failure(self) -> BringUpFailed:
        result = self.run()
        assert isinstance(result, BringUpFailed), result
        return result

    def sent(self, prefix: str) -> list[str]:
        return [c for c in self.commands if c.startswith(prefix)]

    def _take(self, outputs: list[BringUpOutput]) -> None:
        self.outputs += outputs
        for output in outputs:
            if isinstance(output, WriteModem):
                command = output.data.decode().removesuffix("\r")
                self.commands.append(command)
                reply = self._reply(command)
                for chunk in [] if reply is None else self.cut(reply):
                    if self.bring_up.result is None:
                        self._take(self.bring_up.receive(chunk, self.now))

    def _reply(self, command: str) -> bytes | None:
        reply = self.replies.get(command, OK)
        if isinstance(reply, list):
            return reply.pop(0) if len(reply) > 1 else reply[0]
        return reply


def of_type(outputs: list[BringUpOutput], kind: type[T]) -> list[T]:
    return [o for o in outputs if isinstance(o, kind)]


# --- the happy path ---------------------------------------------------------------------


def test_quectel_bg96_on_lte_m() -> None:
    modem = Scripted()
    result = modem.run()
    assert isinstance(result, Dialled)
    assert result.connect_text == "150000000" and result.trailing == b"~\xff}#\xc0!}!"
    assert of_type(modem.outputs, ModemFound)[0].profile == "quectel"
    registered = of_type(modem.outputs, Registered)[0]
    assert (registered.technology, registered.act) == ("LTE-M", 8)  # BG96 reports eMTC as 8
    assert modem.commands[:3] == ["AT", "ATE0", "AT+CMEE=1"]


def test_generic_modem_registered_on_umts_by_cgreg() -> None:
    """A 3G modem without +CEREG: identified by ATI, registered by +CGREG (polled)."""
    modem = Scripted(
        {
            "AT+CGMI": b"\r\nERROR\r\n",
            "AT+CGMM": b"\r\nERROR\r\n",
            "ATI": b"\r\nManufacturer: ACME\r\nModel: 3G-1\r\nRevision: 1.0\r\n\r\nOK\r\n",
            "AT+CEREG=2": b"\r\nERROR\r\n",
            "AT+CEREG?": b"\r\nERROR\r\n",
            "AT+CGREG?": [
                b"\r\n+CGREG: 2,2\r\n\r\nOK\r\n",
                b'\r\n+CGREG: 2,1,"1A9","BE2B9F",2\r\n\r\nOK\r\n',
            ],
        }
    )
    assert isinstance(modem.run(), Dialled)
    found = of_type(modem.outputs, ModemFound)[0]
    assert (found.maker, found.model, found.profile) == ("ACME", "3G-1", "generic")
    registered = of_type(modem.outputs, Registered)[0]
    assert (registered.command, registered.technology) == ("+CGREG", "UMTS")


# --- SIM --------------------------------------------------------------------------------


def test_sim_busy_then_ready() -> None:
    busy = b"\r\n+CME ERROR: 14\r\n"
    modem = Scripted({"AT+CPIN?": [busy, busy, b"\r\n+CPIN: READY\r\n\r\nOK\r\n"]})
    assert isinstance(modem.run(), Dialled)
    assert len(modem.sent("AT+CPIN?")) == 3
    assert of_type(modem.outputs, SimReady)[0].elapsed == pytest.approx(
        SYNC_SETTLE + 2 * SIM_BUSY_WAIT
    )


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"\r\n+CME ERROR: 10\r\n", "there is no SIM in the modem"),
        (b"\r\n+CME ERROR: SIM not inserted\r\n", "there is no SIM in the modem"),  # u-blox
        (b"\r\n+CME ERROR: 13\r\n", "the SIM does not work"),
        (b"\r\n+CPIN: PH-NET PIN\r\n\r\nOK\r\n", "the modem is locked to another network"),
        (b"\r\nERROR\r\n", "the SIM's state cannot be read"),
        (b"\r\nOK\r\n", "the SIM's state cannot be read"),
    ],
)
def test_sim_problems(reply: bytes, words: str) -> None:
    failed = Scripted({"AT+CPIN?": reply}).failure()
    assert (failed.step, failed.kind) == (Step.SIM, FailureKind.SIM)
    assert failed.message.startswith(words)


def test_pin_required_as_an_error_ublox_sara_r410m() -> None:
    """u-blox SARA-R4 with AT+CMEE=2 answers +CPIN? with the error itself."""
    locked = b"\r\n+CME ERROR: SIM PIN required\r\n"
    ready = b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    modem = Scripted({"AT+CPIN?": [locked, ready]}, ModemSettings(pin=Secret("1234")))
    assert isinstance(modem.run(), Dialled)
    assert modem.sent("AT+CPIN=") == ['AT+CPIN="1234"']
    failed = Scripted({"AT+CPIN?": locked}).failure()
    assert failed.message == (
        "the SIM needs a PIN: --pin (modem: AT+CPIN? -> +CME ERROR: 11 SIM PIN required)"
    )


def test_the_third_wrong_pin_asks_for_the_puk() -> None:
    modem = Scripted(
        {"AT+CPIN?": SIM_PIN, 'AT+CPIN="1234"': b"\r\n+CME ERROR: 12\r\n"},
        ModemSettings(pin=Secret("1234")),
    )
    failed = modem.failure()
    assert "needs its PUK" in failed.message and "1234" not in str(failed)


def test_no_answer_to_the_pin_is_not_retried() -> None:
    modem = Scripted(
        {"AT+CPIN?": SIM_PIN, 'AT+CPIN="1234"': None},
        ModemSettings(pin=Secret("1234")),
    )
    failed = modem.failure()
    assert (failed.step, failed.kind) == (Step.SIM, FailureKind.SIM)
    assert "not sent again" in failed.message
    assert failed.message.endswith('(modem: AT+CPIN="***": no answer in 5 s)')
    assert len(modem.sent("AT+CPIN=")) == 1


def test_a_sim_that_asks_again_after_the_pin() -> None:
    modem = Scripted({"AT+CPIN?": SIM_PIN}, ModemSettings(pin=Secret("1234")))
    failed = modem.failure()
    assert "asks for its PIN again; not sent twice" in failed.message
    assert len(modem.sent("AT+CPIN=")) == 1


def test_a_modem_that_keeps_echoing_never_shows_the_pin() -> None:
    """ATE0 refused: every command comes back echoed, the PIN too; no output shows it."""

    def echoed(command: str, reply: bytes) -> bytes:
        return command.encode() + b"\r" + reply

    modem = Scripted(
        {
            "ATE0": b"ATE0\r\r\nERROR\r\n",
            "AT+CPIN?": [
                echoed("AT+CPIN?", b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"),
                echoed("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
            ],
            'AT+CPIN="7531"': echoed('AT+CPIN="7531"', OK),
        },
        ModemSettings(pin=Secret("7531")),
    )
    assert isinstance(modem.run(), Dialled)
    assert modem.bring_up.statistics().echoes == 4  # ATE0, AT+CPIN? twice, the PIN
    for output in modem.outputs:
        assert "7531" not in repr(output)


# --- context, authentication, dial ------------------------------------------------------


def test_context_refused() -> None:
    failed = Scripted({'AT+CGDCONT=1,"IPV4V6","internet"': b"\r\n+CME ERROR: 50\r\n"}).failure()
    assert (failed.step, failed.kind) == (Step.CONTEXT, FailureKind.PDP)
    assert failed.message == (
        "the modem refused the PDP context "
        '(modem: AT+CGDCONT=1,"IPV4V6","internet" -> +CME ERROR: 50 incorrect parameters)'
    )


def test_authentication_refused_without_showing_the_password() -> None:
    settings = ModemSettings(apn="internet", user="me", password=Secret("pw"), auth=AuthMode.PAP)
    command = 'AT+QICSGP=1,3,"internet","me","pw",1'
    failed = Scripted({command: b"\r\nERROR\r\n"}, settings).failure()
    assert (failed.step, failed.kind) == (Step.AUTH, FailureKind.PDP)
    assert failed.message.endswith('(modem: AT+QICSGP=1,3,"internet","me","***",1 -> ERROR)')


def test_clearing_authentication_may_fail() -> None:
    modem = Scripted({'AT+QICSGP=1,3,"internet","","",0': b"\r\nERROR\r\n"})
    assert isinstance(modem.run(), Dialled)


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (
            b"\r\n+CME ERROR: 133\r\n",
            FailureKind.PDP,
            "+CME ERROR: 133 requested service option not subscribed",
        ),
        (b"\r\n+CME ERROR:148\r\n", FailureKind.PDP, "+CME ERROR: 148 unspecified GPRS error"),
        (b"\r\n+CME ERROR: 11\r\n", FailureKind.SIM, "+CME ERROR: 11 SIM PIN required"),
        (b"\r\nERROR\r\n", FailureKind.PDP, "ERROR"),
        (b"\r\nOK\r\n", FailureKind.PDP, "OK"),
    ],
)
def test_dial_errors_in_the_modems_words(reply: bytes, kind: FailureKind, words: str) -> None:
    failed = Scripted({"ATD*99***1#": reply}, ModemSettings(dial_timeout=20.0)).failure()
    assert (failed.step, failed.kind) == (Step.DIAL, kind)
    assert failed.message.endswith(f"(modem: ATD*99***1# -> {words})")


def test_dial_timeout() -> None:
    failed = Scripted({"ATD*99***1#": None}, ModemSettings(dial_timeout=20.0)).failure()
    assert (failed.step, failed.kind) == (Step.DIAL, FailureKind.PDP)
    assert failed.message.endswith("(modem: ATD*99***1#: no answer in 20 s)")


def test_connect_without_a_dial() -> None:
    failed = Scripted({"AT+CSQ": b"\r\nCONNECT\r\n"}).failure()
    assert (failed.step, failed.kind) == (Step.SIGNAL, FailureKind.PDP)
    assert "without being dialled" in failed.message


# --- the contract -----------------------------------------------------------------------


def test_misuse_is_refused() -> None:
    bring_up = BringUp(SETTINGS)
    assert bring_up.next_deadline() is None and bring_up.handle_timer(5.0) == []
    with pytest.raises(UsageError):
        bring_up.receive(b"OK\r\n", 0.0)
    with pytest.raises(UsageError):
        BringUp(object())  # type: ignore[arg-type]
    modem = Scripted()
    modem.run()
    with pytest.raises(UsageError, match="PPP"):
        modem.bring_up.receive(b"~", 1.0)
    assert modem.bring_up.next_deadline() is None and modem.bring_up.handle_timer(99.0) == []
    with pytest.raises(UsageError):
        modem.bring_up.start(2.0)


def test_calling_the_timer_early_is_harmless() -> None:
    bring_up = BringUp(SETTINGS)
    first = bring_up.start(0.0)
    assert [o.shown for o in of_type(first, WriteModem)] == ["AT"]
    assert bring_up.handle_timer(0.5) == []
    assert bring_up.next_deadline() == 1.0
    timed_out = bring_up.handle_timer(1.0)
    assert Transcript("! no answer in 1 s") in timed_out
    assert bring_up.next_deadline() == 2.0  # the pause before the next try


def test_urc_ends_the_wait_between_sync_tries() -> None:
    bring_up = BringUp(SETTINGS)
    bring_up.start(0.0)
    bring_up.handle_timer(1.0)
    outputs = bring_up.receive(b"\r\nRDY\r\n", 1.2)  # Quectel's boot URC
    assert Transcript("< RDY") in outputs
    assert [o.shown for o in of_type(outputs, WriteModem)] == ["AT"]


def test_the_step_and_profile_as_it_goes() -> None:
    bring_up = BringUp(ModemSettings(profile="sequans"))
    assert bring_up.step is None and bring_up.profile.name == "sequans"
    bring_up.start(0.0)
    assert bring_up.step is Step.SYNC
    assert bring_up.reset.data == b"AT+CFUN=1,1\r"


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def summary(modem: Scripted) -> list[object]:
    """Everything but Dialled.trailing, which is what followed CONNECT in its read."""
    return [o if not isinstance(o, Dialled) else (o.connect_text, o.command) for o in modem.outputs]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_any_chunking_gives_the_same_bring_up(cuts: list[int]) -> None:
    whole = Scripted()
    whole.run()
    chunked = Scripted(cut=lambda data: split_at(data, cuts))
    chunked.run()
    bytewise = Scripted(cut=lambda data: [data[i : i + 1] for i in range(len(data))])
    bytewise.run()
    assert summary(chunked) == summary(whole) == summary(bytewise)
    assert chunked.commands == whole.commands
