"""bridge.modem.BringUp against the pure simulator ``Modem``, on virtual time.

Every vendor profile, plain and ``--messy`` (replies cut at random places, URCs inside
responses, ``+CME ERROR:`` without its space, doubled line ends, CONNECT glued to the
first LCP frame), ends in ``Dialled`` with trailing bytes that deframe into the
simulator's first LCP Configure-Request; every fault the simulator plays ends in the
``BringUpFailed`` a person can act on. Driven by ``tests/modem_pair.py``; nothing sleeps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge.modem import (
    BringUpFailed,
    Dialled,
    FailureKind,
    ModemFound,
    ModemSettings,
    Registered,
    SignalQuality,
    SimReady,
    Step,
    WriteModem,
)
from bridge.modem.script import SYNC_SETTLE
from bridge.simulator.at_network import OPERATOR
from bridge.simulator.profiles import PROFILES as SIM_PROFILES
from bridge.simulator.settings import DialResult, Registration, SimSettings
from netstack.numbers import Code, Protocol
from tests.modem_pair import ModemPair

SIM_PROFILE_NAMES = list(SIM_PROFILES)
USER, PASSWORD, PIN = "user", "pa55-w0rd", "2468"
SETTINGS = ModemSettings.from_options(apn="internet", user=USER, password=PASSWORD)
AUTH_COMMANDS = {
    "generic": 'AT+CGAUTH=1,2,"user","***"',
    "sequans": 'AT+CGAUTH=1,2,"user","***"',
    "telit": 'AT#PDPAUTH=1,2,"user","***"',
    "quectel": 'AT+QICSGP=1,3,"internet","user","***",3',
    "ublox": 'AT+UAUTHREQ=1,3,"***","user"',
}
"""The vendor's authentication command for AUTO, as shown (password masked)."""


def bring_up(
    sim: SimSettings | None = None, settings: ModemSettings = SETTINGS, **pair: object
) -> ModemPair:
    modem_pair = ModemPair(settings, sim or SimSettings(), **pair)  # type: ignore[arg-type]
    modem_pair.run()
    return modem_pair


def failure(modem_pair: ModemPair) -> BringUpFailed:
    assert isinstance(modem_pair.result, BringUpFailed), modem_pair.result
    return modem_pair.result


def assert_no_secrets(modem_pair: ModemPair, *secrets: str) -> None:
    """No output shows a secret, except the bytes that must carry it to the modem."""
    for output in modem_pair.outputs:
        shown = repr(output) + (str(output) if isinstance(output, BringUpFailed) else "")
        for secret in secrets:
            assert secret not in shown, output


# --- every profile ----------------------------------------------------------------------

CASES = [(name, False, 1) for name in SIM_PROFILE_NAMES] + [
    (name, True, seed) for name in SIM_PROFILE_NAMES for seed in (1, 2, 3)
]


