"""The bring-up sequence as data: two scripts of ``Chat`` steps and their readers.

``probe_script`` runs before the vendor is known: synchronise (``AT`` until ``OK``, what
came before ignored), ``ATE0``, ``AT+CMEE=1``, identification. ``bring_up_script`` is
built for the profile then picked: firmware edition, SIM (the PIN sent once, only when
asked), PDP context (left alone when ``+CGDCONT?`` shows it), its authentication,
registration (URCs enabled, polled until home or roaming, denied or timed out), signal,
dial. Vendor differences come from the profile's fields, never from branches here.

A reader states the problem and what to do; ``BringUp`` adds the command and the modem's
own words to the message.
"""

from __future__ import annotations

from collections.abc import Callable

from netstack.at import CommandDone, ErrorKind, Outcome

from .chat import NEXT, Again, AtLine, Chat, Fail, Goto, Next, Reader, Verdict, at_line
from .events import FailureKind, Step
from .facts import Facts
from .parsers import (
    Signal,
    parse_ati,
    parse_cesq,
    parse_cgcontrdp_dns,
    parse_cgdcont,
    parse_cgpaddr,
    parse_cops,
    parse_cpin,
    parse_csq,
    parse_edition,
    parse_iccid,
    parse_identity,
    parse_imei,
)
from .pdp import AuthMode
from .profiles import ModemProfile
from .settings import ModemSettings

SIM_BUSY_WAIT = 1.0
"""Seconds between +CPIN? reads while the SIM is busy (+CME ERROR: 14), as after boot."""
SIM_BUSY_TRIES = 10


def _result(done: CommandDone | None) -> CommandDone:
    if done is None:
        raise AssertionError("a command chat's reader was called without its result")
    return done


