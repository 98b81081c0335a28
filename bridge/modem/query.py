"""``pppbridge info``: what a modem says about itself, without dialling; pure.

``ModemQuery`` is the bring-up (``BringUp``) with another second script: the same probe
(synchronise, ``ATE0``, ``AT+CMEE=1``, identification, the profile picked), then
``query_script``: reads only, nothing the modem keeps is changed (no PIN sent, no PDP
context written, no registration URCs enabled, no dial). It ends with one ``Queried``
(or ``BringUpFailed`` of kind ``NOT_ANSWERING`` when the modem does not answer AT); the
call order is ``BringUp``'s.

Every read is optional: an ERROR (a command the modem lacks) leaves its value None. A
SIM that is still busy after boot (+CME ERROR: 14) is read again, as in the bring-up;
one that wants a PIN is shown so, and its IMSI (which needs the PIN) is not read.

``BringUp`` picks its second script in ``_pick_profile`` and ends a script in
``_script_ended``: those are the hooks ``ModemQuery`` (and ``ContextRead``) override. (A
public ``then=`` parameter of ``BringUp`` would say the same without reaching inside it.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from netstack.at import CommandDone, ErrorKind, Outcome

from .bringup import BringUp
from .chat import NEXT, Again, Chat, Verdict, at_line
from .events import BringUpOutput, Step, Transcript
from .facts import Facts
from .parsers import (
    Registration,
    Signal,
    parse_cops,
    parse_cpin,
    parse_iccid,
    unquote,
    value_after,
)
from .profiles import ModemProfile

# The bring-up's own readers, as they are: keep a reply's lines in ``Facts``; the signal
# reader merges +CSQ and +CESQ.
from .script import SIGNAL_PARSERS, SIM_BUSY_TRIES, SIM_BUSY_WAIT, _keeper, _signal_keeper
from .settings import ModemSettings

_IMSI = re.compile(r"(?<![0-9])([0-9]{6,15})(?![0-9])")
"""3GPP TS 23.003 2.2: MCC (3) + MNC (2-3) + MSIN, 15 digits at most."""
_CME_SIM_BUSY = 14
_Store = Callable[[Facts, list[str]], None]


@dataclass(frozen=True, slots=True)
class Queried:
    """The query ended: what the modem said; None where it did not say."""

    profile: str
    maker: str | None
    model: str | None
    firmware: str | None
    imei: str | None
    edition: str | None
    """What the firmware edition means (Sequans: ``LTE-M`` for LR5.x, ``NB-IoT`` for LR6.x)."""
    edition_firmware: str | None
    """The line of the edition command's reply that told it (``LR5.1.1.0-39529``)."""
    sim: str | None
    """+CPIN?'s state (``READY``, ``SIM PIN``...), or the error it answered."""
    iccid: str | None
    imsi: str | None
    registration: Registration | None
    """The packet-domain status read: the registered one, else the first read."""
    technology: str | None
    """The access technology, from the registration's <AcT> or else +COPS?'s."""
    operator: str | None
    signal: Signal


@dataclass(eq=False)
class _Extra:
    """What the query reads that the bring-up's ``Facts`` has no place for."""

    imsi: str | None = None
    operator: str | None = None
    operator_act: int | None = None
    edition_firmware: str | None = None


class ModemQuery(BringUp):
    def __init__(self, settings: ModemSettings) -> None:
        super().__init__(settings)
        self._extra = _Extra()

    def _script_ended(self, now: float, out: list[BringUpOutput]) -> None:
        self._pick_profile(out)  # both ends: after the probe, and the query's own

    def _pick_profile(self, out: list[BringUpOutput]) -> None:
        if self._probing:  # the probe is over: the profile is known, the query follows
            super()._pick_profile(out)
            self._script = query_script(self.profile, self._settings, self._extra)
            self._labels = {}
            return
        out.append(Transcript("query: done"))
        self._result = self._answer()  # type: ignore[assignment]
        out.append(self._result)  # type: ignore[arg-type]

    def _answer(self) -> Queried:
        facts, extra = self._facts, self._extra
        registration = (
            facts.registered() or facts.denied() or next(iter(facts.registrations.values()), None)
        )
        act = registration.act if registration is not None else None
        act = act if act is not None else extra.operator_act
        names = facts.profile.access_technologies
        return Queried(
            profile=facts.profile.name,
            maker=facts.maker,
            model=facts.model,
            firmware=facts.firmware,
            imei=facts.imei,
            edition=facts.edition,
            edition_firmware=extra.edition_firmware,
            sim=facts.sim,
            iccid=facts.iccid,
            imsi=extra.imsi,
            registration=registration,
            technology=None if act is None else names.get(act, f"AcT {act}"),
            operator=extra.operator,
            signal=facts.signal,
        )