@pytest.mark.parametrize(("profile", "messy", "seed"), CASES)
def test_every_profile_dials(profile: str, messy: bool, seed: int) -> None:
    sim = SimSettings(profile=profile, messy=messy, seed=seed)
    modem_pair = bring_up(sim, seed=seed, split=messy)
    result = modem_pair.result
    assert isinstance(result, Dialled), result
    vendor = SIM_PROFILES[profile]

    found = modem_pair.of_type(ModemFound)[0]
    assert found.profile == profile
    assert (found.maker, found.model, found.firmware) == (
        vendor.identification["+CGMI"][0],
        vendor.identification["+CGMM"][0],
        vendor.identification["+CGMR"][0],
    )
    assert found.imei == vendor.imei
    sim_ready = modem_pair.of_type(SimReady)[0]
    assert (sim_ready.iccid, sim_ready.pin_entered) == (vendor.iccid, False)
    registered = modem_pair.of_type(Registered)[0]
    assert not registered.roaming
    assert registered.operator == OPERATOR[0]  # +COPS? read once registered
    # --messy modems report NB-IoT (AcT 9) whatever their profile says.
    assert registered.act == (9 if messy else vendor.access_technology)
    signal = modem_pair.of_type(SignalQuality)[0]
    assert (signal.rssi_dbm, signal.rsrp_dbm, signal.rsrq_db) == (-73, -96, -10.0)
    assert result.connect_text == vendor.connect_text

    frames = modem_pair.frames()
    assert frames, f"no PPP frame after CONNECT: {bytes(modem_pair.ppp)!r}"
    assert frames[0].protocol == Protocol.LCP
    assert frames[0].info[0] == Code.CONFIGURE_REQUEST
    if messy and result.trailing.strip(b"\r\n"):
        # The simulator writes CONNECT and its first frame at once; the harness may still
        # cut that write between the two (then the frame comes in the next read, above).
        assert result.trailing.lstrip(b"\r\n").startswith(b"\x7e"), "CONNECT glued to a frame"

    assert modem_pair.sent("AT+CGDCONT=") == ['AT+CGDCONT=1,"IPV4V6","internet"']
    assert modem_pair.sent(AUTH_COMMANDS[profile][:8]) == [AUTH_COMMANDS[profile]]
    context = modem_pair.modem.contexts[1]
    assert (context.apn, context.user, context.password.reveal()) == (
        "internet",
        USER,
        PASSWORD.encode(),
    ), "the vendor's argument order put each value where it belongs"
    assert_no_secrets(modem_pair, PASSWORD)


def test_reports_in_order_and_durations_add_up() -> None:
    modem_pair = bring_up(SimSettings(registration_delay=7.5))
    reports = [
        o
        for o in modem_pair.outputs
        if isinstance(o, ModemFound | SimReady | Registered | SignalQuality | Dialled)
    ]
    assert [type(r) for r in reports] == [ModemFound, SimReady, Registered, SignalQuality, Dialled]
    assert sum(r.duration for r in reports) == pytest.approx(reports[-1].elapsed)
    assert reports[2].elapsed == pytest.approx(7.5)
    assert reports[2].duration == pytest.approx(7.5 - reports[1].elapsed)


def test_sequans_firmware_edition() -> None:
    modem_pair = bring_up(SimSettings(profile="sequans"))
    assert modem_pair.of_type(ModemFound)[0].edition == "LTE-M"  # LR5.1.1.0 in ATI1
    assert modem_pair.sent("ATI1") == ["ATI1"]


def test_profile_override_wins_over_identification() -> None:
    settings = ModemSettings.from_options(
        apn="internet", user=USER, password="x", profile="generic"
    )
    modem_pair = bring_up(SimSettings(profile="telit"), settings)
    assert isinstance(modem_pair.result, Dialled)
    assert modem_pair.of_type(ModemFound)[0].profile == "generic"
    assert modem_pair.sent("AT+CGAUTH=") and not modem_pair.sent("AT#PDPAUTH")


def test_auth_none_asked_clears_it() -> None:
    settings = ModemSettings.from_options(apn="internet", auth="none")
    modem_pair = bring_up(SimSettings(profile="ublox"), settings)
    assert modem_pair.sent("AT+UAUTHREQ") == ["AT+UAUTHREQ=1,0"]
    assert modem_pair.modem.contexts[1].auth == "none"


def test_nothing_asked_leaves_the_modems_authentication_alone() -> None:
    """No --auth, no user, no password: the context's authentication is not written (it
    may hold credentials set with the vendor's tool)."""
    modem_pair = bring_up(SimSettings(profile="ublox"), ModemSettings(apn="internet"))
    assert modem_pair.sent("AT+UAUTH") == []
    assert isinstance(modem_pair.result, Dialled)


# --- PDP context ------------------------------------------------------------------------


def test_context_already_present_is_left_alone() -> None:
    settings = ModemSettings.from_options(apn="INTERNET", pdp="ip")
    modem_pair = bring_up(settings=settings, prime=('AT+CGDCONT=1,"IP","internet"',))
    assert isinstance(modem_pair.result, Dialled)
    assert modem_pair.sent("AT+CGDCONT=") == []
    assert modem_pair.sent("AT+CGDCONT?") == ["AT+CGDCONT?"]