def _ignore(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    """An optional command: whatever it answered, go on."""
    return NEXT


# ---------------------------------------------------------------- synchronise
SYNC_SETTLE = 0.3
"""Seconds of quiet after the first OK: AT has no tags, so the answers to earlier tries
(or an OK left on the line) cannot be told from the last one's; they arrive now, with
no command pending, and are dropped as unsolicited."""


def _sync(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    result = _result(done)
    if result.outcome is Outcome.OK:
        return Next(SYNC_SETTLE)
    facts.sync_tries += 1
    settings = facts.settings
    if facts.sync_tries < settings.sync_attempts:
        if result.outcome is Outcome.TIMEOUT:
            return Again(settings.sync_interval)
        # A bare AT answers OK (V.250 5.2.1): ERROR or NO CARRIER is a leftover on the
        # line; the real answer follows, and must not meet the next try.
        return Again(SYNC_SETTLE, wake_on_urc=False)
    return Fail(
        FailureKind.NOT_ANSWERING,
        f"the modem does not answer AT ({settings.sync_attempts} tries): check the port, "
        f"its baud rate and the modem's power; {facts.profile.reset_command} restarts a "
        "modem that stopped answering",
    )


# ------------------------------------------------------------------- identify
def _keeper(store: Callable[[Facts, list[str]], None]) -> Reader:
    def read(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
        result = _result(done)
        if result.outcome is Outcome.OK:
            store(facts, list(result.lines))
        return NEXT

    return read


def _store_maker(facts: Facts, lines: list[str]) -> None:
    facts.maker = parse_identity(lines, "+CGMI")


def _store_model(facts: Facts, lines: list[str]) -> None:
    facts.model = parse_identity(lines, "+CGMM")


def _store_firmware(facts: Facts, lines: list[str]) -> None:
    facts.firmware = parse_identity(lines, "+CGMR")


def _store_imei(facts: Facts, lines: list[str]) -> None:
    facts.imei = parse_imei(lines)


def _store_ati(facts: Facts, lines: list[str]) -> None:
    said = parse_ati(lines)
    facts.maker = facts.maker or said.maker
    facts.model = facts.model or said.model
    facts.firmware = facts.firmware or said.firmware
    facts.imei = facts.imei or parse_imei(lines)


def _store_edition(facts: Facts, lines: list[str]) -> None:
    facts.edition = parse_edition(lines, facts.profile.editions)


def _identity_missing(facts: Facts) -> bool:
    return facts.maker is None or facts.model is None


# ------------------------------------------------------------------------ SIM
SIM_STATES = {
    "SIM PUK": "the SIM is locked after three wrong PINs and needs its PUK: unlock it in a "
    'phone or with AT+CPIN="<PUK>","<new PIN>", then give the new PIN',
    "SIM BLOCKED": "the SIM is blocked for good (every PUK try used): it must be replaced",
    "SIM FAILURE": "the SIM does not work (27.007 SIM failure): reseat or replace it",
    "SIM WRONG": "the modem does not accept this SIM",
    "NO SIM": "there is no SIM in the modem (or it is not seated)",
    "PH-SIM PIN": "the modem is locked to another SIM (PH-SIM PIN)",
    "PH-NET PIN": "the modem is locked to another network (PH-NET PIN)",
}
"""+CPIN states (27.007 8.3) that stop the bring-up, and what to tell a person."""
_CME_SIM = {
    5: "PH-SIM PIN",
    10: "NO SIM",
    11: "SIM PIN",
    12: "SIM PUK",
    13: "SIM FAILURE",
    15: "SIM WRONG",
}
"""27.007 9.2.1 errors that are SIM states."""
_CME_SIM_BUSY = 14
_NO_PIN = "the SIM needs a PIN: --pin"
_WRONG_PIN = "the SIM refused the PIN; not retried (a SIM locks after three wrong PINs)"


def sim_failure(done: CommandDone) -> Fail | None:
    """The SIM-state failure a +CME ERROR reports on any command, if it is one."""
    error = done.error
    if error is None or error.kind is not ErrorKind.CME or error.code not in _CME_SIM:
        return None
    state = _CME_SIM[error.code]
    return Fail(FailureKind.SIM, _NO_PIN if state == "SIM PIN" else SIM_STATES[state])


def _sim_state(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    result = _result(done)
    error = result.error
    if error is not None and error.kind is ErrorKind.CME and error.code == _CME_SIM_BUSY:
        facts.sim_waits += 1
        if facts.sim_waits < SIM_BUSY_TRIES:
            return Again(SIM_BUSY_WAIT)
    if error is not None and error.kind is ErrorKind.CME and error.code == 11:
        state: str | None = "SIM PIN"  # some modems answer +CPIN? so (u-blox SARA)
    elif result.outcome is Outcome.OK:
        state = next((s for s in map(parse_cpin, reversed(result.lines)) if s), None)
    else:
        state = None
    if state is None:
        return sim_failure(result) or Fail(FailureKind.SIM, "the SIM's state cannot be read")
    facts.sim = state
    if state in ("READY", "SIM PIN2", "SIM PUK2"):  # PIN2 guards phone books, not data
        return NEXT
    if state == "SIM PIN":
        if facts.pin_sent:
            return Fail(FailureKind.SIM, "the SIM asks for its PIN again; not sent twice")
        return NEXT if facts.settings.pin is not None else Fail(FailureKind.SIM, _NO_PIN)
    return Fail(FailureKind.SIM, SIM_STATES.get(state, f"the SIM is not ready ({state})"))


def _sim_asks_pin(facts: Facts) -> bool:
    return facts.sim == "SIM PIN" and not facts.pin_sent and facts.settings.pin is not None


def _pin_answer(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    result = _result(done)
    facts.pin_sent = True
    if result.outcome is Outcome.OK:
        return Goto("sim")  # read the state again: READY, or a modem still busy with it
    if result.outcome is Outcome.TIMEOUT:
        return Fail(
            FailureKind.SIM,
            "no answer to the PIN; not sent again: see what AT+CPIN? says before retrying",
        )
    failure = sim_failure(result)
    if failure is not None and failure.message != _NO_PIN:
        return failure  # e.g. SIM PUK: that was the third wrong PIN
    return Fail(FailureKind.SIM, _WRONG_PIN)


# ---------------------------------------------------------------- PDP context
def _store_contexts(facts: Facts, lines: list[str]) -> None:
    facts.contexts = parse_cgdcont(lines)


def _context_differs(facts: Facts) -> bool:
    """27.007 10.1.1: rewriting a context the modem already has is needless, and on some
    modems detaches; APNs compare without case (23.003 9.1, as DNS names)."""
    settings = facts.settings
    for context in facts.contexts:
        if context.cid == settings.cid:
            same_type = context.pdp_type == settings.pdp.at_name
            return not (same_type and context.apn.lower() == settings.apn.lower())
    return True


def _required(problem: str) -> Reader:
    def read(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
        result = _result(done)
        if result.outcome is Outcome.OK:
            return NEXT
        return sim_failure(result) or Fail(FailureKind.PDP, problem)

    return read


# --------------------------------------------------------------- registration
def _store_registrations(facts: Facts, lines: list[str]) -> None:
    for line in lines:
        facts.note_registration(line)


def _registration_verdict(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    if facts.registered() is not None:
        return NEXT
    denied = facts.denied()
    if denied is not None:
        return Fail(
            FailureKind.REGISTRATION_DENIED,
            f"the network denied registration (modem: {denied.line}): check that the SIM's "
            "subscription is active and allowed on this network",
        )
    settings = facts.settings
    deadline = facts.step_started[Step.REGISTER] + settings.registration_timeout
    if now < deadline:
        return Goto("poll", min(settings.poll_interval, deadline - now))
    last = "; ".join(r.line for r in facts.registrations.values()) or "no status read"
    hint = "check the antenna and the coverage, or allow more time (registration timeout)"
    if facts.registrations and all(r.stat == 0 for r in facts.registrations.values()):
        hint = "the modem is not searching: check AT+CFUN? (radio on) and AT+COPS? (automatic)"
    return Fail(
        FailureKind.REGISTRATION_TIMEOUT,
        f"not registered after {settings.registration_timeout:g} s (modem: {last}): {hint}",
    )


# --------------------------------------------------------------------- signal
def _signal_keeper(parse: Callable[[str], Signal | None]) -> Reader:
    def store(facts: Facts, lines: list[str]) -> None:
        for signal in filter(None, map(parse, lines)):
            old = facts.signal
            facts.signal = Signal(
                rssi_dbm=old.rssi_dbm if old.rssi_dbm is not None else signal.rssi_dbm,
                rsrp_dbm=old.rsrp_dbm if old.rsrp_dbm is not None else signal.rsrp_dbm,
                rsrq_db=old.rsrq_db if old.rsrq_db is not None else signal.rsrq_db,
                rscp_dbm=old.rscp_dbm if old.rscp_dbm is not None else signal.rscp_dbm,
                ecno_db=old.ecno_db if old.ecno_db is not None else signal.ecno_db,
            )

    return _keeper(store)


SIGNAL_PARSERS = {"+CSQ": parse_csq, "+CESQ": parse_cesq}


# ----------------------------------------------------------------------- dial
DIAL_FAILURES = {
    ErrorKind.BUSY: "the network turned the data call down (BUSY)",
    ErrorKind.NO_CARRIER: "the data call failed: the network refused the PDP context "
    "(check the APN and the credentials) or there is no service",
    ErrorKind.NO_ANSWER: "the network did not answer the data call",
    ErrorKind.NO_DIALTONE: "no network for the data call",
    ErrorKind.CME: "the modem refused the data call",
    ErrorKind.ERROR: "the modem refused the dial command",
}


def _guard_set(seconds: float) -> Reader:
    """V.250 6.3.6 S12: the modem took the guard time (or keeps its own: any answer goes
    on, the escape then waits its default second)."""

    def read(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
        if _result(done).outcome is Outcome.OK:
            facts.escape_guard = seconds
        return NEXT

    return read


def _dial(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    """Anything but CONNECT (which ``BringUp`` takes) is a failure."""
    result = _result(done)
    if result.outcome is Outcome.TIMEOUT:
        return Fail(FailureKind.PDP, "no CONNECT in time: the data call did not come up")
    if result.error is None:
        return Fail(FailureKind.PDP, "the modem answered OK, not CONNECT, to the dial")
    return sim_failure(result) or Fail(FailureKind.PDP, DIAL_FAILURES[result.error.kind])


# -------------------------------------------------------------------- scripts
def probe_script(settings: ModemSettings) -> tuple[Chat, ...]:
    timeout = settings.command_timeout
    return (
        Chat(Step.SYNC, at_line("AT"), _sync, timeout=settings.sync_timeout, reads_timeout=True),
        # V.250 6.2.4: no echo. The channel copes with either, but an echoed PIN or
        # password would come back over the line in clear.
        Chat(Step.SYNC, at_line("ATE0"), _ignore, timeout=timeout),
        # 27.007 9.1: numbered +CME ERRORs, so a failure can say what went wrong.
        Chat(Step.SYNC, at_line("AT+CMEE=1"), _ignore, timeout=timeout),
        Chat(Step.IDENTIFY, at_line("AT+CGMI"), _keeper(_store_maker), timeout=timeout),
        Chat(Step.IDENTIFY, at_line("AT+CGMM"), _keeper(_store_model), timeout=timeout),
        Chat(Step.IDENTIFY, at_line("AT+CGMR"), _keeper(_store_firmware), timeout=timeout),
        Chat(Step.IDENTIFY, at_line("AT+CGSN"), _keeper(_store_imei), timeout=timeout),
        Chat(
            Step.IDENTIFY,
            at_line("ATI"),
            _keeper(_store_ati),
            timeout=timeout,
            when=_identity_missing,
        ),
    )


def bring_up_script(profile: ModemProfile, settings: ModemSettings) -> tuple[Chat, ...]:
    timeout = settings.command_timeout
    chats: list[Chat] = []
    if profile.edition_command is not None:
        line = at_line(profile.edition_command)
        chats.append(Chat(Step.IDENTIFY, line, _keeper(_store_edition), timeout=timeout))
    chats += _sim_chats(profile, settings)
    chats.append(
        Chat(
            Step.CONTEXT,
            at_line("AT+CGDCONT?"),
            _keeper(_store_contexts),
            response="+CGDCONT:",
            timeout=timeout,
        )
    )
    define = at_line(
        'AT+CGDCONT={cid},"{pdp}","{apn}"',
        cid=settings.cid,
        pdp=settings.pdp.at_name,
        apn=settings.apn,
    )
    chats.append(
        Chat(
            Step.CONTEXT,
            define,
            _required("the modem refused the PDP context"),
            timeout=timeout,
            when=_context_differs,
        )
    )
    if settings.sets_authentication:  # else the modem's own setting stays as it is
        chats.append(_auth_chat(profile, settings))
    chats += _registration_chats(profile, settings)
    for command in profile.signal:
        parse = SIGNAL_PARSERS.get(command)
        if parse is not None:
            line = at_line(f"AT{command}")
            read = _signal_keeper(parse)
            chats.append(Chat(Step.SIGNAL, line, read, response=f"{command}:", timeout=timeout))
    if settings.dial and settings.escape_guard is not None:
        fiftieths = max(1, min(255, round(settings.escape_guard * 50)))
        chats.append(
            Chat(
                Step.DIAL,
                at_line(f"ATS12={fiftieths}"),
                _guard_set(fiftieths / 50),
                timeout=settings.command_timeout,
            )
        )
    if settings.dial:
        dial = at_line(profile.dial, cid=settings.cid)
        chats.append(
            Chat(Step.DIAL, dial, _dial, timeout=settings.dial_timeout, reads_timeout=True)
        )
    else:
        chats += _activation_chats(settings)
    return tuple(chats)


# ------------------------------------------------------ activation (no dial)
def _activated(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    result = _result(done)
    if result.outcome is Outcome.OK:
        return NEXT
    if result.outcome is Outcome.TIMEOUT:
        return Fail(FailureKind.PDP, "the context was not activated in time (+CGACT)")
    return sim_failure(result) or Fail(
        FailureKind.PDP,
        "the network refused to activate the PDP context (check the APN and the PDP type)",
    )


def _store_addresses(facts: Facts, lines: list[str]) -> None:
    facts.context_ipv4, facts.context_ipv6 = parse_cgpaddr(lines, facts.settings.cid)


def _addresses_verdict(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    """The addresses read; the context must have one of each family its type asks for
    (an IPV4V6 context on an IPv6-only network has only its IPv6 one: enough)."""
    wanted = facts.settings.pdp.at_name
    if facts.context_ipv6 is None and not facts.settings.dial:
        return Fail(
            FailureKind.PDP,
            "the active context has no IPv6 address (+CGPADDR), and the modem's sockets "
            "carry IPv6 only here (--mode at-socket)",
        )
    if facts.context_ipv6 is None and wanted in ("IPV6", "IPV4V6"):
        if wanted == "IPV6" or facts.context_ipv4 is None:
            return Fail(FailureKind.PDP, "the active context has no IPv6 address (+CGPADDR)")
    if facts.context_ipv4 is None and facts.context_ipv6 is None:
        return Fail(FailureKind.PDP, "the active context has no address (+CGPADDR)")
    return NEXT


def _store_dns(facts: Facts, lines: list[str]) -> None:
    facts.context_dns = parse_cgcontrdp_dns(lines, facts.settings.cid)


def _activation_chats(settings: ModemSettings) -> list[Chat]:
    """27.007 10.1.10 +CGACT (a modem already attached with it answers OK again), then
    the context's addresses."""
    activate = Chat(
        Step.ACTIVATE,
        at_line("AT+CGACT=1,{cid}", cid=settings.cid),
        _activated,
        timeout=settings.dial_timeout,
        reads_timeout=True,
    )
    # 27.007 10.1.19: +CGEV URCs (the network deactivating the context) even while the
    # modem is busy; a modem without them still reports its registration.
    events = Chat(
        Step.ACTIVATE, at_line("AT+CGEREP=2,1"), _ignore, timeout=settings.command_timeout
    )
    return [activate, events, *address_chats(settings)]


def address_chats(settings: ModemSettings) -> list[Chat]:
    """The active context's addresses: 27.007 8.62 +CGPIAF (IPv6 in colon-hex where the
    modem has it; any answer will do: the parsers read every notation), 10.1.14
    +CGPADDR, 10.1.23 +CGCONTRDP (optional: no DNS servers is no failure)."""
    timeout = settings.command_timeout
    cid = settings.cid
    return [
        Chat(Step.ACTIVATE, at_line("AT+CGPIAF=1,1,1,1"), _ignore, timeout=timeout),
        Chat(
            Step.ACTIVATE,
            at_line("AT+CGPADDR={cid}", cid=cid),
            _keeper(_store_addresses),
            response="+CGPADDR:",
            timeout=timeout,
        ),
        Chat(Step.ACTIVATE, None, _addresses_verdict),
        Chat(
            Step.ACTIVATE,
            at_line("AT+CGCONTRDP={cid}", cid=cid),
            _keeper(_store_dns),
            response="+CGCONTRDP:",
            timeout=timeout,
        ),
    ]


def _sim_chats(profile: ModemProfile, settings: ModemSettings) -> list[Chat]:
    timeout = settings.command_timeout
    if not profile.sim:
        return []
    chats = [
        Chat(
            Step.SIM,
            at_line("AT+CPIN?"),
            _sim_state,
            response="+CPIN:",
            timeout=timeout,
            label="sim",
        )
    ]
    if settings.pin is not None:
        pin = at_line('AT+CPIN="{pin}"', pin=settings.pin)
        chats.append(
            Chat(
                Step.SIM,
                pin,
                _pin_answer,
                timeout=timeout,
                when=_sim_asks_pin,
                reads_timeout=True,
            )
        )
    if profile.iccid_command is not None:
        iccid = at_line(profile.iccid_command)
        chats.append(Chat(Step.SIM, iccid, _keeper(_store_iccid), timeout=timeout))
    return chats


def _store_iccid(facts: Facts, lines: list[str]) -> None:
    facts.iccid = parse_iccid(lines)


def _auth_chat(profile: ModemProfile, settings: ModemSettings) -> Chat:
    auth = profile.auth
    mode = settings.authentication
    line: AtLine = at_line(
        auth.none_template if mode is AuthMode.NONE else auth.template,
        cid=settings.cid,
        auth=auth.numbers[mode],
        user=settings.user,
        password=settings.password,
        apn=settings.apn,
        pdp_number=auth.pdp_numbers.get(settings.pdp, 0),
    )
    # Clearing authentication nobody asked for may fail harmlessly; setting it may not.
    read = _ignore if mode is AuthMode.NONE else _required("the modem refused the authentication")
    return Chat(Step.AUTH, line, read, timeout=settings.command_timeout)


def _registration_chats(profile: ModemProfile, settings: ModemSettings) -> list[Chat]:
    timeout = settings.command_timeout
    # 27.007 10.1.22 (and 7.2, 10.1.20) <n>=2: URCs on every change, with location and
    # <AcT>. A modem without the command answers ERROR: only polling is then lost.
    chats = [
        Chat(Step.REGISTER, at_line(f"AT{command}=2"), _ignore, timeout=timeout)
        for command in profile.registration
    ]
    for index, command in enumerate(profile.registration):
        chats.append(
            Chat(
                Step.REGISTER,
                at_line(f"AT{command}?"),
                _keeper(_store_registrations),
                response=f"{command}:",
                timeout=timeout,
                label="poll" if index == 0 else "",
            )
        )
    if profile.registration:
        chats.append(Chat(Step.REGISTER, None, _registration_verdict))
        # 27.007 7.3: the network's name, for the report and ``pppbridge status``; a modem
        # that answers ERROR or nothing useful costs the report only its name.
        cops = at_line("AT+COPS?")
        store = _keeper(_store_operator)
        chats.append(Chat(Step.REGISTER, cops, store, response="+COPS:", timeout=timeout))
    return chats


def _store_operator(facts: Facts, lines: list[str]) -> None:
    for line in lines:
        parsed = parse_cops(line)
        if parsed is not None:
            facts.operator = parsed[0]
            return