def query_script(profile: ModemProfile, settings: ModemSettings, extra: _Extra) -> tuple[Chat, ...]:
    """The reads after identification, for ``profile``."""
    timeout = settings.command_timeout
    chats: list[Chat] = []
    if profile.edition_command is not None:
        line = at_line(profile.edition_command)
        chats.append(Chat(Step.IDENTIFY, line, _keeper(_edition(extra)), timeout=timeout))
    if profile.sim:
        cpin = at_line("AT+CPIN?")
        chats.append(Chat(Step.SIM, cpin, _read_sim, response="+CPIN:", timeout=timeout))
    if profile.iccid_command is not None:
        line = at_line(profile.iccid_command)
        chats.append(Chat(Step.SIM, line, _keeper(_store_iccid), timeout=timeout))
    if profile.sim:
        cimi = at_line("AT+CIMI")
        chats.append(Chat(Step.SIM, cimi, _keeper(_imsi(extra)), timeout=timeout, when=_sim_ready))
    for command in profile.registration:
        line = at_line(f"AT{command}?")
        store = _keeper(_store_registrations)
        chats.append(Chat(Step.REGISTER, line, store, response=f"{command}:", timeout=timeout))
    if profile.registration:
        cops = at_line("AT+COPS?")
        store = _keeper(_operator(extra))
        chats.append(Chat(Step.REGISTER, cops, store, response="+COPS:", timeout=timeout))
    for command in profile.signal:
        parse = SIGNAL_PARSERS.get(command)
        if parse is not None:
            read = _signal_keeper(parse)
            line = at_line(f"AT{command}")
            chats.append(Chat(Step.SIGNAL, line, read, response=f"{command}:", timeout=timeout))
    return tuple(chats)


# ---------------------------------------------------------------- readers
def _read_sim(facts: Facts, done: CommandDone | None, now: float) -> Verdict:
    if done is None:
        raise AssertionError("a command chat's reader was called without its result")
    error = done.error
    if error is not None and error.kind is ErrorKind.CME and error.code == _CME_SIM_BUSY:
        facts.sim_waits += 1
        if facts.sim_waits < SIM_BUSY_TRIES:
            return Again(SIM_BUSY_WAIT)
    if done.outcome is Outcome.OK:
        facts.sim = next((s for s in map(parse_cpin, reversed(done.lines)) if s), None)
    elif error is not None:
        facts.sim = str(error)
    return NEXT


def _sim_ready(facts: Facts) -> bool:
    return facts.sim == "READY"


def _store_iccid(facts: Facts, lines: list[str]) -> None:
    facts.iccid = parse_iccid(lines)


def _store_registrations(facts: Facts, lines: list[str]) -> None:
    for line in lines:
        facts.note_registration(line)


def _edition(extra: _Extra) -> _Store:
    def store(facts: Facts, lines: list[str]) -> None:
        for pattern, meaning in facts.profile.editions:
            line = next((text for text in lines if re.search(pattern, text)), None)
            if line is not None:
                facts.edition, extra.edition_firmware = meaning, line.strip()
                return

    return store


def _imsi(extra: _Extra) -> _Store:
    def store(facts: Facts, lines: list[str]) -> None:
        extra.imsi = parse_imsi(lines)

    return store


def _operator(extra: _Extra) -> _Store:
    def store(facts: Facts, lines: list[str]) -> None:
        for line in lines:
            parsed = parse_cops(line)
            if parsed is not None:
                extra.operator, extra.operator_act = parsed
                return

    return store


# ---------------------------------------------------------------- parsers
def parse_imsi(lines: Sequence[str]) -> str | None:
    """The IMSI in +CIMI's reply (27.007 5.6): bare digits, or ``+CIMI: <imsi>`` (some
    vendors), quoted or not."""
    for line in lines:
        text = value_after(line, "+CIMI")
        match = _IMSI.fullmatch(unquote(text if text is not None else line.strip()))
        if match is not None:
            return match.group(1)
    return None