@pytest.mark.parametrize(
    ("present", "writes"),
    [
        ('AT+CGDCONT=1,"IP","internet"', ['AT+CGDCONT=1,"IPV4V6","internet"']),  # type differs
        ('AT+CGDCONT=1,"IPV4V6","other"', ['AT+CGDCONT=1,"IPV4V6","internet"']),  # APN differs
        ('AT+CGDCONT=2,"IPV4V6","internet"', ['AT+CGDCONT=1,"IPV4V6","internet"']),  # cid
    ],
)
def test_context_that_differs_is_written_once(present: str, writes: list[str]) -> None:
    modem_pair = bring_up(settings=ModemSettings(apn="internet"), prime=(present,))
    assert modem_pair.sent("AT+CGDCONT=") == writes


def test_other_cid() -> None:
    settings = ModemSettings.from_options(apn="vzwinternet", cid=3, pdp="ip")
    modem_pair = bring_up(SimSettings(profile="sequans"), settings)
    assert isinstance(modem_pair.result, Dialled)
    assert modem_pair.result.command == "ATD*99***3#"
    assert modem_pair.sent("AT+CGDCONT=") == ['AT+CGDCONT=3,"IP","vzwinternet"']


# --- SIM --------------------------------------------------------------------------------

WITH_PIN = ModemSettings.from_options(apn="internet", pin=PIN)
WRONG_PIN = ModemSettings.from_options(apn="internet", pin="0000")


@pytest.mark.parametrize("messy", [False, True])
def test_pin_given(messy: bool) -> None:
    modem_pair = bring_up(SimSettings(pin=PIN, messy=messy), WITH_PIN, split=messy)
    assert isinstance(modem_pair.result, Dialled)
    assert modem_pair.of_type(SimReady)[0].pin_entered
    assert modem_pair.sent("AT+CPIN=") == ['AT+CPIN="***"']
    pin_writes = [w.data for w in modem_pair.written if PIN.encode() in w.data]
    assert pin_writes == [b'AT+CPIN="2468"\r']
    assert_no_secrets(modem_pair, PIN)


def test_pin_needed_but_missing() -> None:
    modem_pair = bring_up(SimSettings(pin=PIN), ModemSettings(apn="internet"))
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.SIM, FailureKind.SIM)
    assert failed.message.startswith("the SIM needs a PIN: --pin")
    assert "+CPIN: SIM PIN" in failed.message
    assert modem_pair.sent("AT+CPIN=") == []


@pytest.mark.parametrize("messy", [False, True])
def test_wrong_pin_is_sent_exactly_once(messy: bool) -> None:
    modem_pair = bring_up(SimSettings(pin=PIN, messy=messy), WRONG_PIN, split=messy)
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.SIM, FailureKind.SIM)
    assert "the SIM refused the PIN; not retried (a SIM locks after three wrong PINs)" in str(
        failed
    )
    assert "incorrect password" in failed.message  # the modem's own words
    assert [w.data for w in modem_pair.written if b"CPIN=" in w.data] == [b'AT+CPIN="0000"\r']
    assert modem_pair.modem.sim.pin_attempts == 2
    assert_no_secrets(modem_pair, "0000", PIN)


def three_wrong_pins() -> tuple[str, ...]:
    return ('AT+CPIN="1111"',) * 3


def test_puk_needed() -> None:
    modem_pair = bring_up(SimSettings(pin=PIN), WITH_PIN, prime=three_wrong_pins())
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.SIM, FailureKind.SIM)
    assert "needs its PUK" in failed.message and "+CPIN: SIM PUK" in failed.message
    assert modem_pair.sent("AT+CPIN=") == [], "a PIN is no use to a SIM that wants its PUK"


def test_sim_blocked() -> None:
    wrong_puks = ('AT+CPIN="00000000","1234"',) * 10
    modem_pair = bring_up(SimSettings(pin=PIN), WITH_PIN, prime=three_wrong_pins() + wrong_puks)
    failed = failure(modem_pair)
    assert failed.kind is FailureKind.SIM
    assert "blocked for good" in failed.message


# --- registration -----------------------------------------------------------------------


def test_roaming() -> None:
    modem_pair = bring_up(SimSettings(registration=Registration.ROAMING))
    assert isinstance(modem_pair.result, Dialled)
    assert modem_pair.of_type(Registered)[0].roaming


@pytest.mark.parametrize("profile", ["generic", "quectel"])
def test_registration_denied(profile: str) -> None:
    modem_pair = bring_up(SimSettings(profile=profile, registration=Registration.DENIED))
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.REGISTER, FailureKind.REGISTRATION_DENIED)
    assert "the network denied registration" in failed.message
    assert "REG: 2,3" in failed.message  # the modem's own line, e.g. +CEREG: 2,3
    assert modem_pair.sent("ATD") == []


def test_searching_then_timeout() -> None:
    settings = ModemSettings(apn="internet", registration_timeout=30.0, poll_interval=2.0)
    modem_pair = bring_up(SimSettings(registration=Registration.SEARCHING), settings)
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.REGISTER, FailureKind.REGISTRATION_TIMEOUT)
    assert failed.elapsed == pytest.approx(SYNC_SETTLE + 30.0)
    assert "not registered after 30 s" in failed.message and "searching" not in failed.message
    assert "+CEREG: 2,2" in failed.message
    assert len(modem_pair.sent("AT+CEREG?")) == 16  # at 0, 2, 4 ... 30 s


@pytest.mark.parametrize("messy", [False, True])
def test_delayed_registration_ends_the_wait_on_its_urc(messy: bool) -> None:
    sim = SimSettings(registration_delay=17.3, messy=messy)
    settings = ModemSettings(apn="internet", poll_interval=5.0)
    modem_pair = bring_up(sim, settings, split=messy)
    assert isinstance(modem_pair.result, Dialled)
    registered = modem_pair.of_type(Registered)[0]
    assert registered.elapsed == pytest.approx(17.3), "the URC, not the next poll at 20 s"
    assert len(modem_pair.sent("AT+CEREG?")) == 5  # 0, 5, 10, 15, then the URC at 17.3


# --- the data call ----------------------------------------------------------------------


def test_pdp_refused() -> None:
    modem_pair = bring_up(SimSettings(pdp_refuse=True))
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.DIAL, FailureKind.PDP)
    assert "refused the PDP context" in failed.message
    assert "ATD*99***1# -> NO CARRIER" in failed.message


@pytest.mark.parametrize(
    ("result", "words"),
    [
        (DialResult.BUSY, "BUSY"),
        (DialResult.NO_CARRIER, "NO CARRIER"),
        (DialResult.NO_ANSWER, "NO ANSWER"),
        (DialResult.NO_DIALTONE, "NO DIALTONE"),
    ],
)
@pytest.mark.parametrize("profile", ["generic", "telit"])
def test_dial_failures(result: DialResult, words: str, profile: str) -> None:
    modem_pair = bring_up(SimSettings(profile=profile, dial_result=result))
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.DIAL, FailureKind.PDP)
    assert failed.message.endswith(f"(modem: ATD*99***1# -> {words})")


# --- a modem that does not answer -------------------------------------------------------


def test_a_modem_that_never_answers() -> None:
    settings = ModemSettings(sync_attempts=5, sync_timeout=1.0, sync_interval=0.5)
    modem_pair = bring_up(settings=settings, dead=True)
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.SYNC, FailureKind.NOT_ANSWERING)
    assert modem_pair.sent("AT") == ["AT"] * 5
    assert failed.elapsed == pytest.approx(5 * 1.0 + 4 * 0.5)
    assert "does not answer AT (5 tries)" in failed.message and "AT+CFUN=1,1" in failed.message
    assert modem_pair.bring_up.reset == WriteModem(b"AT+CFUN=1,1\r", "AT+CFUN=1,1")
    assert modem_pair.bring_up.next_deadline() is None


def test_the_reset_command_of_the_profile_given() -> None:
    settings = ModemSettings(sync_attempts=1, profile="telit")
    modem_pair = bring_up(settings=settings, dead=True)
    assert failure(modem_pair).kind is FailureKind.NOT_ANSWERING
    assert modem_pair.bring_up.reset.data == b"AT#REBOOT\r"


def test_a_modem_that_stops_answering_after_identification() -> None:
    # AT, ATE0, AT+CMEE=1, AT+CGMI, AT+CGMM, AT+CGMR, AT+CGSN answered; AT+CPIN? is not.
    modem_pair = bring_up(SimSettings(profile="ublox"), deaf_after=7)
    failed = failure(modem_pair)
    assert (failed.step, failed.kind) == (Step.SIM, FailureKind.NOT_ANSWERING)
    assert failed.message == (
        "the modem stopped answering; AT+CFUN=15 restarts it (modem: AT+CPIN?: no answer in 5 s)"
    )
    assert modem_pair.bring_up.reset.data == b"AT+CFUN=15\r"
    assert modem_pair.bring_up.profile.name == "ublox"


def test_sync_waits_for_a_booting_modem() -> None:
    """Tries at 0 and 2 s are lost; the boot URC at 3.5 s ends the pause before the next
    try, which is answered at once."""
    settings = ModemSettings(apn="internet", sync_timeout=1.0, sync_interval=1.0)
    modem_pair = bring_up(SimSettings(profile="quectel"), settings, booting_until=3.5)
    assert isinstance(modem_pair.result, Dialled)
    assert modem_pair.sent("AT")[:3] == ["AT", "AT", "AT"] and modem_pair.sent("ATE0")
    assert modem_pair.of_type(ModemFound)[0].elapsed == pytest.approx(3.5 + SYNC_SETTLE)


PPP_LEFTOVER = b'~\xff}#\xc0!}!}!} }4}"~'


@pytest.mark.parametrize(
    "noise",
    [
        b"\x00\x00" + PPP_LEFTOVER + b"\r\n\x1b[0m junk\r\n+CEREG: 5\r\n",
        b"\r\nNO CARRIER\r\n",  # the end of a previous call
        b"\r\nOK\r\n",  # the answer to someone else's AT
        b"\r\nERROR\r\nOK\r\n",
    ],
)
@pytest.mark.parametrize("profile", ["generic", "telit"])
def test_leftovers_before_the_first_answer_are_ignored(noise: bytes, profile: str) -> None:
    """Lines left on the line must not answer a command: every reply stays with its own
    command (a shift by one would give the maker's name to the model, and so on)."""
    modem_pair = bring_up(SimSettings(profile=profile), noise=noise)
    assert isinstance(modem_pair.result, Dialled)
    vendor = SIM_PROFILES[profile]
    found = modem_pair.of_type(ModemFound)[0]
    assert (found.maker, found.model, found.imei) == (
        vendor.identification["+CGMI"][0],
        vendor.identification["+CGMM"][0],
        vendor.imei,
    )
    assert modem_pair.of_type(SimReady)[0].iccid == vendor.iccid


# --- purity -----------------------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_bridge_modem_is_pure() -> None:
    """STYLE.md: like netstack, the bring-up does no I/O and keeps no clock or dice; it
    leans on netstack and the standard library only, never on the shell."""
    forbidden = {"asyncio", "os", "socket", "time", "random", "threading", "select", "subprocess"}
    package = Path(__file__).resolve().parent.parent / "bridge" / "modem"
    paths = sorted(package.glob("*.py"))
    assert len(paths) >= 9, paths  # found from this file, whatever the working directory
    for path in paths:
        modules = imported_modules(path)
        assert not {m.split(".")[0] for m in modules} & forbidden, (path, modules)
        assert not [m for m in modules if m.startswith("bridge")], (path, modules)
